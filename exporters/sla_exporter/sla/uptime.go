package sla

import (
	"context"
	"fmt"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/config"
)

// uptime fills r for an uptime SLO.
//
// The expression is evaluated every Step from the period's start; the
// reading at step t stands for [t, min(t+Step, E)), E = min(now, End),
// so the steps' times add up to the elapsed time exactly. Each step is
// up, down or unmeasured (no value: beware that Prometheus looks back 5
// minutes for a sample, so a gap in scrapes is unmeasured only from 5
// minutes after the last sample), and in planned maintenance or not (its
// start t in a window). Over the elapsed part:
//
//	Measured = time up or down
//	Excluded = Measured time in maintenance (0 with CountAsDowntime)
//	Down     = time down outside maintenance (+ down in it with CountAsDowntime)
//	Ratio    = 1 − Down / (Measured − Excluded)        (1 when that is 0)
//	BudgetRemaining = 1 − Down / ((1 − Objective) × (Duration − P))
//
// where Duration is the whole period's and P the planned maintenance of
// the whole period (0 with CountAsDowntime). MaintenanceDown is the time
// down in maintenance, counted or not; Maintenance the elapsed time in
// planned windows; Unmeasured the time without a value.
func (c *Computer) uptime(ctx context.Context, o config.SLO, r *Result, now time.Time) error {
	tl := c.timelines[o.Name]
	if tl == nil {
		tl = newTimeline(c.step, c.cfg.Maintenance)
		c.timelines[o.Name] = tl
	}
	p := r.Period
	end := p.Start.Add(r.Elapsed)
	err := tl.walk(p.Start, end, func(ch *chunk, i0, i1 int) error {
		lo, hi, ok := ch.toQuery(i0, i1, now, c.step)
		if !ok {
			return nil
		}
		return c.fetch(ctx, o.Up, ch, lo, hi, now)
	})
	if err != nil {
		return err
	}

	var upOut, downOut, upIn, downIn, none, inWindow, plannedAll time.Duration
	_ = tl.walk(p.Start, p.End, func(ch *chunk, i0, i1 int) error {
		for i := i0; i < i1; i++ {
			t := ch.at(i, c.step)
			rd := ch.r[i]
			in := rd&planned != 0
			if in {
				plannedAll += min(c.step, p.End.Sub(t))
			}
			if !t.Before(end) {
				continue
			}
			w := min(c.step, end.Sub(t))
			if in {
				inWindow += w
			}
			switch k := rd & kindMask; {
			case k == isUp && in:
				upIn += w
			case k == isUp:
				upOut += w
			case k == isDown && in:
				downIn += w
			case k == isDown:
				downOut += w
			default:
				none += w
			}
		}
		return nil
	})

	r.Measured = upOut + downOut + upIn + downIn
	r.Unmeasured = none
	r.Maintenance = inWindow
	r.MaintenanceDown = downIn
	r.PlannedMaintenance = plannedAll
	r.Down = downOut
	base := p.Duration()
	if c.cfg.Maintenance.CountAsDowntime {
		r.Down += downIn
	} else {
		r.Excluded = upIn + downIn
		base -= plannedAll
	}
	r.Ratio = ratio(r.Down.Seconds(), (r.Measured - r.Excluded).Seconds())
	r.BudgetRemaining = ratio(r.Down.Seconds(), (1-r.Objective)*base.Seconds())
	return nil
}

// fetch reads steps [lo, hi] of ch with one range query.
func (c *Computer) fetch(ctx context.Context, expr string, ch *chunk, lo, hi int, now time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	rng := v1.Range{Start: ch.at(lo, c.step), End: ch.at(hi, c.step), Step: c.step}
	where := fmt.Sprintf("range query %q from %s to %s step %s", expr,
		rng.Start.UTC().Format(time.RFC3339), rng.End.UTC().Format(time.RFC3339), c.step)
	v, _, _, err := c.api.QueryRange(ctx, expr, rng)
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	m, ok := v.(model.Matrix)
	if !ok {
		return fmt.Errorf("%s: result is a %v, not a range vector", where, v)
	}
	if err := ch.apply(lo, hi, m, c.step, now); err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	return nil
}
