package sla

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/prometheus/common/model"

	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/config"
)

// requests fills r for a requests SLO: Good and Total are
// sum(increase(<selector>[<elapsed>])) evaluated at the end of the
// elapsed part, E = min(now, End), and
//
//	Ratio           = Good / Total                         (1 when Total is 0: no request, none failed)
//	BudgetRemaining = 1 − (1 − Ratio) / (1 − Objective)
//
// The window is (Start, E]: a sample exactly at a period's boundary
// belongs to the period it ends, never to both. increase() extrapolates
// from the first and last samples in the window to its edges (not past
// a counter's zero), so the increase between the last sample of one
// period and the first of the next is split between them as if the rate
// were even over it; a counter that starts inside the period and a
// sample exactly at E need no extrapolation.
func (c *Computer) requests(ctx context.Context, o config.SLO, r *Result) error {
	// Prometheus works in milliseconds: the window and its end agree to one.
	window := r.Elapsed.Truncate(time.Millisecond)
	if window <= 0 {
		r.Ratio, r.BudgetRemaining = 1, 1
		return nil
	}
	at := r.Period.Start.Add(window)
	var err error
	if r.Good, err = c.increase(ctx, o.Good, at, window); err != nil {
		return err
	}
	if r.Total, err = c.increase(ctx, o.Total, at, window); err != nil {
		return err
	}
	r.Ratio = 1
	if r.Total > 0 {
		r.Ratio = r.Good / r.Total
	}
	r.BudgetRemaining = 1 - (1-r.Ratio)/(1-r.Objective)
	return nil
}

// increase is sum(increase(sel[window])) at at; 0 when no series matches.
func (c *Computer) increase(ctx context.Context, sel string, at time.Time, window time.Duration) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	q := fmt.Sprintf("sum(increase(%s[%dms]))", sel, window.Milliseconds())
	where := fmt.Sprintf("query %q at %s", q, at.UTC().Format(time.RFC3339Nano))
	v, _, _, err := c.api.Query(ctx, q, at)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", where, err)
	}
	vec, ok := v.(model.Vector)
	if !ok {
		return 0, fmt.Errorf("%s: result is a %v, not an instant vector", where, v)
	}
	if len(vec) == 0 {
		return 0, nil
	}
	f := float64(vec[0].Value)
	if math.IsNaN(f) {
		return 0, fmt.Errorf("%s: NaN", where)
	}
	return f, nil
}
