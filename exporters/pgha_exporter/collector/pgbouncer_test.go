package collector

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotel-ops/hotel-ops/exporters/pgha_exporter/config"
	"github.com/hotel-ops/hotel-ops/internal/metrictest"
	"github.com/hotel-ops/hotel-ops/internal/testenv"
)

// bouncerTarget is a PgBouncer collector on its own pool, as the exporter
// builds it, logging into logs.
type bouncerTarget struct {
	reg  *prometheus.Registry
	logs *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newBouncerTarget(t *testing.T, dsn string) *bouncerTarget {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 2
	cfg.ConnConfig.ConnectTimeout = scrapeTimeout
	if err := config.PgBouncerConsole(cfg); err != nil { // as the binary opens it
		t.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	logs := &lockedBuffer{}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewPgBouncer(pool, PgBouncerOptions{Timeout: scrapeTimeout}, slog.New(slog.NewTextHandler(logs, nil))))
	return &bouncerTarget{reg: reg, logs: logs}
}

func (bt *bouncerTarget) scrape(t *testing.T) sample {
	t.Helper()
	return metrictest.Gather(t, bt.reg)
}

func (bt *bouncerTarget) eventually(t *testing.T, timeout time.Duration, what string, ok func(s sample) bool) sample {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := bt.scrape(t)
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s never held; last scrape: %v\nlogs:\n%s", timeout, what, s.Pick("pgha_pgbouncer_up", "pgha_pgbouncer_pool"), bt.logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// onlyHealth reports the pgha_pgbouncer_* series besides the scrape's own health.
func onlyHealth(s sample) []string {
	var extra []string
	for k := range s {
		if strings.HasPrefix(k, "pgha_pgbouncer_") && !strings.HasPrefix(k, "pgha_pgbouncer_up") &&
			!strings.HasPrefix(k, "pgha_pgbouncer_scrape_") {
			extra = append(extra, k)
		}
	}
	return extra
}

// consoleSays reads one column of SHOW POOLS for a pool straight from the
// admin console, to hold the exporter to PgBouncer's own words.
func consoleSays(t *testing.T, b *testenv.PgBouncer, db, user, col string) string {
	t.Helper()
	for _, r := range consoleRows(t, b, "POOLS") {
		if r["database"] == db && r["user"] == user {
			return r[col]
		}
	}
	t.Fatalf("SHOW POOLS has no pool %s/%s", db, user)
	return ""
}

// consoleRows is one SHOW of the admin console, as the admin user.
func consoleRows(t *testing.T, b *testenv.PgBouncer, what string) []map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := pgconn.Connect(ctx, b.AdminDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	rs, err := c.Exec(ctx, "SHOW "+what).ReadAll()
	if err != nil || len(rs) != 1 {
		t.Fatalf("SHOW %s: %v", what, err)
	}
	var out []map[string]string
	for _, r := range rs[0].Rows {
		row := map[string]string{}
		for i, f := range rs[0].FieldDescriptions {
			row[f.Name] = string(r[i])
		}
		out = append(out, row)
	}
	return out
}

// TestPgBouncerOnRealServers puts Debian's PgBouncer, session pooling with
// 2 server connections per pool, in front of a real primary, fills the
// pool, queues clients behind it, releases them and stops PgBouncer. The
// steps share the servers and run in order.
func TestPgBouncerOnRealServers(t *testing.T) {
	primary := testenv.StartPrimary(t, "primary", testenv.PrimaryOptions{})
	b := testenv.StartPgBouncer(t, primary, testenv.PgBouncerOptions{PoolMode: "session", PoolSize: 2})
	bt := newBouncerTarget(t, b.StatsDSN())
	pool := `{database="postgres",user="postgres"}`
	withState := func(state string) string {
		return fmt.Sprintf(`{database="postgres",state="%s",user="postgres"}`, state)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	connect := func() (*pgx.Conn, error) { return pgx.Connect(ctx, b.DSN("postgres", "postgres")) }

	t.Run("settings and limits", func(t *testing.T) {
		m := bt.scrape(t)
		if m.Get(t, "pgha_pgbouncer_up") != 1 {
			t.Fatalf("up 0; logs:\n%s", bt.logs)
		}
		m.Expect(t, map[string]float64{
			"pgha_pgbouncer_config_default_pool_size":                          2,
			"pgha_pgbouncer_config_max_client_connections":                     100,
			"pgha_pgbouncer_config_max_db_connections":                         0,
			"pgha_pgbouncer_config_max_user_connections":                       0,
			`pgha_pgbouncer_database_pool_size{database="postgres"}`:           2,
			`pgha_pgbouncer_database_max_connections{database="postgres"}`:     0,
			`pgha_pgbouncer_database_paused{database="postgres"}`:              0,
			`pgha_pgbouncer_database_disabled{database="postgres"}`:            0,
			`pgha_pgbouncer_database_reserve_pool{database="postgres"}`:        0,
			`pgha_pgbouncer_database_current_connections{database="postgres"}`: 0,
		})
		m.Get(t, fmt.Sprintf(`pgha_pgbouncer_database_info{backend_database="postgres",database="postgres",force_user="",host="127.0.0.1",pool_mode="session",port="%d"}`, primary.Port))
		if n := len(m.Pick("pgha_pgbouncer_version_info{")); n != 1 {
			t.Errorf("%d version_info series", n)
		}
		// The exporter's own console connection is a client.
		if v := m.Get(t, "pgha_pgbouncer_client_connections"); v < 1 {
			t.Errorf("client_connections %v", v)
		}
	})

	var holders []*pgx.Conn
	waiters := make(chan error, 3)
	t.Run("scrapes share one console session", func(t *testing.T) {
		// The exporter's sessions on the console, by port and connect time.
		sessions := func() []string {
			var out []string
			for _, r := range consoleRows(t, b, "CLIENTS") {
				if r["user"] == b.StatsUser && r["database"] == "pgbouncer" {
					out = append(out, r["port"]+" "+r["connect_time"])
				}
			}
			return out
		}
		before := sessions()
		for i := range 5 {
			if i == 2 {
				// Idle past a second: pgxpool would ping with "-- ping",
				// which the console refuses, and log in again.
				time.Sleep(1500 * time.Millisecond)
			}
			if bt.scrape(t).Get(t, "pgha_pgbouncer_up") != 1 {
				t.Fatalf("up 0; logs:\n%s", bt.logs)
			}
		}
		if after := sessions(); len(before) != 1 || !slices.Equal(before, after) {
			t.Errorf("console sessions of %s: %v before five scrapes, %v after; want the same one kept open", b.StatsUser, before, after)
		}
	})

	t.Run("clients queue behind a full pool", func(t *testing.T) {
		// Session pooling: a client keeps its server connection from its
		// first query until it disconnects, so two fill the pool.
		for range 2 {
			c, err := connect()
			if err != nil {
				t.Fatal(err)
			}
			holders = append(holders, c)
			if _, err := c.Exec(ctx, "SELECT 1"); err != nil {
				t.Fatal(err)
			}
		}
		for range 3 {
			go func() {
				c, err := connect()
				if err == nil {
					defer c.Close(context.Background())
					_, err = c.Exec(ctx, "SELECT 1")
				}
				waiters <- err
			}()
		}
		m := bt.eventually(t, 20*time.Second, "3 clients waiting for at least a second", func(m sample) bool {
			return m["pgha_pgbouncer_pool_client_connections"+withState("waiting")] == 3 && m["pgha_pgbouncer_pool_max_wait_seconds"+pool] >= 1
		})
		if got := consoleSays(t, b, "postgres", "postgres", "cl_waiting"); got != "3" {
			t.Errorf("SHOW POOLS cl_waiting = %s", got)
		}
		m.Expect(t, map[string]float64{
			"pgha_pgbouncer_pool_client_connections" + withState("active"):             2,
			"pgha_pgbouncer_pool_client_connections" + withState("waiting_cancel_req"): 0,
			"pgha_pgbouncer_pool_server_connections" + withState("active"):             2,
			"pgha_pgbouncer_pool_server_connections" + withState("idle"):               0,
			"pgha_pgbouncer_pool_server_connections" + withState("login"):              0,
			"pgha_pgbouncer_pool_size" + pool:                                          2,
			`pgha_pgbouncer_database_current_connections{database="postgres"}`:         2,
		})
		first := m.Get(t, "pgha_pgbouncer_pool_max_wait_seconds"+pool)
		time.Sleep(1200 * time.Millisecond)
		later := bt.scrape(t).Get(t, "pgha_pgbouncer_pool_max_wait_seconds"+pool)
		if later <= first {
			t.Errorf("maxwait did not grow: %v then %v", first, later)
		}
		if first != float64(int64(first)) {
			t.Logf("maxwait carries its microseconds: %v", first)
		}
	})

	t.Run("released clients stop waiting", func(t *testing.T) {
		before := bt.scrape(t).Get(t, `pgha_pgbouncer_stats_client_wait_seconds_total{database="postgres"}`)
		for _, c := range holders {
			c.Close(context.Background())
		}
		for range 3 {
			select {
			case err := <-waiters:
				if err != nil {
					t.Fatalf("waiting client: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("waiting clients were not served after the pool freed")
			}
		}
		m := bt.eventually(t, 10*time.Second, "no client waiting", func(m sample) bool {
			return m["pgha_pgbouncer_pool_client_connections"+withState("waiting")] == 0
		})
		if v := m.Get(t, "pgha_pgbouncer_pool_max_wait_seconds"+pool); v != 0 {
			t.Errorf("maxwait %v with nobody waiting", v)
		}
		// Three clients waited over a second each: PgBouncer counts it once served.
		bt.eventually(t, 5*time.Second, "wait time counted", func(m sample) bool {
			return m[`pgha_pgbouncer_stats_client_wait_seconds_total{database="postgres"}`] >= before+3
		})
	})

	t.Run("stats counters grow with queries", func(t *testing.T) {
		names := []string{"stats_queries_total", "stats_transactions_total", "stats_received_bytes_total", "stats_sent_bytes_total", "stats_query_seconds_total", "stats_transaction_seconds_total"}
		series := func(n string) string { return "pgha_pgbouncer_" + n + `{database="postgres"}` }
		before := bt.scrape(t)
		c, err := connect()
		if err != nil {
			t.Fatal(err)
		}
		for range 10 {
			if _, err := c.Exec(ctx, "SELECT pg_sleep(0.01)"); err != nil {
				t.Fatal(err)
			}
		}
		c.Close(context.Background())
		after := bt.eventually(t, 5*time.Second, "10 more queries counted", func(m sample) bool {
			return m[series("stats_queries_total")] >= before[series("stats_queries_total")]+10
		})
		for _, n := range names {
			if after.Get(t, series(n)) <= before.Get(t, series(n)) {
				t.Errorf("%s did not grow: %v then %v", n, before[series(n)], after[series(n)])
			}
		}
		if d := after[series("stats_query_seconds_total")] - before[series("stats_query_seconds_total")]; d < 0.1 || d > 10 {
			t.Errorf("10 queries of 10 ms took %v s by PgBouncer's count: not seconds?", d)
		}
	})

	t.Run("PgBouncer stopped", func(t *testing.T) {
		b.Stop()
		for range 3 {
			m := bt.scrape(t)
			if m.Get(t, "pgha_pgbouncer_up") != 0 {
				t.Fatal("up 1 with PgBouncer stopped")
			}
			if extra := onlyHealth(m); len(extra) > 0 {
				t.Fatalf("series left while PgBouncer is down: %v", extra)
			}
		}
		if n := strings.Count(bt.logs.String(), "level=ERROR"); n != 1 {
			t.Errorf("%d error lines for 3 failed scrapes, want 1:\n%s", n, bt.logs)
		}
		if v := bt.scrape(t).Get(t, "pgha_pgbouncer_scrape_errors_total"); v < 3 {
			t.Errorf("scrape_errors_total %v after 4 failed scrapes", v)
		}
		b.Start()
		if m := bt.scrape(t); m.Get(t, "pgha_pgbouncer_up") != 1 || m[`pgha_pgbouncer_database_pool_size{database="postgres"}`] != 2 {
			t.Fatalf("after PgBouncer came back: %v\n%s", m.Pick("pgha_pgbouncer_up", "pgha_pgbouncer_database_pool_size"), bt.logs)
		}
		if !strings.Contains(bt.logs.String(), "succeeds again") {
			t.Errorf("the recovery is not logged:\n%s", bt.logs)
		}
	})

	t.Run("a restart between scrapes costs no scrape", func(t *testing.T) {
		// The pool keeps the last scrape's connection, which the restart
		// kills: the next scrape must see that and connect anew.
		bt.scrape(t)
		b.Stop()
		b.Start()
		if m := bt.scrape(t); m.Get(t, "pgha_pgbouncer_up") != 1 {
			t.Fatalf("up 0 right after a restart:\n%s", bt.logs)
		}
	})
}

// TestPgBouncerWrongPassword: a PgBouncer that checks passwords refuses a
// wrong one; the exporter says up 0, exports nothing stale and never
// logs the password.
func TestPgBouncerWrongPassword(t *testing.T) {
	primary := testenv.StartPrimary(t, "primary", testenv.PrimaryOptions{})
	b := testenv.StartPgBouncer(t, primary, testenv.PgBouncerOptions{Password: "right-pw-3141", PoolMode: "transaction"})
	bad := newBouncerTarget(t, b.DSNWithPassword(b.StatsUser, "wrong-pw-2718", "pgbouncer"))
	for range 2 {
		m := bad.scrape(t)
		if m.Get(t, "pgha_pgbouncer_up") != 0 {
			t.Fatal("up 1 with a wrong password")
		}
		if extra := onlyHealth(m); len(extra) > 0 {
			t.Fatalf("series with a wrong password: %v", extra)
		}
	}
	logs := bad.logs.String()
	if strings.Count(logs, "level=ERROR") != 1 || !strings.Contains(logs, "authentication failed") {
		t.Errorf("want one error line naming the failed authentication:\n%s", logs)
	}
	if strings.Contains(logs, "wrong-pw-2718") || strings.Contains(logs, "right-pw-3141") {
		t.Errorf("logs hold a password:\n%s", logs)
	}
	good := newBouncerTarget(t, b.StatsDSN()).scrape(t)
	if good.Get(t, "pgha_pgbouncer_up") != 1 {
		t.Fatal("up 0 with the right password")
	}
	good.Get(t, fmt.Sprintf(`pgha_pgbouncer_database_info{backend_database="postgres",database="postgres",force_user="",host="127.0.0.1",pool_mode="transaction",port="%d"}`, primary.Port))
}

// TestPgBouncerMetricsFromOtherVersions feeds rows shaped like other
// PgBouncer versions' output: columns added later are taken, missing ones
// skipped, unknown ones ignored.
func TestPgBouncerMetricsFromOtherVersions(t *testing.T) {
	sh := &show{
		// 1.24-like: pool_size in SHOW POOLS, a column this exporter does not know.
		pools: []row{{"database": "app", "user": "web", "cl_active": "4", "cl_waiting": "1", "sv_active": "4", "sv_idle": "0",
			"maxwait": "2", "maxwait_us": "500000", "pool_size": "7", "load_balance_hosts": "x"}},
		// 1.7-like: total_requests, no total_query_count.
		stats:     []row{{"database": "app", "total_requests": "42", "total_wait_time": "1500000", "avg_req": "3"}},
		databases: []row{{"name": "app", "pool_size": "20", "paused": "1", "max_client_connections": "50", "host": "10.0.0.1", "port": "5432", "database": "appdb"}},
		config:    []row{{"key": "default_pool_size", "value": "20"}, {"key": "pool_mode", "value": "transaction"}, {"key": "query_wait_timeout", "value": "120"}},
		lists:     []row{{"list": "used_clients", "items": "5"}, {"list": "dns_pending", "items": "0"}},
		version:   []row{{"version": "PgBouncer 1.24.1"}},
	}
	m := gatherShow(t, sh)
	m.Expect(t, map[string]float64{
		`pgha_pgbouncer_pool_size{database="app",user="web"}`:                                                                                     7,
		`pgha_pgbouncer_pool_max_wait_seconds{database="app",user="web"}`:                                                                         2.5,
		`pgha_pgbouncer_pool_client_connections{database="app",state="waiting",user="web"}`:                                                       1,
		`pgha_pgbouncer_stats_queries_total{database="app"}`:                                                                                      42,
		`pgha_pgbouncer_stats_client_wait_seconds_total{database="app"}`:                                                                          1.5,
		`pgha_pgbouncer_database_paused{database="app"}`:                                                                                          1,
		`pgha_pgbouncer_database_max_client_connections{database="app"}`:                                                                          50,
		`pgha_pgbouncer_database_info{backend_database="appdb",database="app",force_user="",host="10.0.0.1",pool_mode="transaction",port="5432"}`: 1,
		"pgha_pgbouncer_config_query_wait_timeout_seconds":                                                                                        120,
		"pgha_pgbouncer_client_connections":                                                                                                       5,
		`pgha_pgbouncer_list_items{list="dns_pending"}`:                                                                                           0,
		`pgha_pgbouncer_version_info{version="1.24.1"}`:                                                                                           1,
	})
	if _, ok := m["pgha_pgbouncer_config_max_client_connections"]; ok {
		t.Error("a setting SHOW CONFIG did not give was exported")
	}
}

// TestPgBouncerPoolSizeAsPgBouncerDecides: a user's pool_size ([users],
// read from 1.25) comes before its database's, which comes before
// default_pool_size; SHOW USERS pads the number and leaves it empty when
// unset, and 1.24 calls a database's reserve_pool reserve_pool_size.
func TestPgBouncerPoolSizeAsPgBouncerDecides(t *testing.T) {
	sh := &show{
		pools: []row{{"database": "app", "user": "batch"}, {"database": "app", "user": "web"}, {"database": "other", "user": "web"}},
		users: []row{
			{"name": "batch", "pool_size": "        5", "reserve_pool_size": "", "max_user_connections": "8", "current_connections": "3"},
			{"name": "web", "pool_size": "", "max_user_connections": "0", "current_connections": "12"},
		},
		databases: []row{{"name": "app", "pool_size": "20", "reserve_pool_size": "4"}},
		config:    []row{{"key": "default_pool_size", "value": "30"}},
		version:   []row{{"version": "PgBouncer 1.25.1"}},
	}
	m := gatherShow(t, sh)
	m.Expect(t, map[string]float64{
		`pgha_pgbouncer_pool_size{database="app",user="batch"}`: 5,
		`pgha_pgbouncer_pool_size{database="app",user="web"}`:   20,
		`pgha_pgbouncer_pool_size{database="other",user="web"}`: 30,
		`pgha_pgbouncer_user_pool_size{user="batch"}`:           5,
		`pgha_pgbouncer_user_max_connections{user="batch"}`:     8,
		`pgha_pgbouncer_user_current_connections{user="web"}`:   12,
		`pgha_pgbouncer_database_reserve_pool{database="app"}`:  4,
	})
	if _, ok := m[`pgha_pgbouncer_user_pool_size{user="web"}`]; ok {
		t.Error("an unset user pool_size was exported")
	}

	// 1.24 repeats batch's 5 on web, listed after it: not taken.
	sh.users[1]["pool_size"] = "        5"
	sh.version = []row{{"version": "PgBouncer 1.24.1"}}
	m = gatherShow(t, sh)
	m.Expect(t, map[string]float64{
		`pgha_pgbouncer_pool_size{database="app",user="batch"}`: 20,
		`pgha_pgbouncer_pool_size{database="app",user="web"}`:   20,
	})
	if n := len(m.Pick("pgha_pgbouncer_user_pool_size")); n != 0 {
		t.Errorf("%d user pool_size series from PgBouncer 1.24", n)
	}
}

// gatherShow is what a scrape that read sh exports, through a pedantic
// registry.
func gatherShow(t *testing.T, sh *show) sample {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(constCollector(sh.metrics()))
	return metrictest.Gather(t, reg)
}

// constCollector serves fixed metrics under the PgBouncer descriptors.
type constCollector []prometheus.Metric

func (c constCollector) Describe(ch chan<- *prometheus.Desc) { (&PgBouncer{}).Describe(ch) }
func (c constCollector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c {
		ch <- m
	}
}
