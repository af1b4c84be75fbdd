package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/config"
	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/repo"
	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/restore"
	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/s3store"
)

type restoreFlags struct {
	kind, target, schedule string
}

// restoreTest runs `pitr_exporter restore-test`: one test, or one per
// schedule slot until ctx ends. Exit 0 when the (last) test succeeded, 1
// when it failed or could not run, 2 for bad flags or configuration.
func restoreTest(ctx context.Context, cfg *config.Config, f restoreFlags, logger *slog.Logger, stdout io.Writer) int {
	opt := restore.Options{Kind: f.kind}
	if f.target != "" {
		t, err := time.Parse(time.RFC3339Nano, f.target)
		if err != nil {
			logger.Error("Invalid --target: want RFC 3339, such as 2026-12-03T04:05:06+09:00", "target", f.target)
			return 2
		}
		if f.kind != restore.KindPITR {
			logger.Error("--target is for --kind=pitr")
			return 2
		}
		opt.Target = t
	}
	var sched cron.Schedule
	if f.schedule != "" {
		s, err := cron.ParseStandard(f.schedule)
		if err != nil {
			logger.Error("Invalid --schedule", "schedule", f.schedule, "err", err)
			return 2
		}
		sched = s
	}
	if os.Geteuid() == 0 {
		logger.Error("restore-test runs PostgreSQL, which refuses to run as root: run it as the database's OS user (postgres)")
		return 2
	}
	if cfg.RestoreTest.ScratchDir == "" {
		logger.Error("Invalid configuration: restore_test.scratch_dir is required for restore-test")
		return 2
	}
	runner, store, err := buildRunner(cfg, logger)
	if err != nil {
		logger.Error("Invalid configuration", "err", err)
		return 2
	}
	once := func() int {
		res, err := runner.Run(ctx, opt)
		if err != nil {
			logger.Error("Restore test not run to its end; nothing recorded", "err", err)
			return 1
		}
		logAttrs := []any{"kind", res.Kind, "outcome", res.Outcome, "backup", res.Backup, "target", res.Target,
			"fetch_seconds", res.Phases.Fetch, "replay_seconds", res.Phases.Replay, "check_seconds", res.Phases.Check}
		// With a deadline of its own: the test's may have passed.
		sctx, cancel := context.WithTimeout(context.Background(), time.Duration(cfg.Refresh.Timeout))
		defer cancel()
		saveErr := restore.Save(sctx, store, cfg.RestoreTest.ResultPrefix, res)
		out, _ := json.MarshalIndent(res, "", "  ")
		fmt.Fprintln(stdout, string(out))
		if saveErr != nil {
			// Unrecorded, a success is invisible to the exporters and
			// their rules: not a success of the scheduled test.
			logger.Error("Recording the restore test's result failed", append(logAttrs, "err", saveErr)...)
			return 1
		}
		if res.Outcome != restore.OutcomeSuccess {
			logger.Error("Restore test failed", append(logAttrs, "message", res.Message)...)
			return 1
		}
		logger.Info("Restore test succeeded", logAttrs...)
		return 0
	}
	if sched == nil {
		return once()
	}
	code := 0
	for {
		next := sched.Next(time.Now().In(cfg.Policy.Location))
		logger.Info("Next restore test", "kind", opt.Kind, "at", next)
		select {
		case <-ctx.Done():
			return code
		case <-time.After(time.Until(next)):
		}
		code = once()
	}
}

// buildRunner wires the runner: pgBackRest (the tool that can restore
// here), PostgreSQL's binaries, and a fresh complete reading of the
// repository for each test.
func buildRunner(cfg *config.Config, logger *slog.Logger) (*restore.Runner, *s3store.Store, error) {
	if cfg.Repository.Type != "pgbackrest" {
		return nil, nil, fmt.Errorf("restore-test restores pgBackRest repositories; %s is not supported yet", cfg.Repository.Type)
	}
	layout, store, _, g, err := buildRepository(cfg)
	if err != nil {
		return nil, nil, err
	}
	bindir := cfg.RestoreTest.PGBinDir // default: by the backup's version
	if bindir != "" {
		if _, err := os.Stat(filepath.Join(bindir, "postgres")); err != nil {
			return nil, nil, fmt.Errorf("restore_test.pg_bindir: %w", err)
		}
	}
	r := &restore.Runner{
		Config: cfg,
		Tool:   &restore.PgBackRest{Config: cfg.RestoreTest.PgBackRestConfig, Stanza: cfg.Repository.Stanza},
		BinDir: bindir,
		Logger: logger,
		Repository: func(ctx context.Context) (*repo.State, error) {
			w := repo.NewWatcher(layout, store, repo.Options{Geometry: g}, logger)
			return w.Refresh(ctx, time.Now())
		},
	}
	return r, store, nil
}
