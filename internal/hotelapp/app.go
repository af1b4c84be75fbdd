// Package hotelapp is a small hotel booking application: a stand-in for the
// real SaaS that the suite's end-to-end tests and `make demo` monitor. It
// serves a JSON API backed by PostgreSQL, exports the HTTP and login metrics
// the alert rules select, injects faults on request (errors, latency, login
// failures) through an authenticated admin endpoint, and can generate its
// own traffic (see Traffic).
package hotelapp

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"
)

// DefaultQueryTimeout bounds the database work of one request.
const DefaultQueryTimeout = 5 * time.Second

// Route names, the values of the handler label.
const (
	RouteHotels   = "hotels"
	RouteSearch   = "search"
	RouteBookings = "bookings"
	RouteLogin    = "login"
	RouteHealthz  = "healthz"
	RouteAdmin    = "admin"
)

// StatusClientClosedRequest answers a request whose client went away
// before it was served (nginx's convention): not a server error.
const StatusClientClosedRequest = 499

// passwordCost is the bcrypt cost of the demo accounts: low, so that logins
// stay far below the 0.5 s latency objective on a busy CI machine. A real
// application would use bcrypt.DefaultCost or more.
const passwordCost = bcrypt.MinCost

const maxBody = 64 << 10

// Options configure New.
type Options struct {
	// Pool is the database (required).
	Pool *pgxpool.Pool
	// Registerer receives the application's metrics (required): the
	// caller serves them on /metrics, which is not itself counted.
	Registerer prometheus.Registerer
	// Logger defaults to discarding.
	Logger *slog.Logger
	// AdminToken is the bearer token of /admin/faults. Empty disables the
	// admin endpoints: they answer 404.
	AdminToken string
	// QueryTimeout bounds the database work of one request
	// (default DefaultQueryTimeout).
	QueryTimeout time.Duration
}

// App is the application; Register adds its routes to a mux.
type App struct {
	pool      *pgxpool.Pool
	logger    *slog.Logger
	timeout   time.Duration
	metrics   *metrics
	dummyHash []byte

	adminEnabled bool
	adminHash    [sha256.Size]byte

	mu     sync.RWMutex
	faults Faults

	lastDBWarn atomic.Int64 // unix nanoseconds of the last logged database error
	dbErrors   atomic.Int64 // database errors since then, this one included
}

// New creates the schema when missing (see EnsureSchema), then registers
// the metrics. It has no lasting effect when it fails, so it can be retried
// while the database comes up.
func New(ctx context.Context, opt Options) (*App, error) {
	if opt.Pool == nil || opt.Registerer == nil {
		return nil, errors.New("hotelapp: Options.Pool and Options.Registerer are required")
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.QueryTimeout <= 0 {
		opt.QueryTimeout = DefaultQueryTimeout
	}
	a := &App{pool: opt.Pool, logger: opt.Logger, timeout: opt.QueryTimeout}
	if opt.AdminToken != "" {
		a.adminEnabled = true
		a.adminHash = sha256.Sum256([]byte(opt.AdminToken))
	}
	var err error
	if a.dummyHash, err = hashPassword("not-a-password-of-anyone"); err != nil {
		return nil, err
	}
	if err := EnsureSchema(ctx, opt.Pool); err != nil {
		return nil, err
	}
	if a.metrics, err = newMetrics(opt.Registerer, a.Faults); err != nil {
		return nil, fmt.Errorf("hotelapp: registering metrics: %w", err)
	}
	return a, nil
}

func hashPassword(p string) ([]byte, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(p), passwordCost)
	if err != nil {
		return nil, fmt.Errorf("hashing a password: %w", err)
	}
	return h, nil
}

// Faults returns the faults in effect.
func (a *App) Faults() Faults {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.faults
}

// SetFaults replaces the faults in effect; the zero Faults clears them.
// It does not validate: ParseFaults does.
func (a *App) SetFaults(f Faults) {
	a.mu.Lock()
	a.faults = f
	a.mu.Unlock()
}

// Register adds the routes to mux: the API (/api/hotels, /api/search,
// /api/bookings, /api/login), /healthz and /admin/faults. Each is counted in
// http_requests_total and timed in http_request_duration_seconds under its
// route name; faults apply to /api/ only.
func (a *App) Register(mux *http.ServeMux) {
	api := func(pattern, name string, h http.HandlerFunc) {
		mux.Handle(pattern, a.metrics.instrument(name, a.injectFaults(h)))
	}
	api("GET /api/hotels", RouteHotels, a.hotels)
	api("GET /api/search", RouteSearch, a.search)
	api("POST /api/bookings", RouteBookings, a.book)
	api("POST /api/login", RouteLogin, a.login)
	mux.Handle("GET /healthz", a.metrics.instrument(RouteHealthz, http.HandlerFunc(a.healthz)))
	mux.Handle("/admin/faults", a.metrics.instrument(RouteAdmin, http.HandlerFunc(a.admin)))
}

