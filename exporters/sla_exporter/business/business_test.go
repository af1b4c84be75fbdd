package business

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/config"
	"github.com/hotel-ops/hotel-ops/internal/hotelapp"
	"github.com/hotel-ops/hotel-ops/internal/metrictest"
	"github.com/hotel-ops/hotel-ops/internal/testenv"
)

// env is a real PostgreSQL with the hotel schema and a real Redis.
type env struct {
	pg    *testenv.Postgres
	redis *testenv.Redis
	pool  *pgxpool.Pool
	dsn   string // a file holding the DSN
}

func newEnv(t *testing.T) *env {
	t.Helper()
	pg := testenv.StartPrimary(t, "sla", testenv.PrimaryOptions{})
	rd := testenv.StartRedis(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pg.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := hotelapp.EnsureSchema(ctx, pool); err != nil {
		t.Fatal(err)
	}
	dsn := filepath.Join(t.TempDir(), "dsn")
	if err := os.WriteFile(dsn, []byte(pg.DSN("postgres")), 0o600); err != nil {
		t.Fatal(err)
	}
	return &env{pg: pg, redis: rd, pool: pool, dsn: dsn}
}

func (e *env) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := e.pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// config parses yaml with the test's database and Redis put in.
func (e *env) config(t *testing.T, body string) *config.Config {
	t.Helper()
	doc := fmt.Sprintf("database: {dsn_file: %s}\nredis: {addr: %q}\n%s", e.dsn, e.redis.Addr, body)
	c, err := config.Parse("test.yml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// runner builds the runner of c on the test's servers.
func (e *env) runner(t *testing.T, c *config.Config) (*Runner, *prometheus.Registry) {
	t.Helper()
	s, err := NewSQL(context.Background(), e.pg.DSN("postgres"), c.Database.MaxConns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	r, err := NewRedis(c.Redis)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	run, err := New(c, s, r, slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(run)
	return run, reg
}

// The shipped example's figures equal what hand-written SQL computes on
// the same generated bookings, payments, sessions and searches.
func TestExampleFiguresEqualHandWrittenSQL(t *testing.T) {
	e := newEnv(t)
	// 120 bookings over the last two hours (40 in the last hour, one in
	// four cancelled), their payments in EUR and JPY (every tenth
	// refunded, every seventh failed), 300 searches (100 in the last
	// hour), 12 users of whom 7 were seen in the last 15 minutes.
	e.exec(t, `INSERT INTO bookings (hotel_id, user_id, nights, amount, currency, status, created_at)
		SELECT 1, 'guest' || (g % 10), 1 + g % 3, 100 + g, CASE WHEN g % 2 = 0 THEN 'EUR' ELSE 'JPY' END,
		       CASE WHEN g % 4 = 0 THEN 'cancelled' ELSE 'confirmed' END,
		       now() - make_interval(mins => CASE WHEN g <= 40 THEN g ELSE 61 + g END)
		FROM generate_series(1, 120) g`)
	e.exec(t, `INSERT INTO payments (booking_id, amount, currency, status)
		SELECT id, amount, currency, CASE WHEN id % 10 = 0 THEN 'refunded' WHEN id % 7 = 0 THEN 'failed' ELSE 'captured' END FROM bookings`)
	e.exec(t, `INSERT INTO searches (city, results, created_at)
		SELECT 'Tokyo', 3, now() - make_interval(mins => CASE WHEN g <= 100 THEN g % 59 ELSE 70 + g % 40 END) FROM generate_series(1, 300) g`)
	e.exec(t, `INSERT INTO users (id, password_hash) SELECT 'u' || g, 'x' FROM generate_series(1, 12) g`)
	e.exec(t, `INSERT INTO sessions (user_id, last_seen_at) SELECT 'u' || g, now() - make_interval(mins => CASE WHEN g <= 7 THEN g ELSE 20 + g END) FROM generate_series(1, 12) g`)
	// The cache: 3 hits, 2 misses, 4 keys.
	rc := redis.NewClient(&redis.Options{Addr: e.redis.Addr})
	defer rc.Close()
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c", "d"} {
		rc.Set(ctx, k, "1", 0)
	}
	for _, k := range []string{"a", "b", "c", "x", "y"} {
		rc.Get(ctx, k)
	}

	ex, err := os.ReadFile("../examples/hotel.yml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Parse("hotel.yml", ex)
	if err != nil {
		t.Fatal(err)
	}
	c.Database.DSNFile, c.Redis.Addr = e.dsn, e.redis.Addr
	run, reg := e.runner(t, c)
	run.RunOnce(ctx)
	got := metrictest.Gather(t, reg)

	// By hand: bookings g=1..120 (orders count all statuses).
	want := map[string]float64{
		`sla_orders_total{query="orders"}`:             120,
		`sla_active_users{query="active_users"}`:       7,
		`sla_cache_keys{query="cache_keys"}`:           4,
		`sla_cache_hits_total{query="cache_hits"}`:     3,
		`sla_cache_misses_total{query="cache_misses"}`: 2,
		// 40 bookings (g ≤ 40) over 100 searches in the last hour.
		`sla_conversion_ratio{query="conversion"}`: 0.4,
	}
	// Revenue: amount 100+g, EUR for even g, JPY for odd g, payment ids
	// equal booking ids here (both start at 1), failed ones left out.
	rev := map[string]float64{}
	for g := 1; g <= 120; g++ {
		if g%10 != 0 && g%7 == 0 {
			continue // failed
		}
		cur := "JPY"
		if g%2 == 0 {
			cur = "EUR"
		}
		rev[cur] += float64(100 + g)
	}
	for cur, v := range rev {
		want[fmt.Sprintf(`sla_revenue_total{currency="%s",query="revenue"}`, cur)] = v
	}
	for k, v := range want {
		if g := got.Get(t, k); g != v {
			t.Errorf("%s = %v, want %v", k, g, v)
		}
	}
	for _, q := range c.Queries {
		if up := got.Get(t, fmt.Sprintf(`sla_query_up{query="%s",source="%s"}`, q.Name, q.Source())); up != 1 {
			t.Errorf("query %s: up %v", q.Name, up)
		}
	}
}

// A query slower than its timeout is cancelled by the server; its last
// good value and that value's time stay exported, and another query
// keeps its interval meanwhile.
func TestSlowQueryKeepsLastGoodValue(t *testing.T) {
	e := newEnv(t)
	e.exec(t, `CREATE TABLE knob (slow boolean NOT NULL, v int NOT NULL)`)
	e.exec(t, `INSERT INTO knob VALUES (false, 42)`)
	c := e.config(t, `
queries:
  - name: slowish
    interval: 1s
    timeout: 300ms
    sql: SELECT v, CASE WHEN slow THEN pg_sleep(3) END AS s FROM knob
    metrics: [{name: knob_value, value: v}]
  - name: steady
    interval: 1s
    timeout: 500ms
    sql: SELECT extract(epoch FROM clock_timestamp()) AS t
    metrics: [{name: steady_time, value: t}]
`)
	run, reg := e.runner(t, c)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { run.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	waitFor(t, 10*time.Second, func() bool {
		g := metrictest.Gather(t, reg)
		return g[`knob_value{query="slowish"}`] == 42 && g[`sla_query_up{query="steady",source="sql"}`] == 1
	})
	first := metrictest.Gather(t, reg)
	goodAt := first.Get(t, `sla_query_last_success_timestamp_seconds{query="slowish"}`)
	e.exec(t, `UPDATE knob SET slow = true, v = 7`)
	waitFor(t, 10*time.Second, func() bool {
		return metrictest.Gather(t, reg)[`sla_query_errors_total{query="slowish",reason="timeout"}`] >= 2
	})
	g := metrictest.Gather(t, reg)
	if v := g.Get(t, `knob_value{query="slowish"}`); v != 42 {
		t.Errorf("last good value: %v, want 42 (kept from before the timeouts)", v)
	}
	if up := g.Get(t, `sla_query_up{query="slowish",source="sql"}`); up != 0 {
		t.Errorf("up %v while timing out", up)
	}
	if at := g.Get(t, `sla_query_last_success_timestamp_seconds{query="slowish"}`); at > goodAt+1.5 {
		t.Errorf("last success moved to %v from %v though every run since timed out", at, goodAt)
	}
	if d := g.Get(t, `sla_query_duration_seconds{query="slowish"}`); d > 1.5 {
		t.Errorf("a timed-out run took %vs: statement_timeout (300ms) did not cut it", d)
	}
	// The steady query ran on its 1 s interval through the slow one's
	// timeouts: its value is a fresh clock reading.
	if age := float64(time.Now().UnixMilli())/1000 - g.Get(t, `steady_time{query="steady"}`); age > 2.5 {
		t.Errorf("steady query last ran %.1fs ago, interval 1s", age)
	}
}

// A query whose result would be 10,000 series is refused whole and
// reported; nothing of it is exported.
func TestQueryOverItsSeriesCapIsRefused(t *testing.T) {
	e := newEnv(t)
	c := e.config(t, `
queries:
  - name: exploding
    max_series: 500
    sql: SELECT 'user' || g AS user_id, g AS v FROM generate_series(1, 10000) g
    metrics: [{name: per_user, value: v, labels: [user_id]}]
`)
	run, reg := e.runner(t, c)
	run.RunOnce(context.Background())
	g := metrictest.Gather(t, reg)
	if n := g.Get(t, `sla_query_errors_total{query="exploding",reason="too_many_series"}`); n != 1 {
		t.Errorf("too_many_series errors %v, want 1", n)
	}
	if n := g.Get(t, `sla_query_series{query="exploding"}`); n != 0 {
		t.Errorf("series %v exported from a refused run", n)
	}
	for k := range g {
		if strings.HasPrefix(k, "per_user") {
			t.Fatalf("a refused run exported %s", k)
		}
	}
}

// A query that tries to write is refused by the read-only transaction,
// and the table is unchanged.
func TestQueryCannotWrite(t *testing.T) {
	e := newEnv(t)
	e.exec(t, `CREATE TABLE precious (n int)`)
	e.exec(t, `INSERT INTO precious VALUES (1), (2)`)
	c := e.config(t, `
queries:
  - name: sneaky_delete
    sql: WITH d AS (DELETE FROM precious RETURNING n) SELECT count(*) AS n FROM d
    metrics: [{name: deleted, value: n}]
  - name: sneaky_insert
    sql: INSERT INTO precious VALUES (3) RETURNING n
    metrics: [{name: inserted, value: n}]
`)
	run, reg := e.runner(t, c)
	run.RunOnce(context.Background())
	g := metrictest.Gather(t, reg)
	for _, q := range []string{"sneaky_delete", "sneaky_insert"} {
		if n := g.Get(t, fmt.Sprintf(`sla_query_errors_total{query="%s",reason="write_refused"}`, q)); n != 1 {
			t.Errorf("%s: write_refused %v, want 1; %v", q, n, g.Pick("sla_query_errors_total"))
		}
	}
	var n int
	if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM precious`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("precious has %d rows (err %v), want the 2 it had", n, err)
	}
}

// Redis going away fails its queries only; the SQL query stays up.
func TestRedisDownFailsOnlyItsQueries(t *testing.T) {
	e := newEnv(t)
	c := e.config(t, `
queries:
  - name: keys
    redis: {command: DBSIZE, metric: cache_keys}
  - name: sessions
    redis: {command: SCARD, key: active, metric: active_sessions}
  - name: recent
    redis: {command: ZCOUNT, key: seen, min: now-15m, max: now, metric: recent_visitors}
  - name: orders
    sql: SELECT count(*) AS n FROM bookings
    metrics: [{name: orders_total, type: counter, value: n}]
`)
	rc := redis.NewClient(&redis.Options{Addr: e.redis.Addr})
	rc.SAdd(context.Background(), "active", "u1", "u2", "u3")
	now := time.Now().Unix()
	rc.ZAdd(context.Background(), "seen", redis.Z{Score: float64(now - 60), Member: "a"}, redis.Z{Score: float64(now - 1800), Member: "b"}, redis.Z{Score: float64(now - 300), Member: "c"})
	rc.Close()
	run, reg := e.runner(t, c)
	run.RunOnce(context.Background())
	g := metrictest.Gather(t, reg)
	if v := g.Get(t, `active_sessions{query="sessions"}`); v != 3 {
		t.Fatalf("SCARD: %v, want 3", v)
	}
	if v := g.Get(t, `recent_visitors{query="recent"}`); v != 2 {
		t.Fatalf("ZCOUNT now-15m now: %v, want 2 (seen 1 and 5 minutes ago, not 30)", v)
	}
	e.redis.Stop()
	run.RunOnce(context.Background())
	g = metrictest.Gather(t, reg)
	for series, want := range map[string]float64{
		`sla_query_up{query="keys",source="redis"}`:                 0,
		`sla_query_up{query="sessions",source="redis"}`:             0,
		`sla_query_up{query="orders",source="sql"}`:                 1,
		`sla_query_errors_total{query="keys",reason="unreachable"}`: 1,
		`active_sessions{query="sessions"}`:                         3, // the last good value
	} {
		if v := g.Get(t, series); v != want {
			t.Errorf("%s = %v, want %v", series, v, want)
		}
	}
}

func waitFor(t *testing.T, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// testWriter sends the runner's log to the test's.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// A query that holds the only connection makes another wait: the other's
// failure says so (no_connection), not that it timed out itself. (The
// quick one waits its timeout and the client's grace, 2.3 s, for the
// 4 s the hog holds the connection.)
func TestWaitingForAConnectionIsNamed(t *testing.T) {
	e := newEnv(t)
	c := e.config(t, `
queries:
  - name: hog
    interval: 10s
    timeout: 6s
    sql: SELECT pg_sleep(4) IS NULL AS v
    metrics: [{name: hog_value, value: v}]
  - name: quick
    interval: 5s
    timeout: 300ms
    sql: SELECT 1 AS v
    metrics: [{name: quick_value, value: v}]
`)
	c.Database.MaxConns = 1
	run, reg := e.runner(t, c)
	ctx := context.Background()
	started := make(chan struct{})
	go func() {
		for {
			var n int
			// The hog holds the connection once pg_sleep shows in pg_stat_activity.
			if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(4)%'`).Scan(&n); err == nil && n > 0 {
				close(started)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	done := make(chan struct{})
	go func() { run.runOnce(ctx, run.queries[0]); close(done) }()
	<-started
	run.runOnce(ctx, run.queries[1])
	<-done
	g := metrictest.Gather(t, reg)
	if n := g.Get(t, `sla_query_errors_total{query="quick",reason="no_connection"}`); n != 1 {
		t.Errorf("quick: no_connection %v, want 1; %v", n, g.Pick(`sla_query_errors_total{query="quick"`))
	}
	if up := g.Get(t, `sla_query_up{query="hog",source="sql"}`); up != 1 {
		t.Errorf("hog: up %v", up)
	}
}

// Two rows of one series refuse the run as the query's own error.
func TestDuplicateSeriesIsAQueryError(t *testing.T) {
	e := newEnv(t)
	c := e.config(t, `
queries:
  - name: dup
    sql: SELECT 'EUR' AS currency, 1 AS v UNION ALL SELECT 'EUR', 2
    metrics: [{name: dup_value, value: v, labels: [currency]}]
`)
	run, reg := e.runner(t, c)
	run.RunOnce(context.Background())
	if n := metrictest.Gather(t, reg).Get(t, `sla_query_errors_total{query="dup",reason="query_error"}`); n != 1 {
		t.Errorf("query_error %v, want 1", n)
	}
}
