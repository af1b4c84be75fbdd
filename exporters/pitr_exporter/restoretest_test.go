package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/restore"
)

// restoreBinary builds pitr_exporter somewhere the database's OS user can
// run it from.
func restoreBinary(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "hotelops-pitr-bin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "pitr_exporter")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// restoreEnv is a configuration for restore-test next to a rig, in a
// directory the database's OS user owns (the command runs as that user).
type restoreEnv struct {
	r       *rig
	dir     string
	scratch string
	bin     string
}

func newRestoreEnv(t testing.TB, r *rig) *restoreEnv {
	t.Helper()
	dir, err := os.MkdirTemp("", "hotelops-restore-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	r.pg.Chown(dir)
	e := &restoreEnv{r: r, dir: dir, scratch: filepath.Join(dir, "scratch"), bin: restoreBinary(t)}
	return e
}

// config writes pitr.yml for restore-test: the rig's repository and
// bucket, with its secret files copied where the OS user can read them,
// and the restore_test section given.
func (e *restoreEnv) config(t testing.TB, name, restoreSection string) string {
	t.Helper()
	yaml := e.r.cfgYAML
	for _, f := range []string{"ak", "sk", "pass"} {
		src := filepath.Join(e.r.dir, f)
		data, err := os.ReadFile(src)
		if os.IsNotExist(err) {
			continue
		}
		dst := filepath.Join(e.dir, f)
		if err := os.WriteFile(dst, data, 0o600); err != nil {
			t.Fatal(err)
		}
		e.r.pg.Chown(dst)
		yaml = strings.ReplaceAll(yaml, src, dst)
	}
	ca, _ := os.ReadFile(e.r.s3.CAFile)
	caPath := filepath.Join(e.dir, "ca.pem")
	if err := os.WriteFile(caPath, ca, 0o644); err != nil {
		t.Fatal(err)
	}
	yaml = strings.ReplaceAll(yaml, "ca_file: "+e.r.s3.CAFile, "ca_file: "+caPath)
	yaml += fmt.Sprintf("restore_test:\n  pgbackrest_config: %s\n  scratch_dir: %s\n", e.r.br.ConfigFile, e.scratch) + restoreSection
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	e.r.pg.Chown(p)
	return p
}

// command is restore-test run as the database's OS user.
func (e *restoreEnv) command(cfg string, args ...string) *exec.Cmd {
	cmd := exec.Command(e.bin, append([]string{"--config.file=" + cfg, "--log.level=debug", "restore-test"}, args...)...)
	e.r.pg.RunAsOwner(cmd)
	return cmd
}

// run runs restore-test to its end and reads the result it printed.
func (e *restoreEnv) run(t testing.TB, cfg string, args ...string) (restore.Result, int, string) {
	t.Helper()
	cmd := e.command(cfg, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	var res restore.Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("restore-test printed no result (exit %d): %v\nstdout: %s\nstderr: %s", code, err, stdout.String(), stderr.String())
	}
	return res, code, stderr.String()
}

// serversOn lists processes whose command line or working directory names
// dir: a restore test must leave none.
func serversOn(dir string) []string {
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		cwd, _ := os.Readlink(p + "/cwd")
		cmdline, _ := os.ReadFile(p + "/cmdline")
		if strings.HasPrefix(cwd, dir) || bytes.Contains(cmdline, []byte(dir)) {
			out = append(out, filepath.Base(p)+" "+strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	return out
}

// probeRows commits rows one transaction at a time for d, each stamped with
// its commit's own time (track_commit_timestamp), so a recovery target
// splits them exactly.
func probeRows(t *testing.T, r *rig, d time.Duration) {
	t.Helper()
	conn := r.pg.Connect("postgres")
	defer conn.Close(context.Background())
	for end := time.Now().Add(d); time.Now().Before(end); {
		if _, err := conn.Exec(context.Background(), "INSERT INTO probe DEFAULT VALUES"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func committedBy(t *testing.T, r *rig, target time.Time) int64 {
	t.Helper()
	conn := r.pg.Connect("postgres")
	defer conn.Close(context.Background())
	var n int64
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM probe WHERE pg_xact_commit_timestamp(xmin) <= $1", target).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func lastCommitBy(t *testing.T, r *rig, target time.Time) time.Time {
	t.Helper()
	conn := r.pg.Connect("postgres")
	defer conn.Close(context.Background())
	var last *time.Time // none when the target comes before the first row
	if err := conn.QueryRow(context.Background(), "SELECT max(pg_xact_commit_timestamp(xmin)) FROM probe WHERE pg_xact_commit_timestamp(xmin) <= $1", target).Scan(&last); err != nil {
		t.Fatal(err)
	}
	if last == nil {
		return time.Time{}
	}
	return *last
}

// checkReached: the last transaction replayed is the last one committed
// by the target, no earlier than the last probe row, never after it. None
// is replayed when the target comes before the first commit after the
// backup began; the backup then holds every row committed by the target
// (pgBackRest records its start in whole seconds).
func checkReached(t *testing.T, r *rig, res restore.Result) {
	t.Helper()
	last := lastCommitBy(t, r, res.Target)
	if res.Recovered.IsZero() {
		if start := backupStart(t, r, res.Backup); !last.Before(start.Add(time.Second)) {
			t.Errorf("no transaction replayed for target %s, yet a probe row committed at %s, after the backup began at %s", res.Target, last, start)
		}
	} else if res.Recovered.After(res.Target) || res.Recovered.Before(last) {
		t.Errorf("recovered to %s for target %s; the last probe row committed by then at %s", res.Recovered, res.Target, last)
	}
}

// backupStart is when pgBackRest says the backup labelled label began.
func backupStart(t *testing.T, r *rig, label string) time.Time {
	t.Helper()
	for _, b := range r.infoBackups(t) {
		if b.Label == label {
			return time.Unix(b.Timestamp.Start, 0)
		}
	}
	t.Fatalf("backup %s not in pgbackrest info", label)
	return time.Time{}
}

func TestRestoreTest(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.pg.Exec("ALTER SYSTEM SET track_commit_timestamp = on")
	r.pg.Stop()
	r.pg.Start()
	r.pg.Exec("CREATE TABLE probe (id bigint GENERATED ALWAYS AS IDENTITY, at timestamptz NOT NULL DEFAULT clock_timestamp())")
	r.br.Backup("full")
	probeRows(t, r, 3*time.Second)
	r.pg.Exec("SELECT pg_switch_wal()")
	r.br.Backup("incr")
	probeRows(t, r, 3*time.Second)
	r.pg.Exec("SELECT pg_switch_wal()")
	probeRows(t, r, 500*time.Millisecond)
	r.pg.Exec("SELECT pg_switch_wal()")
	r.eventually(t, "the last segment archived", func(s sample) bool {
		return s["pitr_window_end_timestamp_seconds"] > float64(time.Now().Add(-2*time.Second).Unix())
	})

	e := newRestoreEnv(t, r)
	// A random target may come before the first probe row: the checks
	// must hold for any target of the window (the first subtest counts the
	// rows exactly).
	checks := `  end_margin: 2s
  wal_allowance: 64MiB
  keep_free: 64MiB
  checks:
    - {name: probe_rows, sql: "SELECT count(*) FROM probe"}
    - {name: latest_probe, sql: "SELECT max(at) FROM probe", not_after_target: true}
`
	cfg := e.config(t, "pitr.yml", checks)

	t.Run("a random target in the window is reached with exactly the rows committed before it", func(t *testing.T) {
		res, code, logs := e.run(t, cfg)
		if code != 0 || res.Outcome != restore.OutcomeSuccess {
			t.Fatalf("exit %d, %s: %s\n%s", code, res.Outcome, res.Message, logs)
		}
		if res.TargetGiven || res.Target.IsZero() || res.Backup == "" {
			t.Fatalf("target %v given %v backup %q", res.Target, res.TargetGiven, res.Backup)
		}
		t.Logf("target %s, recovered %s, backup %s, phases %+v, checks %+v", res.Target, res.Recovered, res.Backup, res.Phases, res.Checks)
		want := committedBy(t, r, res.Target)
		var got string
		for _, c := range res.Checks {
			if c.Name == "probe_rows" {
				got = c.Value
			}
		}
		if got != fmt.Sprint(want) {
			t.Errorf("the restored database has %s probe rows; %d were committed by the target %s", got, want, res.Target)
		}
		checkReached(t, r, res)
		if res.Phases.Fetch <= 0 || res.Phases.Replay <= 0 || res.Phases.Check <= 0 {
			t.Errorf("phases %+v", res.Phases)
		}
		if left := serversOn(e.scratch); len(left) > 0 {
			t.Errorf("left running: %v", left)
		}
		if _, err := os.Stat(filepath.Join(e.scratch, "run")); !os.IsNotExist(err) {
			t.Errorf("restored files left in the scratch directory: %v", err)
		}
		m := r.refresh(t)
		if m.Get(t, `pitr_restore_test_success{kind="pitr"}`) != 1 || m.Get(t, `pitr_restore_test_last_outcome{kind="pitr",outcome="success"}`) != 1 {
			t.Errorf("exporter: success %v", m[`pitr_restore_test_success{kind="pitr"}`])
		}
		if got := m.Get(t, `pitr_restore_test_rto_seconds{kind="pitr"}`); got < res.Phases.RTO()-0.001 || got > res.Phases.RTO()+0.001 {
			t.Errorf("exporter's RTO %v, the test measured %v", got, res.Phases.RTO())
		}
		if got := m.Get(t, `pitr_restore_test_target_timestamp_seconds{kind="pitr"}`); int64(got) != res.Target.Unix() {
			t.Errorf("exporter's target %v, the test's %v", got, res.Target)
		}
	})

	t.Run("a target just before the first commit after a backup replays none and keeps the backup's rows", func(t *testing.T) {
		info := r.infoBackups(t)
		incr := info[len(info)-1]
		conn := r.pg.Connect("postgres")
		defer conn.Close(context.Background())
		var first time.Time
		if err := conn.QueryRow(context.Background(), "SELECT min(pg_xact_commit_timestamp(xmin)) FROM probe WHERE pg_xact_commit_timestamp(xmin) > to_timestamp($1)", incr.Timestamp.Stop).Scan(&first); err != nil {
			t.Fatal(err)
		}
		target := first.Add(-time.Millisecond)
		res, code, logs := e.run(t, cfg, "--target="+target.Format(time.RFC3339Nano))
		if code != 0 || res.Outcome != restore.OutcomeSuccess {
			t.Fatalf("exit %d, %s: %s\n%s", code, res.Outcome, res.Message, logs)
		}
		t.Logf("target %s, recovered %s, backup %s", res.Target, res.Recovered, res.Backup)
		if res.Backup != incr.Label {
			t.Errorf("restored %s for a target after %s ended", res.Backup, incr.Label)
		}
		var got string
		for _, c := range res.Checks {
			if c.Name == "probe_rows" {
				got = c.Value
			}
		}
		if want := committedBy(t, r, res.Target); got != fmt.Sprint(want) {
			t.Errorf("the restored database has %s probe rows; %d were committed by the target %s", got, want, res.Target)
		}
		checkReached(t, r, res)
	})

	t.Run("the newest backup restores to its end", func(t *testing.T) {
		res, code, logs := e.run(t, cfg, "--kind=backup")
		info := r.infoBackups(t)
		if code != 0 || res.Outcome != restore.OutcomeSuccess {
			t.Fatalf("exit %d, %s: %s\n%s", code, res.Outcome, res.Message, logs)
		}
		if res.Backup != info[len(info)-1].Label {
			t.Errorf("restored %s, the newest backup is %s", res.Backup, info[len(info)-1].Label)
		}
	})

	t.Run("a disk too small is refused before starting", func(t *testing.T) {
		d, err := restore.DiskOf(e.dir)
		if err != nil {
			t.Fatal(err)
		}
		// Leave free all but half of what the restore would need.
		small := e.config(t, "small.yml", fmt.Sprintf("  end_margin: 2s\n  wal_allowance: 64MiB\n  keep_free: %dB\n", d.Free-32<<20))
		res, code, _ := e.run(t, small)
		if code != 1 || res.Outcome != restore.OutcomeDiskSpace || !strings.Contains(res.Message, "refused before starting") {
			t.Fatalf("exit %d, %s: %s", code, res.Outcome, res.Message)
		}
		if res.Phases.Fetch != 0 {
			t.Errorf("fetched for %vs before refusing", res.Phases.Fetch)
		}
		m := r.refresh(t)
		if m.Get(t, `pitr_restore_test_success{kind="pitr"}`) != 0 || m.Get(t, `pitr_restore_test_last_outcome{kind="pitr",outcome="disk_space"}`) != 1 {
			t.Errorf("exporter: success %v", m[`pitr_restore_test_success{kind="pitr"}`])
		}
		if m.Get(t, `pitr_restore_test_last_success_timestamp_seconds{kind="pitr"}`) == 0 {
			t.Errorf("the last success was forgotten by a failure")
		}
	})

	t.Run("kill -9 leaves nothing running and the next run cleans up", func(t *testing.T) {
		slow := e.config(t, "slow.yml", checks+"    - {name: slow, sql: \"SELECT 1 FROM pg_sleep(60)\"}\n")
		cmd := e.command(slow)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(2 * time.Minute)
		for !isRunning(filepath.Join(e.scratch, "run", "data")) {
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("no server started within 2 minutes:\n%s", out.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(500 * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		deadline = time.Now().Add(15 * time.Second)
		for len(serversOn(e.scratch)) > 0 {
			if time.Now().After(deadline) {
				t.Fatalf("still running 15 s after the kill: %v", serversOn(e.scratch))
			}
			time.Sleep(100 * time.Millisecond)
		}
		res, code, logs := e.run(t, cfg)
		if code != 0 || !strings.Contains(res.CleanedUp, "removed an earlier run's files") {
			t.Fatalf("exit %d, %s: %s; cleaned up %q\n%s", code, res.Outcome, res.Message, res.CleanedUp, logs)
		}
	})

	t.Run("a deleted segment stops recovery there", func(t *testing.T) {
		info := r.infoBackups(t)
		full, incr := info[0], info[len(info)-1]
		// A segment archived between the two backups: every target before
		// the incremental backup needs it.
		seg := segmentAfter(t, r.segmentFiles(t), full.Timestamp.Stop)
		if seg == "" {
			t.Fatalf("no segment archived after the full backup: %v", r.segmentFiles(t))
		}
		if err := os.Remove(seg); err != nil {
			t.Fatal(err)
		}
		target := time.Unix(incr.Timestamp.Start, 0).Add(-500 * time.Millisecond)
		res, code, logs := e.run(t, cfg, "--target="+target.Format(time.RFC3339Nano))
		if code != 1 || res.Outcome != restore.OutcomeRecoveryIncomplete {
			t.Fatalf("exit %d, %s: %s\n%s", code, res.Outcome, res.Message, logs)
		}
		if !strings.Contains(res.Message, "recovery ended before") {
			t.Errorf("message %q does not say where recovery stopped", res.Message)
		}
		if left := serversOn(e.scratch); len(left) > 0 {
			t.Errorf("left running: %v", left)
		}
	})

	t.Run("a corrupt backup fails with the tool's reason", func(t *testing.T) {
		info := r.infoBackups(t)
		newest := info[len(info)-1].Label
		ctl := filepath.Join(r.s3.Dir, r.br.Bucket, strings.Trim(r.br.RepoPath, "/"), "backup/main", newest, "pg_data/global/pg_control.gz")
		data, err := os.ReadFile(ctl)
		if err != nil {
			t.Fatal(err)
		}
		for i := len(data) / 2; i < len(data)/2+16 && i < len(data); i++ {
			data[i] ^= 0xff
		}
		if err := os.WriteFile(ctl, data, 0o644); err != nil {
			t.Fatal(err)
		}
		res, code, _ := e.run(t, cfg, "--kind=backup")
		if code != 1 || res.Outcome != restore.OutcomeRestoreFailed || !strings.Contains(res.Message, "pgbackrest restore") {
			t.Fatalf("exit %d, %s: %s", code, res.Outcome, res.Message)
		}
		t.Logf("reason: %s", res.Message)
	})
}

// segmentAfter is the file of the first archived segment written after
// unix time at (its object's modification time).
func segmentAfter(t *testing.T, files []string, at int64) string {
	t.Helper()
	type f struct {
		path string
		mod  time.Time
	}
	var all []f
	for _, p := range files {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, f{p, st.ModTime()})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].path < all[j].path })
	for _, x := range all {
		if x.mod.Unix() > at+1 {
			return x.path
		}
	}
	return ""
}

// isRunning says whether a PostgreSQL server runs on dataDir and answers.
func isRunning(dataDir string) bool {
	if _, err := os.Stat(filepath.Join(dataDir, "postmaster.pid")); err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	cfg, _ := pgx.ParseConfig("")
	cfg.Host, cfg.Port, cfg.Database, cfg.User = filepath.Dir(dataDir), 5432, "postgres", "postgres"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false
	}
	conn.Close(ctx)
	return true
}
