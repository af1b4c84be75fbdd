// Command sla_exporter exports business metrics read from SQL and Redis,
// the SLA per calendar period computed from Prometheus, and escalator's
// incident figures; `sla_exporter report` writes the weekly and monthly
// reports of the spec as HTML and PDF.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/business"
	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/config"
	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/incidents"
	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/period"
	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/report"
	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/sla"
	"github.com/hotel-ops/hotel-ops/internal/service"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout)) }

func run(args []string, stdout io.Writer) int {
	svc := service.New("sla_exporter", "Prometheus exporter for business metrics from SQL and Redis, the SLA per calendar period and incident figures; writes the weekly and monthly reports.", ":9189")
	var configFile, metricsPath string
	svc.App.Flag("config.file", "YAML configuration: database, redis, queries, sla, escalator, reports.").Required().StringVar(&configFile)
	serve := svc.App.Command("serve", "Export the metrics (the default).").Default()
	serve.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").StringVar(&metricsPath)
	check := svc.App.Command("check-config", "Validate the configuration and read its secrets, then exit.")
	rep := svc.App.Command("report", "Write the report of a period: weekly (2026-W48) or monthly (2026-11).")
	var periodName, out, formats string
	rep.Flag("period", "The period: 2026-W48 (an ISO week) or 2026-11 (a month), in the SLA's time zone.").Required().StringVar(&periodName)
	rep.Flag("out", "Path of the report without extension; .html and .pdf are added.").Default("report").StringVar(&out)
	rep.Flag("format", "Comma-separated formats to write: html, pdf.").Default("html,pdf").StringVar(&formats)

	cmd, err := svc.Parse(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	logger := svc.Logger
	business.Logger(logger)
	cfg, err := config.Load(configFile)
	if err != nil {
		logger.Error("Invalid configuration", "err", err)
		return 2
	}
	switch cmd {
	case check.FullCommand():
		if err := checkSecrets(cfg); err != nil {
			logger.Error("Invalid configuration", "file", configFile, "err", err)
			return 2
		}
		fmt.Fprintf(stdout, "%s: %d queries, SLA %v, escalator %v: OK\n", configFile, len(cfg.Queries), cfg.SLA != nil, cfg.Escalator != nil)
		return 0
	case rep.FullCommand():
		return writeReport(cfg, periodName, out, formats, stdout, logger)
	}

	ctx, stop := service.SignalContext()
	defer stop()
	reg := prometheus.NewRegistry()
	reg.MustRegister(svc.BuildInfoCollector(), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	parts, closeAll, err := build(ctx, cfg, logger)
	if err != nil {
		logger.Error("Invalid configuration", "file", configFile, "err", err)
		return 2
	}
	defer closeAll()
	for _, p := range parts {
		// A query's metric named like one of the Go or process collector's
		// is refused here, not by a panic at the first scrape.
		if err := reg.Register(p); err != nil {
			logger.Error("Invalid configuration", "file", configFile, "err", fmt.Errorf("a query's metric clashes with another: %w", err))
			return 2
		}
	}
	for _, p := range parts {
		go p.Run(ctx)
	}
	return svc.ServeMetrics(ctx, reg, metricsPath)
}

// part is a collector that refreshes itself in the background.
type part interface {
	prometheus.Collector
	Run(ctx context.Context)
}

// build wires the configured parts; closeAll releases their connections.
func build(ctx context.Context, cfg *config.Config, logger *slog.Logger) ([]part, func(), error) {
	var parts []part
	var closers []func()
	closeAll := func() {
		for _, c := range closers {
			c()
		}
	}
	if len(cfg.Queries) > 0 {
		var sqlSrc, redisSrc business.Source
		if cfg.Database != nil {
			dsn, err := cfg.Database.DSN()
			if err != nil {
				return nil, closeAll, fmt.Errorf("database: %w", err)
			}
			s, err := business.NewSQL(ctx, dsn, cfg.Database.MaxConns)
			if err != nil {
				return nil, closeAll, err
			}
			sqlSrc, closers = s, append(closers, s.Close)
		}
		if cfg.Redis != nil {
			r, err := business.NewRedis(cfg.Redis)
			if err != nil {
				return nil, closeAll, err
			}
			redisSrc, closers = r, append(closers, func() { r.Close() })
		}
		runner, err := business.New(cfg, sqlSrc, redisSrc, logger)
		if err != nil {
			return nil, closeAll, err
		}
		parts = append(parts, runner)
	}
	if cfg.SLA != nil {
		api, err := sla.NewAPI(cfg.SLA)
		if err != nil {
			return nil, closeAll, fmt.Errorf("sla: %w", err)
		}
		parts = append(parts, sla.NewCollector(cfg.SLA, sla.New(cfg.SLA, api), logger))
	}
	if cfg.Escalator != nil {
		c, err := incidents.New(cfg.Escalator, location(cfg), logger)
		if err != nil {
			return nil, closeAll, err
		}
		parts = append(parts, c)
	}
	return parts, closeAll, nil
}

// location is the time zone of periods: the SLA's, else the spec's.
func location(cfg *config.Config) *time.Location {
	if cfg.SLA != nil && cfg.SLA.Location != nil {
		return cfg.SLA.Location
	}
	loc, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		return time.UTC // no zone database: say so in the period names' offsets
	}
	return loc
}

// checkSecrets reads every secret the configuration names, as serve
// would, without printing any.
func checkSecrets(cfg *config.Config) error {
	var errs []error
	if cfg.Database != nil {
		if dsn, err := cfg.Database.DSN(); err != nil {
			errs = append(errs, fmt.Errorf("database: %w", err))
		} else if _, err := pgxpool.ParseConfig(dsn); err != nil {
			errs = append(errs, errors.New("database: the DSN does not parse as a PostgreSQL connection string or URL")) // never quote it: it may hold a password
		}
	}
	if cfg.Redis != nil {
		if _, err := cfg.Redis.Password(); err != nil {
			errs = append(errs, fmt.Errorf("redis: %w", err))
		}
	}
	if cfg.SLA != nil {
		if _, err := cfg.SLA.BearerToken(); err != nil {
			errs = append(errs, fmt.Errorf("sla: %w", err))
		}
	}
	if cfg.Escalator != nil {
		if _, err := cfg.Escalator.Token(); err != nil {
			errs = append(errs, fmt.Errorf("escalator: %w", err))
		}
	}
	return errors.Join(errs...)
}

// writeReport builds the report of one period and writes it in each
// format asked for.
func writeReport(cfg *config.Config, name, out, formats string, stdout io.Writer, logger *slog.Logger) int {
	p, err := period.Parse(strings.ToUpper(name), location(cfg))
	if err != nil || (p.Span != "week" && p.Span != "month") {
		logger.Error("Invalid period", "period", name, "want", "an ISO week (2026-W48) for the weekly report or a month (2026-11) for the monthly one")
		return 2
	}
	var want []string
	for _, f := range strings.Split(formats, ",") {
		f = strings.TrimSpace(f)
		if f != "html" && f != "pdf" {
			logger.Error("Invalid format", "format", f, "want", "html, pdf")
			return 2
		}
		want = append(want, f)
	}
	var src report.Sources
	if cfg.SLA != nil {
		api, err := sla.NewAPI(cfg.SLA)
		if err != nil {
			logger.Error("SLA source", "err", err)
			return 2
		}
		src.Prometheus, src.SLA = api, sla.New(cfg.SLA, api)
	}
	if e := cfg.Escalator; e != nil {
		token, err := e.Token()
		if err != nil {
			logger.Error("Escalator token", "err", err)
			return 2
		}
		src.Incidents = &incidents.Client{URL: e.URL, Token: token}
	}
	ctx, stop := service.SignalContext()
	defer stop()
	start := time.Now()
	r, err := report.Build(ctx, src, cfg.Reports, p, time.Now())
	if err != nil {
		logger.Error("Building the report", "period", p.Name, "err", err)
		return 1
	}
	if dir := filepath.Dir(out); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			logger.Error("Output directory", "err", err)
			return 1
		}
	}
	for _, f := range want {
		path := out + "." + f
		if err := writeFile(path, func(w io.Writer) error {
			if f == "html" {
				return report.WriteHTML(w, r)
			}
			return report.WritePDF(w, r)
		}); err != nil {
			logger.Error("Writing the report", "file", path, "err", err)
			return 1
		}
		fmt.Fprintf(stdout, "%s\n", path)
	}
	if failed := r.Failures(); len(failed) > 0 {
		logger.Error("Report written with sections missing figures", "period", p.Name, "failures", len(failed), "first", failed[0])
		return 1
	}
	logger.Info("Report written", "period", p.Name, "took", time.Since(start).Round(time.Millisecond))
	return 0
}

// writeFile writes through a temporary file renamed into place, so that
// a reader (a mailer, a web server) never sees half a report.
func writeFile(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".report-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
