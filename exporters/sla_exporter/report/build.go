package report

import (
	"context"
	"fmt"
	"time"

	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/config"
	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/period"
)

// DefaultTitle heads a report whose configuration gives no title.
const DefaultTitle = "Hotel Ops"

// Build gathers the report of p as known at now: a weekly report for a
// week, a monthly one (with capacity and security) for a month. A source
// that is nil or fails leaves its section saying so; only a period that
// is not a week or month, or has not started by now, is an error.
func Build(ctx context.Context, src Sources, cfg config.Reports, p period.Period, now time.Time) (*Report, error) {
	if err := checkPeriod(p, now); err != nil {
		return nil, err
	}
	r := &Report{
		Title:     cfg.Title,
		Period:    p,
		Generated: now,
		Until:     p.End,
	}
	if r.Title == "" {
		r.Title = DefaultTitle
	}
	if now.Before(p.End) {
		r.Until = now
	}
	step := Step(p.Duration())

	r.SLA = buildSLA(ctx, src, p, now)
	r.Trends = buildTrends(ctx, src, cfg.Trends, p, r.Until, step)
	// One listing serves the incident figures and the security count.
	list, listStatus := listIncidents(ctx, src)
	r.Incidents = buildIncidents(list, listStatus, p, now)
	if r.Monthly() {
		r.Capacity = buildCapacity(ctx, src, cfg.Forecasts, p, r.Until, step)
		r.Security = buildSecurity(ctx, src, cfg.LoginFailures, r.Incidents, p, r.Until)
	}
	return r, nil
}

// checkPeriod accepts the periods reports are written for: a week or a
// month as package period makes them, that has started by now.
func checkPeriod(p period.Period, now time.Time) error {
	if p.Span != "week" && p.Span != "month" {
		return fmt.Errorf("report for %q: reports are weekly or monthly, not per %s", p.Name, p.Span)
	}
	// Remade from its start, so a hand-built Period with a wrong end or
	// name is refused rather than reported under the wrong heading.
	want, err := period.Containing(p.Span, p.Start, p.Start.Location())
	if err != nil || !want.Start.Equal(p.Start) || !want.End.Equal(p.End) || want.Name != p.Name {
		return fmt.Errorf("report for %q: not a calendar %s (%s to %s)", p.Name, p.Span, p.Start, p.End)
	}
	if !now.After(p.Start) {
		return fmt.Errorf("report for %s: the period starts at %s, after now (%s)",
			p.Name, p.Start.Format(time.RFC3339), now.In(p.Start.Location()).Format(time.RFC3339))
	}
	return nil
}

// Step is the resolution of a period's charts: the shortest of a few
// round steps that keeps a chart under 500 points. A chart is about
// 700 px wide, so more points than that only cost query time, while the
// round steps (each at most 2.5 times the one before) keep at least 200,
// enough to show each day's peak: a week gets 30m (336 points), a month
// 2h (336 to 372), 12 a day.
func Step(d time.Duration) time.Duration {
	for _, s := range steps {
		if d/s <= maxPoints {
			return s
		}
	}
	return steps[len(steps)-1]
}

const maxPoints = 500

var steps = []time.Duration{
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

// call runs one request to a source under the sources' timeout.
func call[T any](ctx context.Context, src Sources, f func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, src.timeout())
	defer cancel()
	return f(ctx)
}
