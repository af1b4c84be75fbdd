package collector

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/promslog"

	"github.com/hotel-ops/hotel-ops/internal/metrictest"
)

// target is a Collector on its own pool, as the exporter builds it.
type target struct {
	pool *pgxpool.Pool
	c    *Collector
	reg  *prometheus.Registry
}

func newTarget(t *testing.T, dsn string, opts Options) *target {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 2
	cfg.ConnConfig.ConnectTimeout = opts.Timeout
	cfg.ConnConfig.RuntimeParams["application_name"] = "pgha_exporter_test"
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	logger := promslog.NewNopLogger()
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	}
	c := New(pool, opts, logger)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	return &target{pool: pool, c: c, reg: reg}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// sample is one scrape: series keyed as name{k="v",...} with sorted labels.
type sample = metrictest.Sample

func (tg *target) scrape(t *testing.T) sample {
	t.Helper()
	return metrictest.Gather(t, tg.reg)
}

// eventually scrapes until ok holds or the timeout passes, and returns the
// last sample. It waits on real servers, which take their own time.
func (tg *target) eventually(t *testing.T, timeout time.Duration, what string, ok func(s sample) bool) sample {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := tg.scrape(t)
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s never held; last scrape: %v", timeout, what, s.Pick("pgha_up", "pgha_standby", "pgha_replication", "pgha_archiver"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}
