package collector

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/semaphore"
)

// A scrape has one deadline, from the moment its request arrived: the
// wait for the target's turn (one scrape of a target at a time, since the
// standby lag and the logged errors keep state) and the scrape itself both
// end by it. Without it a scrape queued behind one stuck on a hung server
// would start its own full timeout after the first one gave up, and
// answer long after Prometheus stopped waiting.

// Take waits for one of sem's slots until ctx ends, saying what it waited
// for when it gets none. Unlike sem.Acquire it never takes a slot once ctx
// has ended, so a scrape past its deadline does not begin.
func Take(ctx context.Context, sem *semaphore.Weighted, waitedFor string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("the scrape's deadline passed before it began: %w", context.Cause(ctx))
	}
	if err := sem.Acquire(ctx, 1); err != nil {
		return fmt.Errorf("waited for %s until the deadline: %w", waitedFor, context.Cause(ctx))
	}
	return nil
}

// Scraper is a collector whose scrape can be bound to a request's deadline.
type Scraper interface {
	prometheus.Collector
	// Within is the collector with every scrape ending by ctx (and by
	// its own Timeout, whichever comes first).
	Within(ctx context.Context) prometheus.Collector
}

// scrapes gives both collectors (PostgreSQL, PgBouncer) their Collect and
// Within: one scrape of the target at a time, each under its timeout and
// the request's deadline. run is the collector's scrape, begun at start
// (before the wait for the turn) and holding the turn.
type scrapes struct {
	turn     *semaphore.Weighted
	timeout  time.Duration
	up       *prometheus.Desc // failed when the scrape gets no turn
	describe func(chan<- *prometheus.Desc)
	run      func(ctx context.Context, start time.Time, ch chan<- prometheus.Metric)
}

func newScrapes(timeout time.Duration, up *prometheus.Desc, describe func(chan<- *prometheus.Desc), run func(context.Context, time.Time, chan<- prometheus.Metric)) scrapes {
	return scrapes{turn: semaphore.NewWeighted(1), timeout: timeout, up: up, describe: describe, run: run}
}

// Collect runs one scrape under the timeout.
func (s scrapes) Collect(ch chan<- prometheus.Metric) { s.collectWithin(context.Background(), ch) }

// Within binds scrapes to ctx's deadline too.
func (s scrapes) Within(ctx context.Context) prometheus.Collector { return within{ctx: ctx, s: s} }

func (s scrapes) collectWithin(parent context.Context, ch chan<- prometheus.Metric) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(parent, s.timeout)
	defer cancel()
	if err := Take(ctx, s.turn, "an earlier scrape of this target"); err != nil {
		// The page Prometheus reads says the target was not scraped,
		// rather than up 0, which would say it was and failed.
		ch <- prometheus.NewInvalidMetric(s.up, err)
		return
	}
	defer s.turn.Release(1)
	s.run(ctx, start, ch)
}

// within is a collector's scrapes bound to one request's context.
type within struct {
	ctx context.Context
	s   scrapes
}

func (w within) Describe(ch chan<- *prometheus.Desc) { w.s.describe(ch) }
func (w within) Collect(ch chan<- prometheus.Metric) { w.s.collectWithin(w.ctx, ch) }
