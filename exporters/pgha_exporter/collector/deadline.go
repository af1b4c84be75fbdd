package collector

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// A scrape has one deadline, from the moment its request arrived: the
// wait for the target's turn (one scrape of a target at a time, since the
// standby lag and the logged errors keep state) and the scrape itself both
// end by it. Without it a scrape queued behind one stuck on a hung server
// would start its own full timeout after the first one gave up, and
// answer long after Prometheus stopped waiting.

// turn lets one scrape of a target run at a time.
type turn chan struct{}

func newTurn() turn { return make(turn, 1) }

// take waits for the turn until ctx ends.
func (t turn) take(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("the scrape's deadline passed before it began: %w", context.Cause(ctx))
	}
	select {
	case t <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waited for an earlier scrape of this target until the deadline: %w", context.Cause(ctx))
	}
}

func (t turn) give() { <-t }

// Scraper is a collector whose scrape can be bound to a request's deadline.
type Scraper interface {
	prometheus.Collector
	// Within is the collector with every scrape ending by ctx (and by
	// its own Timeout, whichever comes first).
	Within(ctx context.Context) prometheus.Collector
}

// within is a Scraper bound to one request's context.
type within struct {
	ctx      context.Context
	describe func(chan<- *prometheus.Desc)
	collect  func(context.Context, chan<- prometheus.Metric)
}

func (w within) Describe(ch chan<- *prometheus.Desc) { w.describe(ch) }
func (w within) Collect(ch chan<- prometheus.Metric) { w.collect(w.ctx, ch) }

// noTurn fails the scrape: the page Prometheus reads says the target was
// not scraped, rather than up 0, which would say it was and failed.
func noTurn(ch chan<- prometheus.Metric, up *prometheus.Desc, err error) {
	ch <- prometheus.NewInvalidMetric(up, err)
}
