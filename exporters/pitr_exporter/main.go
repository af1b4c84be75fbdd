// Command pitr_exporter tells whether point-in-time recovery holds: backup
// freshness against policy, WAL chain continuity, the PITR window and RPO,
// bucket encryption and cross-region copy, read from the backup repository
// in S3 itself.
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
	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/s3store"
	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/wal"
	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/walg"
	"github.com/hotel-ops/hotel-ops/internal/service"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	svc := service.New("pitr_exporter", "Prometheus exporter for backup freshness, WAL chain continuity, PITR window and RPO of a pgBackRest or WAL-G repository in S3.", ":9188")
	var configFile, metricsPath string
	svc.App.Flag("config.file", "YAML configuration: repository, S3 bucket, replica bucket, policy, refresh.").Required().StringVar(&configFile)
	svc.App.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").StringVar(&metricsPath)
	if _, err := svc.Parse(args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	logger := svc.Logger
	cfg, err := config.Load(configFile)
	if err != nil {
		logger.Error("Invalid configuration", "err", err)
		return 2
	}
	mon, err := build(cfg, logger)
	if err != nil {
		logger.Error("Invalid configuration", "file", configFile, "err", err)
		return 2
	}
	ctx, stop := service.SignalContext()
	defer stop()
	go mon.Run(ctx)

	reg := prometheus.NewRegistry()
	reg.MustRegister(svc.BuildInfoCollector(), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), mon)
	return svc.ServeMetrics(ctx, reg, metricsPath)
}

// build wires a Monitor from a validated configuration.
func build(cfg *config.Config, logger *slog.Logger) (*monitor.Monitor, error) {
	g, err := wal.NewGeometry(cfg.Repository.WALSegmentSize)
	if err != nil {
		return nil, err
	}
	pass, err := cfg.CipherPass()
	if err != nil {
		return nil, err
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
		return nil, err
	}
	var replica *s3store.Store
	if cfg.Replica != nil {
		if replica, err = s3store.New(cfg.Replica.S3, stats); err != nil {
			return nil, fmt.Errorf("replica: %w", err)
		}
	}
	opt := repo.Options{Geometry: g, FullListEvery: time.Duration(cfg.Refresh.FullListEvery)}
	return monitor.New(cfg, layout, store, replica, stats, opt, logger), nil
}
