package report

import (
	"context"
	"time"

	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/config"
	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/period"
)

// buildTrends charts each trend over the period, one range query each at
// step. A trend's expression is evaluated at each step as it is written:
// a rate over 5m in it is the rate of the 5 minutes before each point,
// not an average over the step, which the trend's author may want to
// write (avg_over_time) when the series is noisy.
func buildTrends(ctx context.Context, src Sources, trends []config.Trend, p period.Period, until time.Time, step time.Duration) TrendsSection {
	s := TrendsSection{Step: step}
	if src.Prometheus == nil || len(trends) == 0 {
		s.NotConfigured = true
		return s
	}
	for _, tr := range trends {
		res := TrendResult{Trend: tr}
		series, warns, err := queryRange(ctx, src, tr.Expr, p.Start, until, step)
		s.Errors = append(s.Errors, warnings(warns)...)
		if err != nil {
			// One trend's failure (a typo, Prometheus down) is shown in
			// its place; the other trends are still asked for.
			res.Err = err.Error()
			s.Errors = append(s.Errors, tr.Name+": "+err.Error())
		}
		res.Series = series
		s.Trends = append(s.Trends, res)
	}
	return s
}
