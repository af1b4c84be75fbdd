package collector

import (
	"context"
	"log/slog"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/promslog"
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
type sample map[string]float64

func (tg *target) scrape(t *testing.T) sample {
	t.Helper()
	mfs, err := tg.reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	return flatten(mfs)
}

func flatten(mfs []*dto.MetricFamily) sample {
	out := sample{}
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			var v float64
			switch {
			case m.Gauge != nil:
				v = m.Gauge.GetValue()
			case m.Counter != nil:
				v = m.Counter.GetValue()
			case m.Untyped != nil:
				v = m.Untyped.GetValue()
			}
			out[key(mf.GetName(), m.Label)] = v
		}
	}
	return out
}

func key(name string, labels []*dto.LabelPair) string {
	if len(labels) == 0 {
		return name
	}
	parts := make([]string, 0, len(labels))
	for _, l := range labels {
		parts = append(parts, l.GetName()+"="+`"`+l.GetValue()+`"`)
	}
	sort.Strings(parts)
	return name + "{" + strings.Join(parts, ",") + "}"
}

// get returns a series' value, failing the test when it is absent.
func (s sample) get(t *testing.T, series string) float64 {
	t.Helper()
	v, ok := s[series]
	if !ok {
		var names []string
		prefix := series
		if i := strings.IndexByte(series, '{'); i > 0 {
			prefix = series[:i]
		}
		for k := range s {
			if strings.HasPrefix(k, prefix) {
				names = append(names, k)
			}
		}
		t.Fatalf("series %s absent; series of that name: %v", series, names)
	}
	return v
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
			t.Fatalf("after %s: %s never held; last scrape: %v", timeout, what, pick(s, "pgha_up", "pgha_standby", "pgha_replication", "pgha_archiver"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func pick(s sample, prefixes ...string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range s {
		for _, p := range prefixes {
			if strings.HasPrefix(k, p) {
				out[k] = v
			}
		}
	}
	return out
}
