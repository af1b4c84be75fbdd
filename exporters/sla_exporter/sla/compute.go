package sla

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/config"
	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/period"
)

// Computer computes the SLOs of one configuration from Prometheus.
//
// Uptime SLOs are read step by step with range queries (see uptime.go)
// and the readings are kept: a reading whose step ended Settle before
// the computation's now is final and never asked for again. Requests
// SLOs are two instant queries per period (see requests.go), not kept.
//
// Cost, per uptime SLO at the default step of 1m (a range query reads
// up to 10,000 steps, about 6.9 days; the month, quarter and year share
// their readings, and a chunk is read with one query whichever periods
// cut it):
//   - the first refresh of month+quarter+year, current and previous,
//     reads the current year up to now and the whole previous year: 53
//     or 54 range queries per year of steps, 98 on 2025-11-05 (the
//     collector's test);
//   - every later refresh: 1 range query (2 when the steps of the last
//     Settle straddle two chunks), of the steps not yet settled plus
//     those begun since, whichever spans it serves;
//   - a new month, quarter or year costs nothing more: the period just
//     ended is in the cache, its figures recomputed until Settle after
//     its end and then kept.
//
// Per requests SLO: 2 instant queries per period computed, so 6 per
// refresh of month+quarter+year once the previous periods are final.
// Each is an increase() over the elapsed part, so the year's reads up to
// a year of raw samples of the selectors: the heaviest query here.
type Computer struct {
	cfg     *config.SLA
	api     v1.API
	step    time.Duration
	timeout time.Duration

	mu        sync.Mutex // one computation at a time: they share timelines
	timelines map[string]*timeline
}

// New is a Computer of cfg's SLOs reading from api (see NewAPI).
func New(cfg *config.SLA, api v1.API) *Computer {
	step := time.Duration(cfg.Step)
	if step <= 0 {
		step = time.Minute // config's default, for a cfg not filled by config.Parse
	}
	timeout := time.Duration(cfg.Timeout)
	if timeout <= 0 {
		timeout = time.Minute
	}
	return &Computer{cfg: cfg, api: api, step: step, timeout: timeout, timelines: map[string]*timeline{}}
}

// Compute is one Result per SLO, in the configuration's order, for the
// elapsed part of p: [p.Start, min(now, p.End)). An SLO whose queries
// fail is left out and its error joined to the one returned: the others'
// results come back all the same, so one bad expression does not hide
// every SLO.
func (c *Computer) Compute(ctx context.Context, p period.Period, now time.Time) ([]Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Result, 0, len(c.cfg.SLOs))
	var errs []error
	for _, o := range c.cfg.SLOs {
		r := Result{
			SLO: o.Name, Kind: o.Kind(), Objective: o.Objective.Value,
			Period: p, Elapsed: p.Elapsed(now),
		}
		var err error
		if r.Kind == "uptime" {
			err = c.uptime(ctx, o, &r, now)
		} else {
			err = c.requests(ctx, o, &r)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("sla: slo %s, %s %s: %w", o.Name, p.Span, p.Name, err))
			continue
		}
		out = append(out, r)
	}
	return out, errors.Join(errs...)
}

// Forget drops the uptime readings of steps before t, to bound memory:
// the collector keeps the Results of finished periods, not their steps.
func (c *Computer) Forget(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, tl := range c.timelines {
		tl.forget(t)
	}
}

// ratio is 1 − bad/of, and 1 when of is 0: nothing measured is nothing
// missed (the unmeasured time says how much was not seen).
func ratio(bad, of float64) float64 {
	if of <= 0 {
		return 1
	}
	return 1 - bad/of
}
