package report

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// queryRange evaluates expr at each step of [start, end]; warnings are
// returned beside the series so the report can show them.
func queryRange(ctx context.Context, src Sources, expr string, start, end time.Time, step time.Duration) ([]Series, []string, error) {
	ctx, cancel := context.WithTimeout(ctx, src.timeout())
	defer cancel()
	v, warns, _, err := src.Prometheus.QueryRange(ctx, expr, v1.Range{Start: start, End: end, Step: step})
	if err != nil {
		return nil, warns, fmt.Errorf("query %s: %w", expr, err)
	}
	m, ok := v.(model.Matrix)
	if !ok {
		return nil, warns, fmt.Errorf("query %s: result is a %s, not a range of a vector", expr, v.Type())
	}
	loc := start.Location()
	out := make([]Series, 0, len(m))
	for _, ss := range m {
		s := Series{Labels: labels(ss.Metric), Points: make([]Point, 0, len(ss.Values))}
		for _, sp := range ss.Values {
			s.Points = append(s.Points, Point{T: sp.Timestamp.Time().In(loc), V: float64(sp.Value)})
		}
		out = append(out, s)
	}
	return out, warns, nil
}

// queryScalar evaluates expr at t and returns its single value; an empty
// result is an error, as it means the selector matched nothing.
func queryScalar(ctx context.Context, src Sources, expr string, t time.Time) (float64, []string, error) {
	ctx, cancel := context.WithTimeout(ctx, src.timeout())
	defer cancel()
	v, warns, _, err := src.Prometheus.Query(ctx, expr, t)
	if err != nil {
		return math.NaN(), warns, fmt.Errorf("query %s: %w", expr, err)
	}
	switch v := v.(type) {
	case model.Vector:
		switch len(v) {
		case 0:
			return math.NaN(), warns, fmt.Errorf("query %s: no series match at %s", expr, t.Format(time.RFC3339))
		case 1:
			return float64(v[0].Value), warns, nil
		}
		return math.NaN(), warns, fmt.Errorf("query %s: %d series, want one (sum them)", expr, len(v))
	case *model.Scalar:
		return float64(v.Value), warns, nil
	}
	return math.NaN(), warns, fmt.Errorf("query %s: result is a %s, not a number", expr, v.Type())
}

// labels is a series' labels as PromQL writes them, without the metric
// name (the trend or forecast names what it is), "" when it has none.
func labels(m model.Metric) string {
	m = m.Clone()
	delete(m, model.MetricNameLabel)
	if len(m) == 0 {
		return ""
	}
	return m.String()
}

// promDuration writes d as a PromQL range, in whole seconds at least.
func promDuration(d time.Duration) string {
	return model.Duration(d.Truncate(time.Second)).String()
}

func warnings(ws []string) []string {
	out := make([]string, 0, len(ws))
	for _, w := range ws {
		out = append(out, "warning: "+strings.TrimSpace(w))
	}
	return out
}
