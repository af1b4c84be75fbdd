package report

import (
	"context"
	"math"
	"time"

	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/config"
	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/period"
)

// buildCapacity forecasts each resource from its values over the period.
//
// The forecast is a least-squares line fitted here to the range query of
// the resource's chart, rather than predict_linear in Prometheus: it is
// the same regression predict_linear computes, but fitted to exactly the
// points the chart shows, so the reader sees whether a straight line is a
// fair description of them (a sawtooth from log rotation is not), and a
// resource costs one query instead of three (value, slope, fitted level).
// On a linear resource the two agree; the tests check it.
func buildCapacity(ctx context.Context, src Sources, forecasts []config.Forecast, p period.Period, until time.Time, step time.Duration) *CapacitySection {
	s := &CapacitySection{}
	if src.Prometheus == nil || len(forecasts) == 0 {
		s.NotConfigured = true
		return s
	}
	for _, fc := range forecasts {
		res := ForecastResult{Forecast: fc}
		series, warns, err := queryRange(ctx, src, fc.Expr, p.Start, until, step)
		s.Errors = append(s.Errors, warnings(warns)...)
		if err != nil {
			res.Err = err.Error()
			s.Errors = append(s.Errors, fc.Name+": "+err.Error())
		}
		for _, ser := range series {
			res.Series = append(res.Series, forecast(ser, fc.Warning, until))
		}
		s.Forecasts = append(s.Forecasts, res)
	}
	return s
}

// forecast fits a line to the series and says when it reaches warning,
// counted from until.
func forecast(s Series, warning float64, until time.Time) ForecastSeries {
	f := ForecastSeries{Series: s, Crossing: CrossingUnknown, Current: math.NaN(), Slope: math.NaN(), Intercept: math.NaN()}
	for i := len(s.Points) - 1; i >= 0; i-- {
		if v := s.Points[i].V; !math.IsNaN(v) {
			f.Current = v
			break
		}
	}
	slope, intercept, ok := fit(s.Points, until)
	if !ok {
		return f
	}
	f.Slope, f.Intercept = slope, intercept
	switch {
	case f.Current >= warning:
		f.Crossing = CrossingCrossed
	case slope <= 0:
		f.Crossing = CrossingNever
	default:
		// The fitted line, not the last value, is where growth goes on
		// from (as predict_linear): one noisy last point moves it less.
		// A line already above warning while the value is not yet says
		// the crossing is due now.
		days := max((warning-intercept)/slope, 0)
		if days > Horizon.Hours()/24 {
			f.Crossing = CrossingNever
		} else {
			f.Crossing, f.Days = CrossingIn, days
		}
	}
	return f
}

// fit is the least-squares line through the points (NaN and infinite
// values left out), as slope per day and value at origin. Times are
// taken relative to origin, in days, so that the sums stay well within a
// float64's precision.
func fit(points []Point, origin time.Time) (slope, intercept float64, ok bool) {
	var n, sx, sy float64
	for _, pt := range points {
		if finite(pt.V) {
			n++
			sx += days(pt.T.Sub(origin))
			sy += pt.V
		}
	}
	if n < 2 {
		return 0, 0, false
	}
	mx, my := sx/n, sy/n
	var sxx, sxy float64
	for _, pt := range points {
		if finite(pt.V) {
			dx := days(pt.T.Sub(origin)) - mx
			sxx += dx * dx
			sxy += dx * (pt.V - my)
		}
	}
	if sxx == 0 {
		return 0, 0, false
	}
	slope = sxy / sxx
	return slope, my - slope*mx, true
}

func days(d time.Duration) float64 { return d.Hours() / 24 }

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
