package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"
)

// BenchmarkRestoreTest measures `pitr_exporter restore-test`, run as the
// database's OS user, on a repository like a day of the spec's policy
// compressed: a full backup and four incremental ones, with
// PITR_BENCH_RESTORE_SEGMENTS (default 2,000) real 1 MiB WAL segments
// archived by pgBackRest spread evenly between them. It restores the
// newest backup to its end, then recovers to the longest replay from the
// full backup (just before the first incremental one), to near the end
// of the window, and to a random target, and reports each phase.
// Run with -benchtime 1x.
func BenchmarkRestoreTest(b *testing.B) {
	n := 2000
	if v := os.Getenv("PITR_BENCH_RESTORE_SEGMENTS"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	const segMiB = 1
	r := newRig(b, rigOptions{InitdbArgs: []string{fmt.Sprintf("--wal-segsize=%d", segMiB)}, WALSegmentSize: segMiB << 20, Timeout: "5m"})
	r.pg.Exec("CREATE TABLE churn AS SELECT g AS id, 0 AS v, repeat('x', 200) AS pad FROM generate_series(1, 20000) g")
	r.br.Backup("full")
	chunk := n / 5
	var targets []time.Time // one inside each chunk, 90% of the way
	t0 := time.Now()
	for i := 0; i < 5; i++ {
		targets = append(targets, churnSegments(b, r, chunk, segMiB))
		if i < 4 {
			r.pg.Exec("SELECT pg_switch_wal()")
			r.br.Backup("incr")
		}
	}
	waitArchived(b, r)
	b.Logf("%d segments of %d MiB and 5 backups in %s", n, segMiB, time.Since(t0).Round(time.Second))
	m := r.refresh(b)
	b.Logf("pitr_exporter: %v segments, %v missing", m.Get(b, "pitr_wal_segments"), m.Get(b, `pitr_wal_missing_segments{timeline="1"}`))

	e := newRestoreEnv(b, r)
	cfg := e.config(b, "pitr.yml", "  end_margin: 5s\n  keep_free: 1GiB\n  checks:\n    - {name: churn_rows, sql: \"SELECT count(*) FROM churn\", min: 20000}\n")
	runs := []struct {
		name string
		args []string
	}{
		{"newest backup to its end", []string{"--kind=backup"}},
		{"from the full backup, just before the first incremental", []string{"--target=" + targets[0].Format(time.RFC3339Nano)}},
		{"from the last incremental, near the window's end", []string{"--target=" + targets[4].Format(time.RFC3339Nano)}},
		{"random target", nil},
	}
	b.ResetTimer()
	for _, run := range runs {
		res, code, logs := e.run(b, cfg, run.args...)
		if code != 0 {
			b.Fatalf("%s: exit %d, %s: %s\n%s", run.name, code, res.Outcome, res.Message, logs)
		}
		b.Logf("%-58s backup %s: fetch %6.2fs  replay %6.2fs  check %5.2fs  RTO %6.2fs  (target %s, recovered LSN %s)",
			run.name, res.Backup, res.Phases.Fetch, res.Phases.Replay, res.Phases.Check, res.Phases.RTO(), res.Target.Format(time.RFC3339), res.RecoveredLSN)
	}
}

// churnSegments updates the churn table until count segments of WAL more
// are written, and returns a moment 90% of the way through.
func churnSegments(b testing.TB, r *rig, count, segMiB int) time.Time {
	b.Helper()
	conn := r.pg.Connect("postgres")
	defer conn.Close(context.Background())
	ctx := context.Background()
	var start int64
	if err := conn.QueryRow(ctx, "SELECT pg_current_wal_lsn() - '0/0'").Scan(&start); err != nil {
		b.Fatal(err)
	}
	want := int64(count) * int64(segMiB) << 20
	var mark time.Time
	for i := 0; ; i++ {
		// A quarter of the rows at a time: a transaction of ~1.5 MiB of
		// WAL, so targets between them are many.
		if _, err := conn.Exec(ctx, "UPDATE churn SET v = v + 1 WHERE id % 4 = $1", i%4); err != nil {
			b.Fatal(err)
		}
		var now int64
		if err := conn.QueryRow(ctx, "SELECT pg_current_wal_lsn() - '0/0'").Scan(&now); err != nil {
			b.Fatal(err)
		}
		if mark.IsZero() && now-start >= want*9/10 {
			mark = time.Now()
		}
		if now-start >= want {
			return mark
		}
	}
}

// waitArchived switches to a new segment and waits until the archiver has
// pushed the one it closed.
func waitArchived(b testing.TB, r *rig) {
	b.Helper()
	conn := r.pg.Connect("postgres")
	defer conn.Close(context.Background())
	var closed string
	if err := conn.QueryRow(context.Background(), "SELECT pg_walfile_name(pg_switch_wal())").Scan(&closed); err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Minute)
	for {
		var done bool
		if err := conn.QueryRow(context.Background(), `SELECT coalesce(last_archived_wal, '') >= $1 FROM pg_stat_archiver`, closed).Scan(&done); err != nil {
			b.Fatal(err)
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			b.Fatal("archiving did not catch up in 30 minutes")
		}
		time.Sleep(time.Second)
	}
}
