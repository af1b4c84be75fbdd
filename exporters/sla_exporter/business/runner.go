package business

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/config"
)

// clientGrace is how much longer than the query's timeout the exporter
// waits for an SQL answer: the server's statement_timeout fires first and
// says "timeout" precisely; the client's deadline is for a server that
// does not answer at all.
const clientGrace = 2 * time.Second

// Runner runs every query on its own schedule and exports what the last
// runs produced. Each query has its own goroutine: a hanging query delays
// only itself.
type Runner struct {
	queries []*query
	logger  *slog.Logger
	now     func() time.Time
}

// query is one configured query and what its runs left.
type query struct {
	cfg   *config.Query
	src   Source
	grace time.Duration
	descs map[string]*prometheus.Desc
	types map[string]prometheus.ValueType

	mu          sync.Mutex
	metrics     []prometheus.Metric // of the last good run, built once per run
	attempted   bool
	up          bool
	lastSuccess time.Time
	duration    time.Duration
	errors      map[string]float64 // by reason
}

// New prepares the queries of cfg; sqlSrc and redisSrc run them (either
// may be nil when no query needs it).
func New(cfg *config.Config, sqlSrc, redisSrc Source, logger *slog.Logger) (*Runner, error) {
	r := &Runner{logger: logger, now: time.Now}
	for i := range cfg.Queries {
		qc := &cfg.Queries[i]
		q := &query{cfg: qc, descs: map[string]*prometheus.Desc{}, types: map[string]prometheus.ValueType{}, errors: map[string]float64{}}
		for _, why := range Reasons[qc.Source()] {
			q.errors[why] = 0 // every series from the start, so that rate() sees the first failure
		}
		constLabels := prometheus.Labels{"query": qc.Name}
		for k, v := range qc.Labels {
			constLabels[k] = v
		}
		switch qc.Source() {
		case "redis":
			q.src = redisSrc
			rc := qc.Redis
			help := rc.Help
			if help == "" {
				help = fmt.Sprintf("Redis %s, query %s.", rc.Command, qc.Name)
			}
			q.descs[rc.Metric] = prometheus.NewDesc(rc.Metric, help, nil, constLabels)
			q.types[rc.Metric] = valueType(rc.Type)
		default:
			q.src, q.grace = sqlSrc, clientGrace
			for _, m := range qc.Metrics {
				help := m.Help
				if help == "" {
					help = fmt.Sprintf("Column %s of query %s.", m.Value, qc.Name)
				}
				q.descs[m.Name] = prometheus.NewDesc(m.Name, help, m.Labels, constLabels)
				q.types[m.Name] = valueType(m.Type)
			}
		}
		if q.src == nil {
			return nil, fmt.Errorf("query %s: no %s source configured", qc.Name, qc.Source())
		}
		r.queries = append(r.queries, q)
	}
	return r, nil
}

func valueType(t string) prometheus.ValueType {
	if t == "counter" {
		return prometheus.CounterValue
	}
	return prometheus.GaugeValue
}

// Run runs every query at once and then on its interval until ctx ends.
func (r *Runner) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, q := range r.queries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(time.Duration(q.cfg.Interval))
			defer t.Stop()
			for {
				r.runOnce(ctx, q)
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		}()
	}
	wg.Wait()
}

// RunOnce runs every query once, in parallel, and returns when all are
// done (check-config and tests).
func (r *Runner) RunOnce(ctx context.Context) {
	var wg sync.WaitGroup
	for _, q := range r.queries {
		wg.Add(1)
		go func() { defer wg.Done(); r.runOnce(ctx, q) }()
	}
	wg.Wait()
}

func (r *Runner) runOnce(ctx context.Context, q *query) {
	start := r.now()
	rctx, cancel := context.WithTimeout(ctx, time.Duration(q.cfg.Timeout)+q.grace)
	samples, err := q.src.Run(rctx, q.cfg, start)
	cancel()
	var built []prometheus.Metric
	if err == nil {
		built, err = q.build(samples)
	}
	took := r.now().Sub(start)
	if ctx.Err() != nil {
		return // shutting down: not the query's failure
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.attempted, q.duration = true, took
	if err != nil {
		q.up = false
		q.errors[reason(err)]++
		r.logger.Warn("Business query failed; its last good values stay exported", "query", q.cfg.Name, "reason", reason(err), "err", err)
		return
	}
	q.up, q.lastSuccess, q.metrics = true, start, built
}

// build makes the exported metrics of a run, refusing the run whole when
// two rows give the same series (Prometheus would refuse the scrape).
func (q *query) build(samples []Sample) ([]prometheus.Metric, error) {
	seen := make(map[string]bool, len(samples))
	out := make([]prometheus.Metric, 0, len(samples))
	for _, s := range samples {
		key := s.Metric
		for _, v := range s.LabelValues {
			key += "\xff" + v
		}
		if seen[key] {
			return nil, fmt.Errorf("query %s: two rows give the series %s%q; group by every label column: %w", q.cfg.Name, s.Metric, s.LabelValues, ErrResult)
		}
		seen[key] = true
		m, err := prometheus.NewConstMetric(q.descs[s.Metric], q.types[s.Metric], s.Value, s.LabelValues...)
		if err != nil {
			return nil, fmt.Errorf("query %s: %w", q.cfg.Name, err)
		}
		out = append(out, m)
	}
	return out, nil
}
