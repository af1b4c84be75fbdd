package sla

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/config"
	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/period"
)

// Collector exports the SLA figures of each span of the configuration,
// for the current and the previous period. Run refreshes them in the
// background; a scrape only reads the last results, so a slow or
// unreachable Prometheus never slows a scrape and the last good figures
// stay exported (with refresh_last_success_timestamp_seconds saying how
// old they are).
type Collector struct {
	cfg     *config.SLA
	comp    *Computer
	log     *slog.Logger
	loc     *time.Location
	refresh time.Duration
	now     func() time.Time // time.Now; tests set a clock

	mu       sync.Mutex
	current  map[string][]Result // by span
	previous map[string][]Result
	// prevFinal: the previous period was computed Settle after it ended,
	// so its figures never change again and are not recomputed.
	prevFinal map[string]bool
	lastOK    time.Time
	errors    float64
	duration  time.Duration
}

// NewCollector is the collector of cfg's figures, computed by comp.
func NewCollector(cfg *config.SLA, comp *Computer, logger *slog.Logger) *Collector {
	loc := cfg.Location
	if loc == nil {
		loc = time.UTC // config.Parse always sets it; a hand-made cfg may not
	}
	refresh := time.Duration(cfg.Refresh)
	if refresh <= 0 {
		refresh = 5 * time.Minute
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Collector{
		cfg: cfg, comp: comp, log: logger, loc: loc, refresh: refresh, now: time.Now,
		current: map[string][]Result{}, previous: map[string][]Result{}, prevFinal: map[string]bool{},
	}
}

// Run refreshes at once and then every cfg.Refresh until ctx ends.
func (c *Collector) Run(ctx context.Context) {
	tick := time.NewTicker(c.refresh)
	defer tick.Stop()
	for {
		if err := c.Refresh(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("refreshing the SLA figures failed; the last good ones stay exported", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Refresh computes the current period of every span, and its previous
// period when that is new or not yet final. A span that fails keeps its
// last figures; the others are updated.
func (c *Collector) Refresh(ctx context.Context) error {
	began := time.Now()
	now := c.now()
	var errs []error
	forget := now
	for _, span := range c.cfg.Spans {
		cur, err := period.Containing(span, now, c.loc)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		res, err := c.comp.Compute(ctx, cur, now)
		if err != nil {
			errs = append(errs, err)
		}
		c.set(func() { c.current[span] = merge(c.current[span], res, cur) })
		prev := cur.Previous()
		final := !now.Before(prev.End.Add(Settle))
		if !c.isFinal(span, prev) {
			res, err := c.comp.Compute(ctx, prev, now)
			if err != nil {
				errs = append(errs, err)
				final = false // an SLO missing: compute it again next time
			}
			c.set(func() { c.previous[span], c.prevFinal[span] = merge(c.previous[span], res, prev), final })
		}
		// Keep the steps of the previous period until its figures are final.
		keep := cur.Start
		if !c.isFinal(span, prev) {
			keep = prev.Start
		}
		forget = minTime(forget, keep)
	}
	c.comp.Forget(forget)

	err := errors.Join(errs...)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.duration = time.Since(began)
	if err != nil {
		c.errors++
		return fmt.Errorf("sla refresh: %w", err)
	}
	c.lastOK = now
	return nil
}

// isFinal: the figures kept for span's previous period are prev's, and
// were computed Settle after it ended. Until then (not computed yet, a
// new period has begun, or computed too soon) it is computed again.
func (c *Collector) isFinal(span string, prev period.Period) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	res := c.previous[span]
	return len(res) > 0 && res[0].Period.Name == prev.Name && c.prevFinal[span]
}

// merge is the fresh results of p with, for each SLO that failed this
// time, its last result of the same period: one failing SLO keeps its
// last good figures and does not take the others' with it.
func merge(old, fresh []Result, p period.Period) []Result {
	have := map[string]bool{}
	for _, r := range fresh {
		have[r.SLO] = true
	}
	out := fresh
	for _, r := range old {
		if !have[r.SLO] && r.Period.Name == p.Name {
			out = append(out, r)
		}
	}
	return out
}

func (c *Collector) set(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f()
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) { descs.Describe(ch) }

// Collect implements prometheus.Collector from the last results only.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, o := range c.cfg.SLOs {
		g(objectiveDesc, o.Objective.Value, o.Name)
	}
	for _, span := range c.cfg.Spans {
		for _, w := range []struct {
			which string
			res   []Result
		}{{"current", c.current[span]}, {"previous", c.previous[span]}} {
			for i, r := range w.res {
				p := r.Period
				if i == 0 {
					g(elapsedDesc, r.Elapsed.Seconds()/p.Duration().Seconds(), span, p.Name, w.which)
				}
				l := []string{r.SLO, span, p.Name, w.which}
				// Nothing measured is no availability at all: exporting 1
				// would read as an SLA met. sla_unmeasured_seconds says it.
				if !r.NoData() {
					g(availabilityDesc, r.Ratio, l...)
					g(budgetDesc, r.BudgetRemaining, l...)
				}
				if r.Kind == "uptime" {
					g(downtimeDesc, r.Down.Seconds(), l...)
					g(maintenanceDownDesc, r.MaintenanceDown.Seconds(), l...)
					g(unmeasuredDesc, r.Unmeasured.Seconds(), l...)
				}
			}
		}
	}
	var last float64
	if !c.lastOK.IsZero() {
		last = float64(c.lastOK.UnixNano()) / 1e9
	}
	g(lastSuccessDesc, last)
	ch <- prometheus.MustNewConstMetric(refreshErrorsDesc, prometheus.CounterValue, c.errors)
	g(refreshDurationDesc, c.duration.Seconds())
}
