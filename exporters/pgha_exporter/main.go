// Command pgha_exporter exports PostgreSQL replication, replication slot,
// WAL archiver, connection and slow query metrics for Prometheus, and
// PgBouncer's pools and limits from its admin console.
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/hotel-ops/hotel-ops/exporters/pgha_exporter/collector"
	"github.com/hotel-ops/hotel-ops/exporters/pgha_exporter/config"
	"github.com/hotel-ops/hotel-ops/internal/service"
)

type flags struct {
	dsn, dsnFile    string
	bouncerDSN      string
	bouncerDSNFile  string
	configFile      string
	timeout         time.Duration
	thresholds      []time.Duration
	heartbeatTable  string
	exactStates     bool
	heartbeatEvery  time.Duration
	heartbeatCreate bool
	maxConns        int32
	probeParallel   int
	probeIdle       time.Duration
	metricsPath     string
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	svc := service.New("pgha_exporter", "Prometheus exporter for PostgreSQL streaming replication, slots, WAL archiving, connections and slow queries.", ":9187")
	var f flags
	a := svc.App
	a.Flag("pg.dsn", "DSN of the PostgreSQL instance served on /metrics (libpq keyword/value or postgres:// URL). Prefer --pg.dsn-file or PGPASSWORD for secrets.").Envar("PGHA_DSN").StringVar(&f.dsn)
	a.Flag("pg.dsn-file", "File holding the DSN of the instance served on /metrics.").Envar("PGHA_DSN_FILE").StringVar(&f.dsnFile)
	a.Flag("pgbouncer.dsn", "DSN of a PgBouncer admin console (dbname=pgbouncer, a user in admin_users or stats_users) also served on /metrics. Prefer --pgbouncer.dsn-file for secrets.").Envar("PGHA_PGBOUNCER_DSN").StringVar(&f.bouncerDSN)
	a.Flag("pgbouncer.dsn-file", "File holding the DSN of the PgBouncer served on /metrics.").Envar("PGHA_PGBOUNCER_DSN_FILE").StringVar(&f.bouncerDSNFile)
	a.Flag("config.file", "YAML file naming the targets /probe?target=NAME may connect to.").StringVar(&f.configFile)
	a.Flag("scrape.timeout", "Deadline of one scrape from its arrival: waiting for its turn, connecting, every statement. A scrape of /metrics or /probe whose Prometheus sends a shorter scrape timeout (X-Prometheus-Scrape-Timeout-Seconds) gets that, less a margin; keep it below the scrape timeout of scrapers that do not send it.").Default("5s").DurationVar(&f.timeout)
	a.Flag("slow-query.threshold", "Report queries and transactions running longer than this (repeatable). Defaults: the spec's 1s and 5s.").DurationListVar(&f.thresholds)
	a.Flag("activity.exact-states", "Read connection states from pg_stat_activity, which tells sessions idle in a failed transaction block from idle ones, at a server cost that grows with the square of the connections (the default one pass counts them idle).").BoolVar(&f.exactStates)
	a.Flag("heartbeat.table", "Table (table or schema.table) the exporter writes a heartbeat into on a primary and reads on every scrape for true end-to-end lag. Empty disables.").StringVar(&f.heartbeatTable)
	a.Flag("heartbeat.interval", "How often the heartbeat is written on a primary.").Default("1s").DurationVar(&f.heartbeatEvery)
	a.Flag("heartbeat.create", "Create the heartbeat table if it does not exist (needs CREATE on its schema).").BoolVar(&f.heartbeatCreate)
	a.Flag("probe.max-parallel", "Probes of /probe served at once; others wait their turn within --scrape.timeout.").Default("10").IntVar(&f.probeParallel)
	a.Flag("probe.idle-timeout", "A /probe target not probed for this long has its connections closed (and its heartbeat stopped); the next probe opens it again. 0 keeps them open.").Default("10m").DurationVar(&f.probeIdle)
	a.Flag("pg.max-connections", "Connections kept open per target (scrapes reuse them; the heartbeat shares them).").Default("2").Int32Var(&f.maxConns)
	a.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").StringVar(&f.metricsPath)
	if _, err := svc.Parse(args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	logger := svc.Logger
	if err := f.validate(); err != nil {
		logger.Error("Invalid flags", "err", err)
		return 2
	}
	var targets *config.Targets
	if f.configFile != "" {
		var err error
		if targets, err = config.LoadTargets(f.configFile); err != nil {
			logger.Error("Invalid configuration", "err", err)
			return 2
		}
	}
	ctx, stop := service.SignalContext()
	defer stop()

	tm := newTargetManager(ctx, f, logger, targets)
	defer tm.close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(svc.BuildInfoCollector(), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var pinned []collector.Scraper // served on /metrics beside the exporter's own figures
	if f.dsn != "" || f.dsnFile != "" {
		// Named as the flag given, which no targets file entry can be
		// (those start with a letter or digit): a target "default" stays
		// its own.
		name := dsnFlag("--pg.dsn", f.dsnFile)
		t, err := tm.pin(name, config.Target{Source: config.Source{DSN: f.dsn, File: f.dsnFile}})
		if err != nil {
			logger.Error("Invalid DSN", "err", fmt.Errorf("%s: %w", name, err))
			return 2
		}
		pinned = append(pinned, t.collector)
	}
	if f.bouncerDSN != "" || f.bouncerDSNFile != "" {
		name := dsnFlag("--pgbouncer.dsn", f.bouncerDSNFile)
		t, err := tm.pin(name, config.Target{Source: config.Source{DSN: f.bouncerDSN, File: f.bouncerDSNFile}, Kind: config.KindPgBouncer})
		if err != nil {
			logger.Error("Invalid PgBouncer DSN", "err", fmt.Errorf("%s: %w", name, err))
			return 2
		}
		pinned = append(pinned, t.collector)
	}
	if len(pinned) == 0 && targets == nil {
		logger.Error("Nothing to scrape: give --pg.dsn, --pg.dsn-file (or PGHA_DSN), --pgbouncer.dsn, --pgbouncer.dsn-file, or --config.file with targets for /probe")
		return 2
	}
	mux, err := svc.MuxHandler(tm.metrics(reg, pinned), f.metricsPath, service.Link{Path: "/probe?target=", Text: "Probe a target named in --config.file"})
	if err != nil {
		logger.Error("Web handlers", "err", err)
		return 1
	}
	mux.HandleFunc("/probe", tm.probe)

	if err := svc.Serve(ctx, mux); err != nil {
		logger.Error("Exiting", "err", err)
		return 1
	}
	return 0
}

// dsnFlag is the DSN flag the user gave: flag, or flag-file when file is
// set. It names the pinned target in errors and logs.
func dsnFlag(flag, file string) string {
	if file != "" {
		return flag + "-file"
	}
	return flag
}

func (f *flags) validate() error {
	if f.timeout <= 0 {
		return fmt.Errorf("--scrape.timeout must be positive")
	}
	for _, t := range f.thresholds {
		if t <= 0 {
			return fmt.Errorf("--slow-query.threshold %s must be positive", t)
		}
	}
	if f.heartbeatTable != "" {
		if _, err := collector.ParseTable(f.heartbeatTable); err != nil {
			return fmt.Errorf("--heartbeat.table: %w", err)
		}
		if f.heartbeatEvery <= 0 {
			return fmt.Errorf("--heartbeat.interval must be positive")
		}
	}
	if f.probeParallel < 1 {
		return fmt.Errorf("--probe.max-parallel must be at least 1")
	}
	if f.probeIdle < 0 {
		return fmt.Errorf("--probe.idle-timeout must not be negative")
	}
	if f.maxConns < 1 {
		return fmt.Errorf("--pg.max-connections must be at least 1")
	}
	if f.dsn != "" && f.dsnFile != "" {
		return fmt.Errorf("give either --pg.dsn or --pg.dsn-file, not both")
	}
	if f.bouncerDSN != "" && f.bouncerDSNFile != "" {
		return fmt.Errorf("give either --pgbouncer.dsn or --pgbouncer.dsn-file, not both")
	}
	return nil
}

// open builds a target; the caller holds tm.mu. Its errors do not name the
// target: the caller, which knows how the user named it, does.
func (tm *targetManager) open(name string, tgt config.Target) (*target, error) {
	dsn, err := tgt.Resolve()
	if err != nil {
		return nil, err
	}
	cfg, err := config.ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	f := tm.flags
	cfg.MaxConns = f.maxConns
	cfg.MinConns = 0
	cfg.MaxConnIdleTime = time.Hour
	cfg.ConnConfig.ConnectTimeout = f.timeout
	rp := cfg.ConnConfig.RuntimeParams
	if rp["application_name"] == "" {
		rp["application_name"] = "pgha_exporter"
	}
	config.RereadPassword(cfg, tgt.Source)
	if tgt.PgBouncer() {
		return tm.openPgBouncer(name, cfg)
	}
	// A server-side guard as well, should the client deadline be lost.
	rp["statement_timeout"] = strconv.FormatInt(f.timeout.Milliseconds(), 10)
	pool, err := pgxpool.NewWithConfig(tm.ctx, cfg)
	if err != nil {
		return nil, err
	}
	logger := tm.logger.With("target", name)
	var thresholds []float64
	for _, d := range f.thresholds {
		thresholds = append(thresholds, d.Seconds())
	}
	t := &target{
		pool: pool,
		collector: collector.New(pool, collector.Options{
			Timeout: f.timeout, QueryThresholds: thresholds, HeartbeatTable: f.heartbeatTable, ExactStates: f.exactStates,
		}, logger),
		done: make(chan struct{}),
	}
	var hctx context.Context
	hctx, t.cancel = context.WithCancel(tm.ctx)
	if f.heartbeatTable != "" {
		w := &collector.HeartbeatWriter{Pool: pool, Table: f.heartbeatTable, Interval: f.heartbeatEvery, Create: f.heartbeatCreate, Logger: logger}
		go func() { defer close(t.done); _ = w.Run(hctx) }()
	} else {
		close(t.done)
	}
	logger.Info("Watching PostgreSQL", "dsn", config.Describe(&cfg.ConnConfig.Config))
	tm.live[name] = t
	return t, nil
}

// openPgBouncer builds a PgBouncer target; the caller holds tm.mu.
func (tm *targetManager) openPgBouncer(name string, cfg *pgxpool.Config) (*target, error) {
	if err := config.PgBouncerConsole(cfg); err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(tm.ctx, cfg)
	if err != nil {
		return nil, err
	}
	logger := tm.logger.With("target", name)
	t := &target{
		pool:      pool,
		collector: collector.NewPgBouncer(pool, collector.PgBouncerOptions{Timeout: tm.flags.timeout}, logger),
		cancel:    func() {},
		done:      make(chan struct{}),
	}
	close(t.done)
	logger.Info("Watching PgBouncer", "dsn", config.Describe(&cfg.ConnConfig.Config))
	tm.live[name] = t
	return t, nil
}
