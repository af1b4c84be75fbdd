package hotelapp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultTrafficTimeout is the client timeout of generated requests.
const DefaultTrafficTimeout = 10 * time.Second

// trafficMix is the order in which generated API requests cycle: S a
// search, H the hotel list, B a booking. 14 searches, 4 hotel lists and 2
// bookings in 20 requests: a conversion (bookings / searches) of 1/7, 14 %.
const trafficMix = "SHSSBSSHSSSHSSSBSHSS"

// wrongPasswordEvery makes one generated login in this many use a wrong
// password (5 %: below the rules' failure-ratio threshold).
const wrongPasswordEvery = 20

// Traffic sends requests to the application's API over real HTTP, so that
// the rate-based alert rules have traffic without an external load tool.
type Traffic struct {
	// BaseURL is where the application listens, e.g. http://127.0.0.1:8080.
	BaseURL string
	// RPS is the rate of API requests other than logins (searches, hotel
	// lists and bookings, in trafficMix's proportions); 0 sends none.
	RPS float64
	// LoginRPS is the rate of logins; 0 sends none.
	LoginRPS float64
	// Client defaults to one with DefaultTrafficTimeout.
	Client *http.Client
	// Logger (default: discard) gets request errors at debug level.
	Logger *slog.Logger
	// MaxInFlight bounds concurrent requests (default 64): when reached,
	// ticks are skipped rather than queued.
	MaxInFlight int

	tick   atomic.Uint64
	logins atomic.Uint64
	mu     sync.Mutex
	hotels []Hotel
}

// Run sends traffic until ctx is cancelled, then waits for the requests in
// flight (cancelled with ctx) and returns nil. It returns an error at once
// when the configuration is invalid.
func (t *Traffic) Run(ctx context.Context) error {
	if t.RPS < 0 || t.LoginRPS < 0 {
		return errors.New("traffic rates must not be negative")
	}
	if u, err := url.Parse(t.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("traffic: base URL %q is not an http:// or https:// URL", t.BaseURL)
	}
	if t.Client == nil {
		t.Client = &http.Client{Timeout: DefaultTrafficTimeout}
	}
	if t.Logger == nil {
		t.Logger = slog.New(slog.DiscardHandler)
	}
	if t.MaxInFlight <= 0 {
		t.MaxInFlight = 64
	}
	sem := make(chan struct{}, t.MaxInFlight)
	var wg sync.WaitGroup
	loop := func(rps float64, send func(context.Context)) {
		if rps == 0 {
			return
		}
		wg.Go(func() {
			tk := time.NewTicker(time.Duration(float64(time.Second) / rps))
			defer tk.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tk.C:
				}
				select {
				case sem <- struct{}{}:
					wg.Go(func() {
						defer func() { <-sem }()
						send(ctx)
					})
				default:
					t.Logger.Debug("Traffic: too many requests in flight, skipping one", "max_in_flight", t.MaxInFlight)
				}
			}
		})
	}
	loop(t.RPS, t.sendAPI)
	loop(t.LoginRPS, t.sendLogin)
	wg.Wait()
	return nil
}

func (t *Traffic) sendAPI(ctx context.Context) {
	kind := trafficMix[(t.tick.Add(1)-1)%uint64(len(trafficMix))]
	hotels := t.knownHotels()
	if kind == 'B' && len(hotels) == 0 {
		kind = 'H' // nothing to book yet
	}
	switch kind {
	case 'S':
		cities := Cities()
		t.do(ctx, http.MethodGet, "/api/search?city="+url.QueryEscape(cities[rand.IntN(len(cities))]), nil, nil)
	case 'H':
		var res struct {
			Hotels []Hotel `json:"hotels"`
		}
		if t.do(ctx, http.MethodGet, "/api/hotels", nil, &res) && len(res.Hotels) > 0 {
			t.mu.Lock()
			t.hotels = res.Hotels
			t.mu.Unlock()
		}
	case 'B':
		h := hotels[rand.IntN(len(hotels))]
		nights := 1 + rand.IntN(5)
		price, err := strconv.ParseFloat(h.PricePerNight, 64)
		if err != nil || price <= 0 {
			price = 100
		}
		t.do(ctx, http.MethodPost, "/api/bookings", BookingRequest{
			HotelID:  h.ID,
			UserID:   DemoUsers[rand.IntN(len(DemoUsers))],
			Nights:   nights,
			Amount:   json.Number(strconv.FormatFloat(price*float64(nights), 'f', 2, 64)),
			Currency: h.Currency,
		}, nil)
	}
}

func (t *Traffic) sendLogin(ctx context.Context) {
	password := DemoPassword
	if t.logins.Add(1)%wrongPasswordEvery == 0 {
		password = "wrong-" + DemoPassword
	}
	t.do(ctx, http.MethodPost, "/api/login", LoginRequest{User: DemoUsers[rand.IntN(len(DemoUsers))], Password: password}, nil)
}

func (t *Traffic) knownHotels() []Hotel {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.hotels
}

// do sends one request and decodes a 2xx answer into out when not nil; it
// reports whether the answer was a 2xx.
func (t *Traffic) do(ctx context.Context, method, path string, body, out any) bool {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return false
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, t.BaseURL+path, rd)
	if err != nil {
		return false
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "hotelapp-traffic")
	resp, err := t.Client.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			t.Logger.Debug("Traffic request failed", "method", method, "path", path, "err", err)
		}
		return false
	}
	defer resp.Body.Close()
	ok := resp.StatusCode/100 == 2
	if ok && out != nil {
		if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(out); err != nil {
			t.Logger.Debug("Traffic: undecodable answer", "path", path, "err", err)
			return false
		}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return ok
}
