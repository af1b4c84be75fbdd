package main

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/semaphore"

	"github.com/hotel-ops/hotel-ops/exporters/pgha_exporter/collector"
	"github.com/hotel-ops/hotel-ops/exporters/pgha_exporter/config"
)

// target is one PostgreSQL instance or PgBouncer with its pool, collector
// and (PostgreSQL only) heartbeat.
type target struct {
	pool      *pgxpool.Pool
	collector collector.Scraper
	cancel    context.CancelFunc
	done      chan struct{}

	// Guarded by targetManager.mu.
	pinned   bool      // served on /metrics: never closed for idleness
	inFlight int       // probes using it now
	lastUsed time.Time // when the last probe ended
}

// targetManager opens each target on first use and keeps it while it is
// probed: its pool keeps the connections open and its collector remembers
// state between scrapes. A /probe target unused for --probe.idle-timeout is
// closed, so an exporter serving a fleet holds sessions only on the
// clusters Prometheus still scrapes, and at most --probe.max-parallel
// probes run at once, whatever the number of targets.
type targetManager struct {
	ctx     context.Context
	flags   flags
	logger  *slog.Logger
	targets *config.Targets
	slots   *semaphore.Weighted // one per probe running

	mu   sync.Mutex
	live map[string]*target
	stop chan struct{}
	wg   sync.WaitGroup
}

func newTargetManager(ctx context.Context, f flags, logger *slog.Logger, targets *config.Targets) *targetManager {
	tm := &targetManager{ctx: ctx, flags: f, logger: logger, targets: targets,
		slots: semaphore.NewWeighted(int64(max(f.probeParallel, 1))), live: map[string]*target{}, stop: make(chan struct{})}
	if f.probeIdle > 0 && targets != nil {
		tm.wg.Add(1)
		go tm.closeIdle(f.probeIdle)
	}
	return tm
}

// get returns the open target, opening it on first use, and counts it in
// use until release. Opening does not connect (the pool connects on the
// first scrape), so holding the lock across it is cheap and keeps two
// first probes from opening twice.
func (tm *targetManager) get(name string, tgt config.Target) (*target, error) {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	t := tm.live[name]
	if t == nil {
		var err error
		if t, err = tm.open(name, tgt); err != nil {
			return nil, err
		}
	}
	t.inFlight++
	return t, nil
}

// pin gets a target for /metrics: opened now and never closed for idleness.
func (tm *targetManager) pin(name string, tgt config.Target) (*target, error) {
	t, err := tm.get(name, tgt)
	if err != nil {
		return nil, err
	}
	tm.mu.Lock()
	t.pinned = true
	tm.mu.Unlock()
	return t, nil
}

func (tm *targetManager) release(t *target) {
	tm.mu.Lock()
	t.inFlight--
	t.lastUsed = time.Now()
	tm.mu.Unlock()
}

// closeIdle closes, every quarter of the idle timeout, the targets that
// no probe has used for that long.
func (tm *targetManager) closeIdle(idle time.Duration) {
	defer tm.wg.Done()
	tick := time.NewTicker(max(idle/4, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-tm.stop:
			return
		case <-tick.C:
		}
		var idleOnes []*target
		tm.mu.Lock()
		for name, t := range tm.live {
			if !t.pinned && t.inFlight == 0 && time.Since(t.lastUsed) >= idle {
				delete(tm.live, name)
				idleOnes = append(idleOnes, t)
				tm.logger.Info("Closing an idle probe target", "target", name, "idle", time.Since(t.lastUsed).Round(time.Second))
			}
		}
		tm.mu.Unlock()
		for _, t := range idleOnes {
			t.shut()
		}
	}
}

// shut stops the heartbeat and closes the pool's connections.
func (t *target) shut() {
	t.cancel()
	<-t.done
	t.pool.Close()
}

