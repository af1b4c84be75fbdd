package restore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/config"
	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/repo"
)

// Runner runs restore tests of one repository.
type Runner struct {
	Config *config.Config
	Tool   Tool
	BinDir string // PostgreSQL's server binaries; default by the backup's PG_VERSION
	// Repository reads the repository afresh (a complete listing): the
	// test trusts no earlier reading of what is recoverable.
	Repository func(ctx context.Context) (*repo.State, error)
	Logger     *slog.Logger
	Now        func() time.Time
	Rand       *rand.Rand
}

// Options choose one test.
type Options struct {
	Kind   string    // KindBackup or KindPITR
	Target time.Time // pitr only; zero picks a random second of the window
}

// ErrBusy is another test holding the scratch directory: nothing is run
// and nothing recorded.
var ErrBusy = errors.New("restore test busy")

// ErrInterrupted is a test stopped from outside before its end: nothing
// is recorded.
var ErrInterrupted = errors.New("restore test interrupted")

// errDiskLow stops a test whose restore is filling the disk.
var errDiskLow = errors.New("disk space")

// Run runs one test to its end and returns its result; ErrBusy (another
// test holds the scratch directory) and ErrInterrupted return an error
// instead, and then there is nothing to record.
func (r *Runner) Run(parent context.Context, opt Options) (Result, error) {
	now := r.now()
	host, _ := os.Hostname()
	res := Result{Kind: opt.Kind, Tool: r.Tool.Name(), Host: host, Started: now}
	rt := r.Config.RestoreTest
	ctx, cancelDeadline := context.WithTimeout(parent, time.Duration(rt.Deadline))
	defer cancelDeadline()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	scratch, cleaned, err := OpenScratch(rt.ScratchDir)
	if errors.Is(err, ErrBusy) {
		return res, err // the other test records its own result
	}
	if err != nil {
		// A scratch directory this user cannot use: no test can run, and
		// the record says so.
		res.Outcome, res.Message, res.Finished = OutcomeError, err.Error(), r.now()
		return res, nil
	}
	defer scratch.Close()
	res.CleanedUp = cleaned
	if cleaned != "" {
		r.Logger.Warn("Cleaned up after an earlier restore test", "dir", rt.ScratchDir, "what", cleaned)
	}
	fail := func(outcome string, format string, args ...any) (Result, error) {
		res.Outcome, res.Message, res.Finished = outcome, fmt.Sprintf(format, args...), r.now()
		return res, nil
	}
	// failed classifies an error by what ended it: the deadline, the disk
	// watchdog, or the phase itself.
	failed := func(outcome string, err error) (Result, error) {
		switch {
		case parent.Err() != nil:
			// Stopped from outside (a signal): not the backups' failure,
			// so nothing is recorded.
			return res, fmt.Errorf("%w: %v", ErrInterrupted, err)
		case errors.Is(context.Cause(ctx), errDiskLow):
			return fail(OutcomeDiskSpace, "stopped: %v", context.Cause(ctx))
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			return fail(OutcomeTimeout, "the deadline of %s passed: %v", time.Duration(rt.Deadline), err)
		}
		return fail(outcome, "%v", err)
	}

	state, err := r.Repository(ctx)
	if err != nil {
		return failed(OutcomeError, fmt.Errorf("reading the repository: %w", err))
	}
	backup, target, problem := r.plan(state, opt)
	if problem != "" {
		return fail(OutcomeNoWindow, "%s", problem)
	}
	res.Backup, res.TargetGiven = backup.Label, !opt.Target.IsZero()
	res.Target = target
	if opt.Kind == KindBackup {
		res.Target = backup.Stop
	}

	disk, err := DiskOf(rt.ScratchDir)
	if err != nil {
		return fail(OutcomeError, "%v", err)
	}
	keep := r.keepFree(disk)
	need := uint64(max(backup.Size, 0)) + rt.WALAllowanceBytes
	if disk.Free < need+keep {
		return fail(OutcomeDiskSpace, "refused before starting: the restore needs about %s (backup %s + WAL allowance %s) and must leave %s free, but %s has %s free",
			sizeOf(need), sizeOf(uint64(max(backup.Size, 0))), sizeOf(rt.WALAllowanceBytes), sizeOf(keep), rt.ScratchDir, sizeOf(disk.Free))
	}
	stopWatch := r.watchDisk(ctx, cancel, rt.ScratchDir, keep)
	defer stopWatch()

	if err := os.MkdirAll(filepath.Join(scratch.RunDir(), "tablespaces"), 0o700); err != nil {
		return fail(OutcomeError, "scratch directory: %v", err)
	}
	defer func() {
		if err := os.RemoveAll(scratch.RunDir()); err != nil {
			r.Logger.Error("Removing the restored files failed", "dir", scratch.RunDir(), "err", err)
		}
	}()

	// Fetch: the backup's files.
	t0 := time.Now()
	req := Request{DataDir: scratch.DataDir(), Backup: backup.Label, TablespaceDir: filepath.Join(scratch.RunDir(), "tablespaces")}
	if opt.Kind == KindPITR {
		req.Target = target
	}
	err = r.Tool.Restore(ctx, req)
	res.Phases.Fetch = time.Since(t0).Seconds()
	if err != nil {
		return failed(OutcomeRestoreFailed, err)
	}

	// Replay: WAL up to the target, where recovery pauses.
	t1 := time.Now()
	bindir, err := r.binDir(scratch)
	if err != nil {
		return failed(OutcomeStartFailed, err)
	}
	srv, err := StartServer(scratch, bindir, rt.Settings)
	if err != nil {
		return failed(OutcomeStartFailed, err)
	}
	defer srv.Stop()
	reached, err := srv.WaitForTarget(ctx)
	res.Phases.Replay = time.Since(t1).Seconds()
	if err != nil {
		if errors.Is(err, ErrEndedEarly) {
			return failed(OutcomeRecoveryIncomplete, err)
		}
		if ctx.Err() != nil {
			return failed(OutcomeTimeout, fmt.Errorf("recovery had not reached the target; server log: %s", lastLines(srv.LogTail(), 3)))
		}
		return failed(OutcomeStartFailed, err)
	}
	res.Recovered, res.RecoveredLSN = reached.LastCommit, reached.LSN
	if opt.Kind == KindPITR && reached.LastCommit.After(target) {
		return fail(OutcomeCheckFailed, "recovery replayed a transaction committed at %s, after the target %s",
			reached.LastCommit.UTC().Format(time.RFC3339Nano), target.UTC().Format(time.RFC3339Nano))
	}

	// Check: the configured queries on the paused server.
	t2 := time.Now()
	// A backup restored to its end is checked against that end. pgBackRest
	// records the end in whole seconds, taken after the backup's last WAL
	// position: a transaction the backup holds may have committed later in
	// that second, so the bound is the end of the second.
	bound := res.Target
	if opt.Kind == KindBackup {
		bound = res.Target.Add(time.Second)
	}
	res.Checks = RunChecks(ctx, srv, rt.Checks, bound)
	res.Phases.Check = time.Since(t2).Seconds()
	var bad []string
	for _, c := range res.Checks {
		if !c.OK {
			bad = append(bad, c.Name+": "+c.Message)
		}
	}
	if ctx.Err() != nil {
		return failed(OutcomeCheckFailed, fmt.Errorf("checks stopped: %v", ctx.Err()))
	}
	if len(bad) > 0 {
		return fail(OutcomeCheckFailed, "%s", strings.Join(bad, "; "))
	}
	res.Outcome, res.Finished = OutcomeSuccess, r.now()
	return res, nil
}