// injectFaults adds the latency fault, then answers the error_ratio share
// of requests with 500.
func (a *App) injectFaults(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f := a.Faults()
		if f.Latency > 0 {
			t := time.NewTimer(f.Latency)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				writeError(w, StatusClientClosedRequest, "client closed request")
				return
			}
		}
		if f.ErrorRatio > 0 && rand.Float64() < f.ErrorRatio {
			writeError(w, http.StatusInternalServerError, "injected fault (error_ratio)")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Hotel is an entry of GET /api/hotels and GET /api/search.
type Hotel struct {
	ID            int64  `json:"id"`
	Name          string `json:"name"`
	City          string `json:"city"`
	Country       string `json:"country"`
	PricePerNight string `json:"price_per_night"` // decimal, as stored
	Currency      string `json:"currency"`
}

const hotelColumns = `id, name, city, country, price_per_night::text, currency`

func scanHotels(rows pgx.Rows) ([]Hotel, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Hotel, error) {
		var h Hotel
		err := row.Scan(&h.ID, &h.Name, &h.City, &h.Country, &h.PricePerNight, &h.Currency)
		return h, err
	})
}

func (a *App) hotels(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), a.timeout)
	defer cancel()
	rows, err := a.pool.Query(ctx, `SELECT `+hotelColumns+` FROM hotels ORDER BY id`)
	if err != nil {
		a.dbError(w, r, err)
		return
	}
	hotels, err := scanHotels(rows)
	if err != nil {
		a.dbError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"hotels": nonNil(hotels)})
}

// SearchResult is the answer of GET /api/search.
type SearchResult struct {
	SearchID int64   `json:"search_id"`
	City     string  `json:"city"`
	Hotels   []Hotel `json:"hotels"`
}

// search lists a city's hotels and records the search (for conversion).
func (a *App) search(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	city := strings.TrimSpace(q.Get("city"))
	user := q.Get("user_id")
	if city == "" || len(city) > 100 {
		writeError(w, http.StatusBadRequest, "query parameter city is required (at most 100 characters)")
		return
	}
	if len(user) > 64 {
		writeError(w, http.StatusBadRequest, "query parameter user_id is too long (at most 64 characters)")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.timeout)
	defer cancel()
	rows, err := a.pool.Query(ctx, `SELECT `+hotelColumns+` FROM hotels WHERE lower(city) = lower($1) ORDER BY id`, city)
	if err != nil {
		a.dbError(w, r, err)
		return
	}
	res := SearchResult{City: city}
	if res.Hotels, err = scanHotels(rows); err != nil {
		a.dbError(w, r, err)
		return
	}
	var userArg *string
	if user != "" {
		userArg = &user
	}
	if err := a.pool.QueryRow(ctx, `INSERT INTO searches (city, user_id, results) VALUES ($1, $2, $3) RETURNING id`,
		city, userArg, len(res.Hotels)).Scan(&res.SearchID); err != nil {
		a.dbError(w, r, err)
		return
	}
	res.Hotels = nonNil(res.Hotels)
	writeJSON(w, http.StatusOK, res)
}

// BookingRequest is the body of POST /api/bookings. Amount is a decimal
// with at most two fractional digits, as a JSON number or string.
type BookingRequest struct {
	HotelID  int64       `json:"hotel_id"`
	UserID   string      `json:"user_id"`
	Nights   int         `json:"nights"`
	Amount   json.Number `json:"amount"`
	Currency string      `json:"currency"`
}

// Booking is the answer of POST /api/bookings.
type Booking struct {
	ID        int64     `json:"booking_id"`
	PaymentID int64     `json:"payment_id"`
	HotelID   int64     `json:"hotel_id"`
	UserID    string    `json:"user_id"`
	Nights    int       `json:"nights"`
	Amount    string    `json:"amount"`
	Currency  string    `json:"currency"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
}

var (
	amountRE   = regexp.MustCompile(`^[0-9]{1,10}(\.[0-9]{1,2})?$`)
	currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)
)

func (b *BookingRequest) validate() error {
	var problems []string
	if b.HotelID <= 0 {
		problems = append(problems, "hotel_id must be a positive integer")
	}
	if b.UserID == "" || len(b.UserID) > 64 {
		problems = append(problems, "user_id must be a string of 1 to 64 characters")
	}
	if b.Nights < 1 || b.Nights > 365 {
		problems = append(problems, "nights must be between 1 and 365")
	}
	if !amountRE.MatchString(b.Amount.String()) || strings.Trim(b.Amount.String(), "0.") == "" {
		problems = append(problems, "amount must be a positive decimal with at most 2 fractional digits, such as 240.00")
	}
	if !currencyRE.MatchString(b.Currency) {
		problems = append(problems, "currency must be an ISO 4217 code such as EUR")
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// book writes the booking and its captured payment in one transaction.
func (a *App) book(w http.ResponseWriter, r *http.Request) {
	var req BookingRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := req.validate(); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.timeout)
	defer cancel()
	b := Booking{HotelID: req.HotelID, UserID: req.UserID, Nights: req.Nights, Currency: req.Currency}
	err := pgx.BeginFunc(ctx, a.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO bookings (hotel_id, user_id, nights, amount, currency, status)
			VALUES ($1, $2, $3, $4::numeric, $5, 'confirmed') RETURNING id, amount::text, status, created_at`,
			req.HotelID, req.UserID, req.Nights, req.Amount.String(), req.Currency).Scan(&b.ID, &b.Amount, &b.Status, &b.CreatedAt); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `INSERT INTO payments (booking_id, amount, currency, status)
			VALUES ($1, $2::numeric, $3, 'captured') RETURNING id`, b.ID, b.Amount, b.Currency).Scan(&b.PaymentID)
	})
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23503" { // foreign_key_violation
			writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("unknown hotel_id %d", req.HotelID))
			return
		}
		a.dbError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, b)
}