// probe serves /probe?target=NAME for targets named in the config file.
func (tm *targetManager) probe(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("target")
	if tm.targets == nil {
		http.Error(w, "no --config.file given: /probe is disabled", http.StatusNotFound)
		return
	}
	tgt, ok := tm.targets.Targets[name]
	if name == "" || !ok {
		http.Error(w, fmt.Sprintf("unknown target %q: /probe only connects to targets named in the config file", name), http.StatusBadRequest)
		return
	}
	// One deadline from the request's arrival: the turn among the probes
	// running, the target's own turn and the scrape all end by it, since
	// past it Prometheus has given up anyway.
	budget := scrapeBudget(r.Header, tm.flags.timeout)
	ctx, cancel := context.WithTimeout(r.Context(), budget)
	defer cancel()
	if err := collector.Take(ctx, tm.slots, fmt.Sprintf("one of the %d probes running (--probe.max-parallel)", max(tm.flags.probeParallel, 1))); err != nil {
		http.Error(w, fmt.Sprintf("no turn within %s: %v", budget, err), http.StatusServiceUnavailable)
		return
	}
	defer tm.slots.Release(1)
	t, err := tm.get(name, tgt)
	if err != nil {
		// The only place the name is added: errors of get do not carry it.
		tm.logger.Error("Opening probe target", "target", name, "err", err)
		http.Error(w, fmt.Sprintf("target %q: %v", name, err), http.StatusInternalServerError)
		return
	}
	defer tm.release(t)
	serveWithin(ctx, w, r, tm.logger.With("target", name), promhttp.HTTPErrorOnError, nil, t.collector)
}

// metrics serves /metrics: the exporter's own figures from static, as
// they are, and the targets pinned by the DSN flags, whose scrape ends by
// one deadline from the request's arrival, the same as a probe's. A
// pinned target that gets no turn by then (an earlier scrape of it still
// runs) is left out of the page and logged, while the rest is served: a
// PostgreSQL whose scrape is stuck must not hide the PgBouncer beside it,
// nor the exporter's own figures. A probe has one target: it fails whole.
func (tm *targetManager) metrics(static prometheus.Gatherer, pinned []collector.Scraper) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), scrapeBudget(r.Header, tm.flags.timeout))
		defer cancel()
		serveWithin(ctx, w, r, tm.logger, promhttp.ContinueOnError, prometheus.Gatherers{static}, pinned...)
	})
}

// serveWithin answers one scrape: gatherers, and scrapers bound to ctx,
// with onError deciding what a failed gathering serves. Each scraper gets
// a registry of its own, since the PostgreSQL collector describes every
// pgha_* descriptor, pgha_pgbouncer_* included, and all are gathered at
// once (collector.Parallel).
func serveWithin(ctx context.Context, w http.ResponseWriter, r *http.Request, logger *slog.Logger, onError promhttp.HandlerErrorHandling, gatherers prometheus.Gatherers, scrapers ...collector.Scraper) {
	for _, s := range scrapers {
		reg := prometheus.NewRegistry()
		reg.MustRegister(s.Within(ctx))
		gatherers = append(gatherers, reg)
	}
	promhttp.HandlerFor(collector.Parallel(gatherers), promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelError), ErrorHandling: onError}).ServeHTTP(w, r)
}

// scrapeMargin is what a scrape leaves of Prometheus' scrape_timeout for
// writing the answer and carrying it back.
const scrapeMargin = 250 * time.Millisecond

// scrapeBudget is how long a scrape (a probe or /metrics) may take:
// --scrape.timeout, or less when Prometheus says
// (X-Prometheus-Scrape-Timeout-Seconds) it waits less.
func scrapeBudget(h http.Header, timeout time.Duration) time.Duration {
	s, err := strconv.ParseFloat(h.Get("X-Prometheus-Scrape-Timeout-Seconds"), 64)
	if err != nil || s <= 0 || math.IsNaN(s) || s >= 2*timeout.Seconds() {
		return timeout // twice it or more (+Inf too) leaves it whole; no conversion overflows
	}
	wait := time.Duration(s * float64(time.Second))
	// A short scrape_timeout keeps most of itself: the margin is at most
	// a tenth of it.
	return min(timeout, wait-min(scrapeMargin, wait/10))
}

func (tm *targetManager) close() {
	close(tm.stop)
	tm.wg.Wait()
	tm.mu.Lock()
	defer tm.mu.Unlock()
	for _, t := range tm.live {
		t.shut()
	}
}