// plan picks the backup to restore and the target: for a backup test the
// newest backup, to its end; for a point-in-time test the given target or
// a random microsecond of the window short of its last EndMargin, from the
// newest backup that ended before it.
func (r *Runner) plan(st *repo.State, opt Options) (repo.Backup, time.Time, string) {
	if len(st.Backups) == 0 {
		return repo.Backup{}, time.Time{}, "the repository holds no backup"
	}
	if opt.Kind == KindBackup {
		newest := st.Backups[0]
		for _, b := range st.Backups {
			if b.Stop.After(newest.Stop) {
				newest = b
			}
		}
		return newest, time.Time{}, ""
	}
	target := opt.Target
	if target.IsZero() {
		if st.WindowStart.IsZero() || st.WindowEnd.IsZero() {
			return repo.Backup{}, time.Time{}, "there is no PITR window: no backup's WAL chain reaches the newest archived segment"
		}
		hi := st.WindowEnd.Add(-time.Duration(r.Config.RestoreTest.EndMargin))
		if !hi.After(st.WindowStart) {
			return repo.Backup{}, time.Time{}, fmt.Sprintf("the PITR window (%s to %s) is shorter than end_margin %s",
				st.WindowStart.UTC().Format(time.RFC3339), st.WindowEnd.UTC().Format(time.RFC3339), time.Duration(r.Config.RestoreTest.EndMargin))
		}
		span := hi.Sub(st.WindowStart)
		target = st.WindowStart.Add(time.Duration(r.rand().Int64N(int64(span)))).Truncate(time.Microsecond)
	}
	var chosen *repo.Backup
	for i, b := range st.Backups {
		if b.Stop.Before(target) && (chosen == nil || b.Stop.After(chosen.Stop)) {
			chosen = &st.Backups[i]
		}
	}
	if chosen == nil {
		return repo.Backup{}, time.Time{}, fmt.Sprintf("no backup ended before the target %s", target.UTC().Format(time.RFC3339Nano))
	}
	return *chosen, target, ""
}

