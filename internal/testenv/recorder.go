package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// MaxRecordedBody is how much of a request body HTTPRecorder keeps.
const MaxRecordedBody = 1 << 20

// Request is one request HTTPRecorder received.
type Request struct {
	Time      time.Time // when it arrived, before any stall
	Method    string
	Path      string
	Query     url.Values
	Header    http.Header
	Body      []byte // at most MaxRecordedBody bytes
	Truncated bool   // the body was longer than MaxRecordedBody
}

// DecodeJSON decodes the body into v.
func (r Request) DecodeJSON(v any) error { return json.Unmarshal(r.Body, v) }

func (r Request) clone() Request {
	r.Header = r.Header.Clone()
	r.Query = cloneValues(r.Query)
	r.Body = append([]byte(nil), r.Body...)
	return r
}

func cloneValues(v url.Values) url.Values {
	if v == nil {
		return nil
	}
	c := make(url.Values, len(v))
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	return c
}

// HTTPRecorder is an HTTP server on 127.0.0.1 that records every request
// and answers as the services the suite pages do: POST .../v2/enqueue as
// the PagerDuty Events API v2 (202 and a dedup_key), anything else as a
// Slack incoming webhook or a plain webhook (200 "ok"). Stall and FailWith
// make it misbehave.
type HTTPRecorder struct {
	URL  string // http://127.0.0.1:port, no trailing slash
	Addr string // 127.0.0.1:port

	reqs    journal[Request]
	srv     *http.Server
	closing chan struct{}

	mu       sync.Mutex
	stall    time.Duration
	failCode int // answer every request with this status; 0 to behave
	failNext int // answer the next failNext requests with failCode
	stopped  bool
}

// StartHTTPRecorder starts a recorder stopped by the test's Cleanup.
func StartHTTPRecorder(t TB) *HTTPRecorder {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listening on loopback: %v", err)
		return nil
	}
	r := &HTTPRecorder{Addr: l.Addr().String(), closing: make(chan struct{})}
	r.URL = "http://" + r.Addr
	r.srv = &http.Server{Handler: http.HandlerFunc(r.serve), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.srv.Serve(l)
	}()
	t.Cleanup(func() {
		r.Stop()
		<-done
	})
	return r
}

// Stop closes the server, ending stalled requests first. Later requests
// are refused, as from a receiver that is down.
func (r *HTTPRecorder) Stop() {
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return
	}
	r.stopped = true
	close(r.closing)
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.srv.Shutdown(ctx); err != nil {
		_ = r.srv.Close()
	}
}

// Stall delays every answer by d (0 to answer at once), as a receiver
// that hangs does. A stalled request is recorded when it arrives.
func (r *HTTPRecorder) Stall(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stall = d
}

// FailWith answers every request with the status code (an empty JSON
// object, or for 429 a Retry-After: 1 too); 0 goes back to answering
// normally.
func (r *HTTPRecorder) FailWith(code int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failCode, r.failNext = code, 0
}

// FailNext answers only the next n requests with the status code, then
// normally again (for retry tests).
func (r *HTTPRecorder) FailNext(n, code int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failCode, r.failNext = code, n
}

// Requests is a copy of every request recorded since the start or Reset.
func (r *HTTPRecorder) Requests() []Request {
	all := r.reqs.all()
	for i := range all {
		all[i] = all[i].clone()
	}
	return all
}

// WaitFor returns the first recorded request that pred accepts, waiting
// for one to arrive until ctx ends; pred nil accepts any.
func (r *HTTPRecorder) WaitFor(ctx context.Context, pred func(Request) bool) (Request, error) {
	req, err := r.reqs.waitFor(ctx, func(x Request) bool { return pred == nil || pred(x.clone()) })
	if err != nil {
		return Request{}, fmt.Errorf("HTTPRecorder %s: %w", r.URL, err)
	}
	return req.clone(), nil
}

// Reset forgets the recorded requests (Stall and FailWith stay as set).
func (r *HTTPRecorder) Reset() { r.reqs.reset() }

func (r *HTTPRecorder) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, MaxRecordedBody+1))
	rec := Request{
		Time:   time.Now(),
		Method: req.Method,
		Path:   req.URL.Path,
		Query:  req.URL.Query(),
		Header: req.Header.Clone(),
	}
	if len(body) > MaxRecordedBody {
		rec.Body, rec.Truncated = body[:MaxRecordedBody], true
		_, _ = io.Copy(io.Discard, req.Body)
	} else {
		rec.Body = body
	}
	r.reqs.add(rec)
	if err != nil && !errors.Is(err, io.EOF) {
		http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
		return
	}

	r.mu.Lock()
	stall, code := r.stall, r.failCode
	if r.failNext > 0 {
		r.failNext--
		if r.failNext == 0 {
			r.failCode = 0
		}
	}
	r.mu.Unlock()
	if stall > 0 {
		timer := time.NewTimer(stall)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-req.Context().Done():
			return
		case <-r.closing:
			return
		}
	}

	if code != 0 {
		if code == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, "{}\n")
		return
	}
	if req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/v2/enqueue") {
		var ev struct {
			DedupKey string `json:"dedup_key"`
		}
		_ = json.Unmarshal(rec.Body, &ev)
		if ev.DedupKey == "" {
			b := make([]byte, 16)
			_, _ = rand.Read(b)
			ev.DedupKey = hex.EncodeToString(b)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(map[string]string{
			"status": "success", "message": "Event processed", "dedup_key": ev.DedupKey,
		})
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "ok")
}

// journal is a list that goroutines append to and tests wait on.
type journal[T any] struct {
	mu      sync.Mutex
	items   []T
	resets  int           // how many times reset emptied items
	changed chan struct{} // closed (and replaced) on every add
}

func (j *journal[T]) add(x T) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.items = append(j.items, x)
	if j.changed != nil {
		close(j.changed)
		j.changed = nil
	}
}

func (j *journal[T]) all() []T {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]T(nil), j.items...)
}

func (j *journal[T]) reset() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.items = nil
	j.resets++
}

// waitFor returns the first item pred accepts, waiting until ctx ends.
// pred runs without the lock held, so it may call back into the recorder.
func (j *journal[T]) waitFor(ctx context.Context, pred func(T) bool) (T, error) {
	var zero T
	from, resets := 0, -1
	for {
		j.mu.Lock()
		if resets != j.resets { // first time round, or reset meanwhile
			from, resets = 0, j.resets
		}
		fresh := append([]T(nil), j.items[from:]...)
		from = len(j.items)
		if j.changed == nil {
			j.changed = make(chan struct{})
		}
		ch := j.changed
		j.mu.Unlock()
		for _, x := range fresh {
			if pred == nil || pred(x) {
				return x, nil
			}
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return zero, fmt.Errorf("none of the %d received matched: %w", from, ctx.Err())
		}
	}
}
