// Package collector turns one PostgreSQL instance into pgha_* metrics.
//
// A scrape sends a fixed, small set of SQL statements (five, six with the
// heartbeat) in one pipelined batch on a connection kept open in a pool: one
// network round trip and no new session per scrape. Each concern has its
// own file: status.go
// (role, settings, WAL positions, WAL receiver, archiver), replication.go
// (standbys seen by a primary), standby.go (honest lag seen by a standby),
// slots.go, archiver.go, activity.go (connections, long queries and
// transactions), database.go (deadlocks) and heartbeat.go.
package collector

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotel-ops/hotel-ops/internal/descset"
)

const namespace = "pgha"

// Options tune a Collector.
type Options struct {
	// Timeout bounds a whole scrape: connecting, every statement, reading.
	Timeout time.Duration
	// QueryThresholds are the durations for pgha_queries_running_longer_than
	// and pgha_transactions_running_longer_than (the spec's 1s and 5s).
	QueryThresholds []float64
	// HeartbeatTable, when set, is read on every scrape (and written by
	// StartHeartbeat on a primary) for end-to-end lag.
	HeartbeatTable string
	// ExactStates reads connection states from pg_stat_activity, whose
	// server cost grows with the square of the connections, instead of
	// the one pass that counts sessions in a failed transaction block as
	// idle (activity.go).
	ExactStates bool
}

// DefaultQueryThresholds are SPEC-2025-016's slow query levels: warning at
// 1 second, critical at 5 seconds.
var DefaultQueryThresholds = []float64{1, 5}

// scrape is what the concerns share during one collection.
type scrape struct {
	status *status
	ch     chan<- prometheus.Metric
}

// concern is one part of the instance's metrics.
type concern interface {
	name() string
	// statement is the concern's SQL, or "" when it reads only the status row.
	statement() (sql string, args []any)
	// collect emits the metrics from the statement's rows (nil without one).
	collect(s *scrape, rows pgx.Rows) error
}

// Collector exports the metrics of one PostgreSQL instance. It keeps a small
// pool of connections open across scrapes so that a scrape opens no new
// database session.
type Collector struct {
	pool     *pgxpool.Pool
	opts     Options
	logger   *slog.Logger
	concerns []concern // batched together
	separate []concern // each on its own, after the batch
	standby  *standbyConcern

	scrapes                    // Collect and Within: one scrape at a time, since the standby lag keeps state
	errors  map[string]float64 // pgha_scrape_errors_total by collector
}

// New builds a Collector on pool. The pool is owned by the caller.
func New(pool *pgxpool.Pool, opts Options, logger *slog.Logger) *Collector {
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if len(opts.QueryThresholds) == 0 {
		opts.QueryThresholds = DefaultQueryThresholds
	}
	c := &Collector{
		pool:   pool,
		opts:   opts,
		logger: logger,
		errors: map[string]float64{},
	}
	c.scrapes = newScrapes(opts.Timeout, upDesc, c.Describe, c.run)
	c.standby = &standbyConcern{}
	c.concerns = []concern{
		c.standby,
		archiverConcern{},
		newActivityConcern(opts.QueryThresholds, opts.ExactStates),
		replicationConcern{},
		slotsConcern{},
		databaseConcern{},
	}
	if opts.HeartbeatTable != "" {
		// A missing heartbeat table fails when the batch is prepared, which
		// would fail the whole batch: the heartbeat runs on its own.
		c.separate = append(c.separate, newHeartbeatReader(opts.HeartbeatTable))
	}
	for _, k := range append([]string{"status"}, c.names()...) {
		c.errors[k] = 0 // export zero before the first error
	}
	return c
}

func (c *Collector) names() []string {
	var out []string
	for _, k := range append(c.concerns, c.separate...) {
		out = append(out, k.name())
	}
	return out
}