// binDir is the configured server binaries, or those of the restored
// cluster's major version where Debian puts them: the newest installed
// may be another major during an upgrade.
func (r *Runner) binDir(s *Scratch) (string, error) {
	if r.BinDir != "" {
		return r.BinDir, nil
	}
	v, err := os.ReadFile(filepath.Join(s.DataDir(), "PG_VERSION"))
	if err != nil {
		return "", fmt.Errorf("the restored files have no PG_VERSION: %w", err)
	}
	dir := filepath.Join("/usr/lib/postgresql", strings.TrimSpace(string(v)), "bin")
	if _, err := os.Stat(filepath.Join(dir, "postgres")); err != nil {
		return "", fmt.Errorf("the backup is of PostgreSQL %s, whose server is not installed in %s (set restore_test.pg_bindir)", strings.TrimSpace(string(v)), dir)
	}
	return dir, nil
}

func (r *Runner) keepFree(d Disk) uint64 {
	rt := r.Config.RestoreTest
	if rt.KeepFreeShare > 0 {
		return uint64(rt.KeepFreeShare * float64(d.Total))
	}
	return uint64(rt.KeepFreeBytes)
}

// watchDisk stops the test when the filesystem's free space falls below
// keep: the estimate before starting can be wrong (WAL replay writes more
// than the backup's size when pg_wal grows).
func (r *Runner) watchDisk(ctx context.Context, cancel context.CancelCauseFunc, dir string, keep uint64) func() {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if d, err := DiskOf(dir); err == nil && d.Free < keep {
				cancel(fmt.Errorf("%w: %s free on %s, below keep_free %s", errDiskLow, sizeOf(d.Free), dir, sizeOf(keep)))
				return
			}
		}
	}()
	return func() { close(done) }
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Runner) rand() *rand.Rand {
	if r.Rand != nil {
		return r.Rand
	}
	return rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x9e3779b97f4a7c15))
}

func sizeOf(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