// LoginRequest is the body of POST /api/login.
type LoginRequest struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

// login checks the password against users; a success upserts the user's
// row in sessions. Decided attempts count in auth_login_attempts_total.
func (a *App) login(w http.ResponseWriter, r *http.Request) {
	var req LoginRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.User == "" || len(req.User) > 64 || req.Password == "" || len(req.Password) > 256 {
		writeError(w, http.StatusBadRequest, "user (1 to 64 characters) and password (1 to 256) are required")
		return
	}
	fail := func() {
		a.metrics.logins.WithLabelValues(LoginFailure).Inc()
		writeError(w, http.StatusUnauthorized, "invalid user or password")
	}
	if f := a.Faults().LoginFailureRatio; f > 0 && rand.Float64() < f {
		fail()
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.timeout)
	defer cancel()
	var hash []byte
	err := a.pool.QueryRow(ctx, `SELECT password_hash FROM users WHERE id = $1`, req.User).Scan(&hash)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		// Spend the same time as for a known user.
		_ = bcrypt.CompareHashAndPassword(a.dummyHash, []byte(req.Password))
		fail()
		return
	case err != nil:
		a.dbError(w, r, err)
		return
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(req.Password)) != nil {
		fail()
		return
	}
	var logins int64
	if err := a.pool.QueryRow(ctx, `INSERT INTO sessions (user_id) VALUES ($1)
		ON CONFLICT (user_id) DO UPDATE SET last_seen_at = now(), logins = sessions.logins + 1
		RETURNING logins`, req.User).Scan(&logins); err != nil {
		a.dbError(w, r, err)
		return
	}
	a.metrics.logins.WithLabelValues(LoginSuccess).Inc()
	writeJSON(w, http.StatusOK, map[string]any{"user": req.User, "logins": logins})
}

func (a *App) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), min(a.timeout, 2*time.Second))
	defer cancel()
	if err := a.pool.Ping(ctx); err != nil {
		a.dbError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// admin serves /admin/faults: GET shows, PUT replaces, DELETE clears.
func (a *App) admin(w http.ResponseWriter, r *http.Request) {
	if !a.adminEnabled {
		writeError(w, http.StatusNotFound, "the admin endpoints are disabled: start hotelapp with --admin.token-file or HOTELAPP_ADMIN_TOKEN")
		return
	}
	if !a.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="hotelapp admin"`)
		writeError(w, http.StatusUnauthorized, "missing or wrong token: send Authorization: Bearer <token>")
		return
	}
	switch r.Method {
	case http.MethodGet:
	case http.MethodPut:
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			writeError(w, http.StatusBadRequest, "reading the body: "+err.Error())
			return
		}
		f, err := ParseFaults(body)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		a.SetFaults(f)
		a.logger.Info("Faults replaced", "error_ratio", f.ErrorRatio, "latency", f.Latency, "login_failure_ratio", f.LoginFailureRatio)
	case http.MethodDelete:
		a.SetFaults(Faults{})
		a.logger.Info("Faults cleared")
	default:
		w.Header().Set("Allow", "GET, PUT, DELETE")
		writeError(w, http.StatusMethodNotAllowed, "use GET, PUT or DELETE")
		return
	}
	writeJSON(w, http.StatusOK, a.Faults())
}

// authorized compares the bearer token in constant time (hashes of equal
// length, so not even the token's length leaks).
func (a *App) authorized(r *http.Request) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return subtle.ConstantTimeCompare(got[:], a.adminHash[:]) == 1
}

// dbError answers 503 (or 499 when the client is gone), logging at most one
// warning every 10 seconds so that an outage does not flood the log.
func (a *App) dbError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		writeError(w, StatusClientClosedRequest, "client closed request")
		return
	}
	a.dbErrors.Add(1)
	now := time.Now().UnixNano()
	if last := a.lastDBWarn.Load(); now-last >= int64(10*time.Second) && a.lastDBWarn.CompareAndSwap(last, now) {
		a.logger.Warn("Database error", "path", r.URL.Path, "err", err, "errors_since_last_warning", a.dbErrors.Swap(0))
	}
	writeError(w, http.StatusServiceUnavailable, "database unavailable")
}

func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("empty body: expected a JSON object")
		}
		return fmt.Errorf("invalid JSON body: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("invalid JSON body: data after the object")
	}
	return nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
