// Package business runs the business queries of the configuration (SQL
// on a read replica, read-only Redis commands) in the background, each on
// its own interval and timeout, and exports their last good values with
// each query's health. A scrape reads what the last runs left: it never
// waits on a database.
package business

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/config"
)

// Sample is one value a run produced: a metric of the query and the
// values of its variable labels, in the metric's label order.
type Sample struct {
	Metric      string
	LabelValues []string
	Value       float64
}

// Source runs one query once. A run returns all its samples or an error:
// never part of them.
type Source interface {
	Run(ctx context.Context, q *config.Query, now time.Time) ([]Sample, error)
}

// ErrTooManySeries is a run that produced more series than the query's
// max_series: refused whole, so that one query cannot flood Prometheus.
var ErrTooManySeries = errors.New("too many series")

// tooMany is ErrTooManySeries with the figures.
func tooMany(q *config.Query, n int) error {
	return fmt.Errorf("query %s: more than %d series (max_series) after %d: %w", q.Name, q.MaxSeries, n, ErrTooManySeries)
}
