package hotelapp

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/hotel-ops/hotel-ops/internal/testenv"
)

const testToken = "test-admin-token-0123456789"

// env is one App on a fresh registry, served over real HTTP on loopback
// with its /metrics, the way the command serves it.
type env struct {
	t    *testing.T
	pool *pgxpool.Pool
	app  *App
	srv  *httptest.Server
}

func openPool(t *testing.T, pg *testenv.Postgres) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), pg.DSN("postgres"))
	if err != nil {
		t.Fatalf("pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func newEnv(t *testing.T, pool *pgxpool.Pool, token string) *env {
	t.Helper()
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	app, err := New(ctx, Options{Pool: pool, Registerer: reg, AdminToken: token, QueryTimeout: 3 * time.Second})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	app.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &env{t: t, pool: pool, app: app, srv: srv}
}

// do sends a request; token "" sends no Authorization header.
func (e *env) do(method, path, body, token string) (int, string) {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (e *env) expect(method, path, body string, want int) string {
	e.t.Helper()
	code, out := e.do(method, path, body, "")
	if code != want {
		e.t.Fatalf("%s %s %s: %d %s, want %d", method, path, body, code, out, want)
	}
	return out
}

func (e *env) setFaults(body string) {
	e.t.Helper()
	if code, out := e.do("PUT", "/admin/faults", body, testToken); code != 200 {
		e.t.Fatalf("PUT /admin/faults %s: %d %s", body, code, out)
	}
}

// scrape reads /metrics over HTTP with the text parser.
func (e *env) scrape() map[string]*dto.MetricFamily {
	e.t.Helper()
	resp, err := http.Get(e.srv.URL + "/metrics")
	if err != nil {
		e.t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		e.t.Fatalf("parsing /metrics: %v", err)
	}
	return mfs
}

// series finds the metric of family name with exactly these labels.
func series(mfs map[string]*dto.MetricFamily, name string, labels map[string]string) *dto.Metric {
	mf := mfs[name]
	if mf == nil {
		return nil
	}
next:
	for _, m := range mf.Metric {
		if len(m.Label) != len(labels) {
			continue
		}
		for _, l := range m.Label {
			if v, ok := labels[l.GetName()]; !ok || v != l.GetValue() {
				continue next
			}
		}
		return m
	}
	return nil
}

func requests(mfs map[string]*dto.MetricFamily, code, method, handler string) float64 {
	m := series(mfs, "http_requests_total", map[string]string{"code": code, "method": method, "handler": handler})
	if m == nil {
		return 0
	}
	return m.GetCounter().GetValue()
}

func logins(mfs map[string]*dto.MetricFamily, result string) float64 {
	m := series(mfs, "auth_login_attempts_total", map[string]string{"result": result})
	if m == nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

func histogram(t *testing.T, mfs map[string]*dto.MetricFamily, method, handler string) *dto.Histogram {
	t.Helper()
	m := series(mfs, "http_request_duration_seconds", map[string]string{"method": method, "handler": handler})
	if m == nil || m.Histogram == nil {
		t.Fatalf("no http_request_duration_seconds{method=%q,handler=%q}", method, handler)
	}
	return m.Histogram
}

func bucket(h *dto.Histogram, le float64) uint64 {
	for _, b := range h.Bucket {
		if b.GetUpperBound() == le {
			return b.GetCumulativeCount()
		}
	}
	return 1 << 63
}

func (e *env) count(sql string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func TestApp(t *testing.T) {
	pg := testenv.StartPrimary(t, "app", testenv.PrimaryOptions{})
	pool := openPool(t, pg)

	t.Run("schema is created once and seeded", func(t *testing.T) {
		e := newEnv(t, pool, "")
		newEnv(t, pool, "") // a second start must not fail nor seed twice
		if n := e.count(`SELECT count(*) FROM hotels`); n != len(seedHotels) {
			t.Errorf("%d hotels, want %d", n, len(seedHotels))
		}
		if n := e.count(`SELECT count(*) FROM users`); n != len(DemoUsers) {
			t.Errorf("%d users, want %d", n, len(DemoUsers))
		}
		// What the business metrics are derived from.
		for _, c := range []struct{ table, column, typ string }{
			{"hotels", "created_at", "timestamp with time zone"},
			{"bookings", "created_at", "timestamp with time zone"},
			{"bookings", "amount", "numeric"},
			{"bookings", "currency", "text"},
			{"bookings", "status", "text"},
			{"payments", "created_at", "timestamp with time zone"},
			{"payments", "amount", "numeric"},
			{"payments", "currency", "text"},
			{"payments", "status", "text"},
			{"sessions", "created_at", "timestamp with time zone"},
			{"sessions", "last_seen_at", "timestamp with time zone"},
			{"searches", "created_at", "timestamp with time zone"},
		} {
			if n := e.count(`SELECT count(*) FROM information_schema.columns
				WHERE table_schema = 'public' AND table_name = $1 AND column_name = $2 AND data_type = $3`,
				c.table, c.column, c.typ); n != 1 {
				t.Errorf("%s.%s is not a %s column", c.table, c.column, c.typ)
			}
		}
	})

	t.Run("hotels and searches", func(t *testing.T) {
		e := newEnv(t, pool, "")
		var list struct{ Hotels []Hotel }
		if err := json.Unmarshal([]byte(e.expect("GET", "/api/hotels", "", 200)), &list); err != nil || len(list.Hotels) != len(seedHotels) {
			t.Fatalf("hotels: %+v %v", list, err)
		}
		var res SearchResult
		if err := json.Unmarshal([]byte(e.expect("GET", "/api/search?city=lisbon&user_id=guest01", "", 200)), &res); err != nil {
			t.Fatal(err)
		}
		if len(res.Hotels) != 1 || res.Hotels[0].City != "Lisbon" || res.Hotels[0].Currency != "EUR" {
			t.Errorf("search for lisbon: %+v", res)
		}
		if n := e.count(`SELECT count(*) FROM searches WHERE id = $1 AND city = 'lisbon' AND user_id = 'guest01' AND results = 1`, res.SearchID); n != 1 {
			t.Errorf("search %d not recorded", res.SearchID)
		}
		before := e.count(`SELECT count(*) FROM searches`)
		e.expect("GET", "/api/search", "", 400)
		e.expect("GET", "/api/search?city="+strings.Repeat("x", 101), "", 400)
		if n := e.count(`SELECT count(*) FROM searches`); n != before {
			t.Errorf("rejected searches were recorded: %d rows, want %d", n, before)
		}
	})

	t.Run("a booking writes a booking and its payment", func(t *testing.T) {
		e := newEnv(t, pool, "")
		var hotelID int64
		if err := pool.QueryRow(context.Background(), `SELECT id FROM hotels WHERE city = 'London'`).Scan(&hotelID); err != nil {
			t.Fatal(err)
		}
		body := `{"hotel_id": ` + itoa(hotelID) + `, "user_id": "guest02", "nights": 2, "amount": 460.5, "currency": "GBP"}`
		var b Booking
		if err := json.Unmarshal([]byte(e.expect("POST", "/api/bookings", body, 201)), &b); err != nil {
			t.Fatal(err)
		}
		if b.ID == 0 || b.PaymentID == 0 || b.Amount != "460.50" || b.Status != "confirmed" {
			t.Errorf("answer %+v", b)
		}
		if n := e.count(`SELECT count(*) FROM bookings WHERE id = $1 AND hotel_id = $2 AND user_id = 'guest02'
			AND nights = 2 AND amount = 460.50 AND currency = 'GBP' AND status = 'confirmed'
			AND created_at > now() - interval '1 minute'`, b.ID, hotelID); n != 1 {
			t.Errorf("booking %d not written as sent", b.ID)
		}
		if n := e.count(`SELECT count(*) FROM payments WHERE booking_id = $1`, b.ID); n != 1 {
			t.Errorf("%d payments for booking %d, want 1", n, b.ID)
		}
		if n := e.count(`SELECT count(*) FROM payments WHERE id = $1 AND booking_id = $2 AND amount = 460.50
			AND currency = 'GBP' AND status = 'captured'`, b.PaymentID, b.ID); n != 1 {
			t.Errorf("payment %d not written as sent", b.PaymentID)
		}

		bookings, payments := e.count(`SELECT count(*) FROM bookings`), e.count(`SELECT count(*) FROM payments`)
		for _, bad := range []string{
			``,
			`{"hotel_id": 1, "user_id": "u", "nights": 1, "amount": 10, "currency": "EUR", "coupon": "X"}`,
			`{"hotel_id": 1, "user_id": "u", "nights": 0, "amount": 10, "currency": "EUR"}`,
			`{"hotel_id": 1, "user_id": "u", "nights": 1, "amount": 10.005, "currency": "EUR"}`,
			`{"hotel_id": 1, "user_id": "u", "nights": 1, "amount": 0, "currency": "EUR"}`,
			`{"hotel_id": 1, "user_id": "u", "nights": 1, "amount": -5, "currency": "EUR"}`,
			`{"hotel_id": 1, "user_id": "u", "nights": 1, "amount": 10, "currency": "eur"}`,
			`{"hotel_id": 1, "user_id": "", "nights": 1, "amount": 10, "currency": "EUR"}`,
			`{"hotel_id": 1.5, "user_id": "u", "nights": 1, "amount": 10, "currency": "EUR"}`,
			`{"hotel_id": 1, "user_id": "u", "nights": 1, "amount": 10, "currency": "EUR"} {}`,
		} {
			if code, out := e.do("POST", "/api/bookings", bad, ""); code != 400 {
				t.Errorf("POST %s: %d %s, want 400", bad, code, out)
			}
		}
		out := e.expect("POST", "/api/bookings", `{"hotel_id": 999999, "user_id": "u", "nights": 1, "amount": "10.00", "currency": "EUR"}`, 422)
		if !strings.Contains(out, "unknown hotel_id 999999") {
			t.Errorf("unknown hotel: %s", out)
		}
		if b2, p2 := e.count(`SELECT count(*) FROM bookings`), e.count(`SELECT count(*) FROM payments`); b2 != bookings || p2 != payments {
			t.Errorf("rejected bookings wrote rows: bookings %d→%d, payments %d→%d", bookings, b2, payments, p2)
		}
	})

	t.Run("metrics have the right names, labels and buckets", func(t *testing.T) {
		e := newEnv(t, pool, testToken)
		e.expect("GET", "/api/hotels", "", 200)
		e.expect("GET", "/api/hotels", "", 200)
		e.expect("GET", "/api/search?city=Rome", "", 200)
		e.expect("GET", "/healthz", "", 200)
		mfs := e.scrape()
		if got := requests(mfs, "200", "get", RouteHotels); got != 2 {
			t.Errorf(`http_requests_total{code="200",method="get",handler="hotels"} = %v, want 2`, got)
		}
		if got := requests(mfs, "200", "get", RouteSearch); got != 1 {
			t.Errorf(`http_requests_total{handler="search"} = %v, want 1`, got)
		}
		if got := requests(mfs, "200", "get", RouteHealthz); got != 1 {
			t.Errorf(`http_requests_total{handler="healthz"} = %v, want 1`, got)
		}
		for name, want := range map[string][]string{
			"http_requests_total":           {"code", "handler", "method"},
			"http_request_duration_seconds": {"handler", "method"},
			"auth_login_attempts_total":     {"result"},
		} {
			mf := mfs[name]
			if mf == nil || len(mf.Metric) == 0 {
				t.Errorf("%s absent", name)
				continue
			}
			for _, m := range mf.Metric {
				var names []string
				for _, l := range m.Label {
					names = append(names, l.GetName())
				}
				sort.Strings(names)
				if !slices.Equal(names, want) {
					t.Errorf("%s has labels %v, want %v", name, names, want)
				}
			}
		}
		if mfs["http_request_duration_seconds"].GetType() != dto.MetricType_HISTOGRAM {
			t.Errorf("http_request_duration_seconds is a %v", mfs["http_request_duration_seconds"].GetType())
		}
		h := histogram(t, mfs, "get", RouteHotels)
		var les []float64
		for _, b := range h.Bucket {
			les = append(les, b.GetUpperBound())
		}
		if want := []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, math.Inf(1)}; !slices.Equal(les, want) {
			t.Errorf("buckets %v, want %v (the rules select le=\"0.5\" and le=\"1\")", les, want)
		}
		if h.GetSampleCount() != 2 {
			t.Errorf("histogram count %d, want 2", h.GetSampleCount())
		}
		if logins(mfs, LoginSuccess) != 0 || logins(mfs, LoginFailure) != 0 {
			t.Errorf("auth_login_attempts_total: success %v, failure %v; want both present at 0", logins(mfs, LoginSuccess), logins(mfs, LoginFailure))
		}
		for _, name := range []string{"hotelapp_fault_error_ratio", "hotelapp_fault_latency_seconds", "hotelapp_fault_login_failure_ratio"} {
			if mfs[name] == nil {
				t.Errorf("%s absent", name)
			}
		}
		// Scraping is not counted.
		again := e.scrape()
		for _, m := range again["http_requests_total"].Metric {
			for _, l := range m.Label {
				if l.GetName() == "handler" && !slices.Contains([]string{RouteHotels, RouteSearch, RouteHealthz}, l.GetValue()) {
					t.Errorf("unexpected series %v", m.Label)
				}
			}
		}
		if got := len(again["http_requests_total"].Metric); got != len(mfs["http_requests_total"].Metric) {
			t.Errorf("scraping added http_requests_total series: %d, then %d", len(mfs["http_requests_total"].Metric), got)
		}
	})

	t.Run("logins are checked, counted and upsert a session", func(t *testing.T) {
		e := newEnv(t, pool, testToken)
		ok := `{"user": "guest03", "password": "` + DemoPassword + `"}`
		e.expect("POST", "/api/login", ok, 200)
		var first time.Time
		var n int
		if err := pool.QueryRow(context.Background(), `SELECT last_seen_at, logins FROM sessions WHERE user_id = 'guest03'`).Scan(&first, &n); err != nil {
			t.Fatalf("no session after a login: %v", err)
		}
		e.expect("POST", "/api/login", ok, 200)
		var second time.Time
		var n2 int
		if err := pool.QueryRow(context.Background(), `SELECT last_seen_at, logins FROM sessions WHERE user_id = 'guest03'`).Scan(&second, &n2); err != nil {
			t.Fatal(err)
		}
		if n2 != n+1 || second.Before(first) {
			t.Errorf("second login: logins %d→%d, last_seen_at %v→%v", n, n2, first, second)
		}
		if c := e.count(`SELECT count(*) FROM sessions WHERE user_id = 'guest03'`); c != 1 {
			t.Errorf("%d session rows for one user, want 1 (upsert)", c)
		}
		e.expect("POST", "/api/login", `{"user": "guest03", "password": "nope"}`, 401)
		e.expect("POST", "/api/login", `{"user": "mallory", "password": "`+DemoPassword+`"}`, 401)
		e.expect("POST", "/api/login", `{"user": "guest03"}`, 400)
		e.expect("POST", "/api/login", `{"user": "guest03", "password": "x", "otp": 1}`, 400)
		mfs := e.scrape()
		if s, f := logins(mfs, LoginSuccess), logins(mfs, LoginFailure); s != 2 || f != 2 {
			t.Errorf("auth_login_attempts_total: success %v, failure %v; want 2 and 2", s, f)
		}
		if got := requests(mfs, "401", "post", RouteLogin); got != 2 {
			t.Errorf(`http_requests_total{code="401",handler="login"} = %v, want 2`, got)
		}

		e.setFaults(`{"login_failure_ratio": 1}`)
		for range 3 {
			e.expect("POST", "/api/login", ok, 401)
		}
		var n3 int
		if err := pool.QueryRow(context.Background(), `SELECT logins FROM sessions WHERE user_id = 'guest03'`).Scan(&n3); err != nil || n3 != n2 {
			t.Errorf("failed logins touched the session: logins %d→%d (%v)", n2, n3, err)
		}
		if f := logins(e.scrape(), LoginFailure); f != 5 {
			t.Errorf("after login_failure_ratio=1: failures %v, want 5", f)
		}
	})

	t.Run("error_ratio=1 makes every API request a 500", func(t *testing.T) {
		e := newEnv(t, pool, testToken)
		bookings := e.count(`SELECT count(*) FROM bookings`)
		e.setFaults(`{"error_ratio": 1}`)
		booking := `{"hotel_id": 1, "user_id": "guest04", "nights": 1, "amount": 120, "currency": "EUR"}`
		for range 4 {
			e.expect("GET", "/api/hotels", "", 500)
			e.expect("GET", "/api/search?city=Paris", "", 500)
			e.expect("POST", "/api/bookings", booking, 500)
			e.expect("POST", "/api/login", `{"user": "guest04", "password": "`+DemoPassword+`"}`, 500)
		}
		e.expect("GET", "/healthz", "", 200) // not an API request
		mfs := e.scrape()
		for _, c := range []struct{ method, handler string }{{"get", RouteHotels}, {"get", RouteSearch}, {"post", RouteBookings}, {"post", RouteLogin}} {
			if got := requests(mfs, "500", c.method, c.handler); got != 4 {
				t.Errorf(`http_requests_total{code="500",handler=%q} = %v, want 4`, c.handler, got)
			}
			if got := requests(mfs, "200", c.method, c.handler) + requests(mfs, "201", c.method, c.handler); got != 0 {
				t.Errorf("%s: %v successes under error_ratio=1", c.handler, got)
			}
		}
		if got := e.count(`SELECT count(*) FROM bookings`); got != bookings {
			t.Errorf("failed bookings wrote rows: %d→%d", bookings, got)
		}
		if g := mfs["hotelapp_fault_error_ratio"].GetMetric()[0].GetGauge().GetValue(); g != 1 {
			t.Errorf("hotelapp_fault_error_ratio = %v, want 1", g)
		}
		if code, out := e.do("DELETE", "/admin/faults", "", testToken); code != 200 {
			t.Fatalf("DELETE: %d %s", code, out)
		}
		e.expect("GET", "/api/hotels", "", 200)
	})

	t.Run("the latency fault shows in the histogram", func(t *testing.T) {
		e := newEnv(t, pool, testToken)
		e.setFaults(`{"latency": "600ms"}`)
		for range 3 {
			start := time.Now()
			e.expect("GET", "/api/hotels", "", 200)
			if d := time.Since(start); d < 600*time.Millisecond {
				t.Errorf("request took %v under a 600ms latency fault", d)
			}
		}
		h := histogram(t, e.scrape(), "get", RouteHotels)
		if h.GetSampleCount() != 3 || bucket(h, 0.5) != 0 || h.GetSampleSum() < 1.8 {
			t.Errorf("histogram: count %d, le=0.5 %d, sum %v; want 3, 0, >= 1.8", h.GetSampleCount(), bucket(h, 0.5), h.GetSampleSum())
		}
		if g := e.scrape()["hotelapp_fault_latency_seconds"].GetMetric()[0].GetGauge().GetValue(); g != 0.6 {
			t.Errorf("hotelapp_fault_latency_seconds = %v, want 0.6", g)
		}
	})

	t.Run("admin endpoints need the token", func(t *testing.T) {
		e := newEnv(t, pool, testToken)
		for _, tok := range []string{"", "wrong", testToken + "x", testToken[:len(testToken)-1]} {
			for _, m := range []string{"GET", "PUT", "DELETE"} {
				if code, out := e.do(m, "/admin/faults", `{"error_ratio": 1}`, tok); code != 401 {
					t.Errorf("%s with token %q: %d %s, want 401", m, tok, code, out)
				}
			}
		}
		req, _ := http.NewRequest("GET", e.srv.URL+"/admin/faults", nil)
		req.SetBasicAuth("admin", testToken)
		if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("basic auth: %v %v", resp, err)
		} else {
			resp.Body.Close()
		}
		if e.app.Faults() != (Faults{}) {
			t.Fatalf("unauthorized PUT changed the faults: %+v", e.app.Faults())
		}

		e.setFaults(`{"error_ratio": 0.25, "latency": "10ms", "login_failure_ratio": 0.5}`)
		code, out := e.do("GET", "/admin/faults", "", testToken)
		var got Faults
		if err := json.Unmarshal([]byte(out), &got); code != 200 || err != nil ||
			got != (Faults{ErrorRatio: 0.25, Latency: 10 * time.Millisecond, LoginFailureRatio: 0.5}) {
			t.Errorf("GET: %d %s %v", code, out, err)
		}
		for body, msg := range map[string]string{
			`{"error_ratio": 2}`:     "error_ratio 2 is out of range",
			`{"latency": "2m"}`:      "latency 2m0s is out of range",
			`{"latency": "fast"}`:    "is not a Go duration",
			`{"errors": 1}`:          `unknown field \"errors\"`,
			`not json`:               "invalid faults JSON",
			``:                       "empty body",
			`{"error_ratio": 0.1}{}`: "data after the object",
		} {
			code, out := e.do("PUT", "/admin/faults", body, testToken)
			if code != 400 || !strings.Contains(out, msg) {
				t.Errorf("PUT %s: %d %s, want 400 with %q", body, code, out, msg)
			}
		}
		if e.app.Faults().ErrorRatio != 0.25 {
			t.Errorf("a rejected PUT changed the faults: %+v", e.app.Faults())
		}
		if code, out := e.do("POST", "/admin/faults", `{}`, testToken); code != 405 {
			t.Errorf("POST: %d %s, want 405", code, out)
		}
		if code, out := e.do("DELETE", "/admin/faults", "", testToken); code != 200 || e.app.Faults() != (Faults{}) {
			t.Errorf("DELETE: %d %s, faults %+v", code, out, e.app.Faults())
		}
		if got := requests(e.scrape(), "401", "get", RouteAdmin); got != 5 {
			t.Errorf(`http_requests_total{code="401",handler="admin",method="get"} = %v, want 5`, got)
		}

		off := newEnv(t, pool, "")
		for _, tok := range []string{"", testToken} {
			if code, out := off.do("PUT", "/admin/faults", `{"error_ratio": 1}`, tok); code != 404 || !strings.Contains(out, "disabled") {
				t.Errorf("without a configured token, PUT with %q: %d %s, want 404", tok, code, out)
			}
		}
		if off.app.Faults() != (Faults{}) {
			t.Errorf("disabled admin changed the faults")
		}
	})

	t.Run("traffic", func(t *testing.T) { testTraffic(t, newEnv(t, pool, "")) })
}

// TestDatabaseDown stops PostgreSQL under the application: every request
// that needs it answers 503, and it recovers when PostgreSQL is back.
func TestDatabaseDown(t *testing.T) {
	pg := testenv.StartPrimary(t, "app-down", testenv.PrimaryOptions{})
	e := newEnv(t, openPool(t, pg), testToken)
	login := `{"user": "guest05", "password": "` + DemoPassword + `"}`
	booking := `{"hotel_id": 1, "user_id": "guest05", "nights": 1, "amount": 120, "currency": "EUR"}`
	e.expect("GET", "/api/hotels", "", 200)
	e.expect("POST", "/api/login", login, 200)

	pg.Stop()
	e.expect("GET", "/api/hotels", "", 503)
	e.expect("GET", "/api/search?city=Rome", "", 503)
	e.expect("POST", "/api/bookings", booking, 503)
	e.expect("POST", "/api/login", login, 503)
	e.expect("GET", "/healthz", "", 503)
	e.expect("GET", "/api/hotels", "", 503)
	mfs := e.scrape()
	for _, c := range []struct {
		method, handler string
		n               float64
	}{{"get", RouteHotels, 2}, {"get", RouteSearch, 1}, {"post", RouteBookings, 1}, {"post", RouteLogin, 1}, {"get", RouteHealthz, 1}} {
		if got := requests(mfs, "503", c.method, c.handler); got != c.n {
			t.Errorf(`http_requests_total{code="503",handler=%q} = %v, want %v`, c.handler, got, c.n)
		}
	}
	if s, f := logins(mfs, LoginSuccess), logins(mfs, LoginFailure); s != 1 || f != 0 {
		t.Errorf("a login the database could not decide was counted: success %v, failure %v", s, f)
	}
	// Admin does not need the database.
	e.setFaults(`{"latency": "1ms"}`)

	pg.Start()
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, out := e.do("GET", "/api/hotels", "", "")
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not recovered 20s after PostgreSQL came back: %d %s", code, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	e.expect("POST", "/api/bookings", booking, 201)
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
