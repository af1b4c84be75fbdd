// Command pitr_exporter tells whether point-in-time recovery holds: backup
// freshness against policy, WAL chain continuity, the PITR window and RPO,
// bucket encryption and cross-region copy, read from the backup repository
// in S3 itself; `pitr_exporter restore-test` restores it for real and
// records how long that took.
package main

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/config"
	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/monitor"
	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/pgbackrest"
	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/repo"
	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/restore"
	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/s3store"
	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/wal"
	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/walg"
	"github.com/hotel-ops/hotel-ops/internal/service"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	svc := service.New("pitr_exporter", "Prometheus exporter for backup freshness, WAL chain continuity, PITR window and RPO of a pgBackRest or WAL-G repository in S3; restore tests that measure the RTO.", ":9188")
	var configFile, metricsPath string
	svc.App.Flag("config.file", "YAML configuration: repository, S3 bucket, replica bucket, policy, refresh, restore_test.").Required().StringVar(&configFile)
	serve := svc.App.Command("serve", "Export the metrics (the default).").Default()
	serve.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").StringVar(&metricsPath)
	rt := svc.App.Command("restore-test", "Restore the repository into restore_test.scratch_dir, recover it with PostgreSQL, run the checks, remove it, and record the result in the bucket. Run it as the database's OS user, not root.")
	var opt restoreFlags
	rt.Flag("kind", "pitr: recover to a second of the PITR window (random unless --target); backup: restore the newest backup to its end.").Default(restore.KindPITR).EnumVar(&opt.kind, restore.KindPITR, restore.KindBackup)
	rt.Flag("target", "The time to recover to (RFC 3339, e.g. 2026-12-03T04:05:06.5+09:00); default a random one inside the window.").StringVar(&opt.target)
	rt.Flag("schedule", "Keep running and test on this cron schedule (\"30 4 * * *\"), in the policy's time zone; default one test now.").StringVar(&opt.schedule)
	cmd, err := svc.Parse(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	logger := svc.Logger
	cfg, err := config.Load(configFile)
	if err != nil {
		logger.Error("Invalid configuration", "err", err)
		return 2
	}
	ctx, stop := service.SignalContext()
	defer stop()
	if cmd == rt.FullCommand() {
		return restoreTest(ctx, cfg, opt, logger, os.Stdout)
	}
	mon, err := build(cfg, logger)
	if err != nil {
		logger.Error("Invalid configuration", "file", configFile, "err", err)
		return 2
	}
	go mon.Run(ctx)

	reg := prometheus.NewRegistry()
	reg.MustRegister(svc.BuildInfoCollector(), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), mon)
	return svc.ServeMetrics(ctx, reg, metricsPath)
}

// build wires a Monitor from a validated configuration.
func build(cfg *config.Config, logger *slog.Logger) (*monitor.Monitor, error) {
	layout, store, stats, g, err := buildRepository(cfg)
	if err != nil {
		return nil, err
	}
	var replica *s3store.Store
	if cfg.Replica != nil {
		if replica, err = s3store.New(cfg.Replica.S3, stats); err != nil {
			return nil, fmt.Errorf("replica: %w", err)
		}
	}
	return monitor.New(cfg, layout, store, replica, stats, watcherOptions(cfg, g), logger), nil
}

// watcherOptions are the refresh settings the watcher paces itself by:
// the re-check spreads its pass over the refreshes of recheck_within.
func watcherOptions(cfg *config.Config, g wal.Geometry) repo.Options {
	r := cfg.Refresh
	return repo.Options{Geometry: g, FullListEvery: time.Duration(r.FullListEvery), RecheckWithin: time.Duration(r.RecheckWithin), Interval: time.Duration(r.Interval)}
}

// buildRepository is the repository's layout and bucket.
func buildRepository(cfg *config.Config) (repo.Layout, *s3store.Store, *s3store.Stats, wal.Geometry, error) {
	g, err := wal.NewGeometry(cfg.Repository.WALSegmentSize)
	if err != nil {
		return nil, nil, nil, g, err
	}
	pass, err := cfg.CipherPass()
	if err != nil {
		return nil, nil, nil, g, err
	}
	var layout repo.Layout
	switch cfg.Repository.Type {
	case "pgbackrest":
		layout = &pgbackrest.Layout{Path: cfg.Repository.Path, Stanza: cfg.Repository.Stanza, CipherPass: pass, Geometry: g}
	case "walg":
		layout = &walg.Layout{Path: cfg.Repository.Path, Geometry: g}
	}
	stats := &s3store.Stats{}
	store, err := s3store.New(cfg.S3, stats)
	if err != nil {
		return nil, nil, nil, g, err
	}
	return layout, store, stats, g, nil
}