var (
	upDesc               = newDesc("up", "Whether the last scrape could connect to PostgreSQL and read its status (1) or not (0).")
	scrapeDurationDesc   = newDesc("scrape_duration_seconds", "Time the last scrape of PostgreSQL took.")
	collectorSuccessDesc = newDesc("scrape_collector_success", "Whether a collector succeeded in the last scrape.", "collector")
	scrapeErrorsDesc     = newDesc("scrape_errors_total", "Errors while collecting, by collector.", "collector")
)

// Describe sends every descriptor the collector may produce.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) { descs.Describe(ch) }

// run is one scrape, holding the turn (deadline.go).
func (c *Collector) run(ctx context.Context, start time.Time, ch chan<- prometheus.Metric) {
	up := 0.0
	if err := c.collect(ctx, ch); err != nil {
		c.errors["status"]++
		c.logger.Error("Scrape failed", "err", err)
	} else {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, up)
	ch <- prometheus.MustNewConstMetric(scrapeDurationDesc, prometheus.GaugeValue, time.Since(start).Seconds())
	for k, v := range c.errors {
		counter(ch, scrapeErrorsDesc, v, k)
	}
}

// collect sends the status query and every concern's statement in one
// batch. The batch is prepared and run as one implicit transaction: should
// a statement fail, the ones after it fail too and are reported failed.
// These statements read only system views and functions present since
// PostgreSQL 13, so on a healthy server they do not fail; the heartbeat,
// whose table may be missing, runs separately after the batch.
func (c *Collector) collect(ctx context.Context, ch chan<- prometheus.Metric) error {
	conn, err := c.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("connecting: %w", postgresLoginHint(err))
	}
	// A connection cut by the deadline is closed; the pool drops closed
	// connections on release, so none leaks.
	defer conn.Release()
	if isConsole(conn.Conn().PgConn()) {
		return errConsoleAsPostgres
	}

	b := &pgx.Batch{}
	b.Queue(statusQuery)
	for _, k := range c.concerns {
		if sql, args := k.statement(); sql != "" {
			b.Queue(sql, args...)
		}
	}
	br := conn.SendBatch(ctx, b)
	st, err := readStatus(br.QueryRow())
	if err != nil {
		br.Close()
		return fmt.Errorf("reading status: %w", err)
	}
	emitStatus(st, ch)
	s := &scrape{status: st, ch: ch}
	for _, k := range c.concerns {
		c.report(k, c.collectBatched(s, k, br), ch)
	}
	if err := br.Close(); err != nil && ctx.Err() != nil {
		return fmt.Errorf("batch: %w", err)
	}
	for _, k := range c.separate {
		c.report(k, c.collectAlone(ctx, s, k, conn), ch)
	}
	return nil
}

func (c *Collector) report(k concern, err error, ch chan<- prometheus.Metric) {
	if err != nil {
		c.errors[k.name()]++
		c.logger.Error("Collector failed", "collector", k.name(), "err", err)
	}
	gauge(ch, collectorSuccessDesc, boolf(err == nil), k.name())
}

func (c *Collector) collectBatched(s *scrape, k concern, br pgx.BatchResults) error {
	if sql, _ := k.statement(); sql == "" {
		return k.collect(s, nil)
	}
	rows, err := br.Query()
	if err != nil {
		return err
	}
	defer rows.Close()
	return k.collect(s, rows)
}

func (c *Collector) collectAlone(ctx context.Context, s *scrape, k concern, conn *pgxpool.Conn) error {
	sql, args := k.statement()
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	return k.collect(s, rows)
}

// descs declares every pgha_* descriptor, for Describe and for the mixin's
// check that each metric a rule uses is produced by an exporter.
var descs = descset.New(namespace)

func newDesc(name, help string, labels ...string) *prometheus.Desc {
	return descs.Desc(name, help, labels...)
}

// Descriptors returns the descriptors of every pgha_* metric.
func Descriptors() []*prometheus.Desc { return descs.All() }

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
}

func boolf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
