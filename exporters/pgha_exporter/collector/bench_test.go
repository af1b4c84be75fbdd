package collector

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/promslog"

	"github.com/hotel-ops/hotel-ops/internal/testenv"
)

// benchEnv is the test environment for benchmarks: the clusters are made
// once for all benchmark runs and removed after the last (TestMain).
type benchEnv struct {
	mu       sync.Mutex
	cleanups []func()
	failed   string
}

func (*benchEnv) Helper()                         {}
func (e *benchEnv) Cleanup(f func())              { e.mu.Lock(); e.cleanups = append(e.cleanups, f); e.mu.Unlock() }
func (*benchEnv) Logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
func (e *benchEnv) Fatalf(format string, args ...any) {
	e.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (e *benchEnv) Skipf(format string, args ...any) { e.Fatalf(format, args...) }

var (
	benchOnce    sync.Once
	benchEnvRef  = &benchEnv{}
	benchPrimary *testenv.Postgres
)

func TestMain(m *testing.M) {
	code := m.Run()
	for i := len(benchEnvRef.cleanups) - 1; i >= 0; i-- {
		benchEnvRef.cleanups[i]()
	}
	os.Exit(code)
}

// setupBench starts the benchmark's PostgreSQL: a primary with two
// streaming standbys and 200 idle client connections, and a monitoring
// role that has nothing but pg_monitor.
func setupBench(b *testing.B) *testenv.Postgres {
	benchOnce.Do(func() {
		done := make(chan struct{})
		go func() { // Fatalf ends this goroutine, not the benchmark's
			defer close(done)
			e := benchEnvRef
			p := testenv.StartPrimary(e, "bench-primary", testenv.PrimaryOptions{Settings: []string{
				"max_connections = 300",
				"shared_preload_libraries = 'pg_stat_statements'",
				"pg_stat_statements.track = all",
			}})
			testenv.StartStandby(e, p, "standby1")
			testenv.StartStandby(e, p, "standby2")
			p.Exec("CREATE EXTENSION pg_stat_statements")
			p.Exec("CREATE ROLE pgha_bench LOGIN")
			p.Exec("GRANT pg_monitor TO pgha_bench")
			ctx := context.Background()
			for i := 0; i < 200; i++ {
				c, err := pgx.Connect(ctx, p.DSN("postgres"))
				if err != nil {
					e.Fatalf("idle connection %d: %v", i, err)
				}
				e.Cleanup(func() { c.Close(ctx) })
			}
			benchPrimary = p
		}()
		<-done
	})
	if benchPrimary == nil {
		b.Fatalf("benchmark environment: %s", benchEnvRef.failed)
	}
	return benchPrimary
}

// BenchmarkScrape measures a whole scrape as /metrics serves it (collect
// and encode) against the primary with 2 standbys and 200 idle
// connections, and reports per scrape the median and p99 latency, the SQL
// statements the server executed for the exporter's role
// (pg_stat_statements) and the new sessions it opened, and the heap
// growth between the first tenth and the end of the run (-benchtime
// 10000x for the 10,000 scrapes).
func BenchmarkScrape(b *testing.B) {
	p := setupBench(b)
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(fmt.Sprintf("postgres://pgha_bench@127.0.0.1:%d/postgres?sslmode=disable", p.Port))
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	c := New(pool, Options{Timeout: 5 * time.Second}, promslog.NewNopLogger())
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	scrape := func() {
		mfs, err := reg.Gather()
		if err != nil {
			b.Fatal(err)
		}
		enc := expfmt.NewEncoder(io.Discard, expfmt.NewFormat(expfmt.TypeTextPlain))
		for _, mf := range mfs {
			if err := enc.Encode(mf); err != nil {
				b.Fatal(err)
			}
		}
	}
	scrape() // warm: connect and prepare statements

	admin := p.Connect("postgres")
	statements := func() float64 {
		var n float64
		err := admin.QueryRow(ctx, `SELECT coalesce(sum(calls), 0)::float8 FROM pg_stat_statements WHERE userid = 'pgha_bench'::regrole`).Scan(&n)
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	stmts0 := statements()
	conns0 := pool.Stat().NewConnsCount()
	durations := make([]time.Duration, 0, b.N)
	var heapEarly uint64
	var ms runtime.MemStats

	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		scrape()
		durations = append(durations, time.Since(start))
		if i == b.N/10 {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			heapEarly = ms.HeapAlloc
		}
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&ms)

	// The status query's own statement is counted by the next statements()
	// call, which is not the exporter's role: no correction needed.
	perScrape := (statements() - stmts0) / float64(b.N)
	sort.Slice(durations, func(i, j int) bool { return durations[i] < durations[j] })
	b.ReportMetric(float64(durations[len(durations)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(durations[len(durations)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(perScrape, "stmts/scrape")
	b.ReportMetric(float64(pool.Stat().NewConnsCount()-conns0)/float64(b.N), "sessions/scrape")
	if b.N >= 1000 {
		b.ReportMetric(float64(int64(ms.HeapAlloc)-int64(heapEarly))/1024, "heap-growth-kB")
	}
	if os.Getenv("PGHA_BENCH_PROFILE") != "" {
		rows, _ := admin.Query(ctx, `SELECT calls, round(mean_exec_time::numeric, 3), left(regexp_replace(query, '\s+', ' ', 'g'), 60) FROM pg_stat_statements WHERE userid = 'pgha_bench'::regrole ORDER BY total_exec_time DESC`)
		for rows.Next() {
			var calls int64
			var mean float64
			var q string
			_ = rows.Scan(&calls, &mean, &q)
			b.Logf("%8d calls %8.3f ms  %s", calls, mean, q)
		}
		rows.Close()
	}
	if v, ok := c.errors["status"]; ok && v > 0 {
		b.Fatalf("%v failed scrapes", v)
	}
}
