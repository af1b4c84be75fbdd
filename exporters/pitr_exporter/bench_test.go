package main

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/config"
	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/monitor"
)

// BenchmarkRefresh measures pitr_exporter on a real pgBackRest repository
// (a stanza with one full backup, made by pgBackRest into the loopback S3)
// whose archive holds PITR_BENCH_SEGMENTS synthetic WAL objects (default
// 1,000,000): the first full refresh (time, peak heap, requests), a refresh
// when nothing changed, and one after 100 new segments; then, for
// comparison, `pgbackrest info --output=json` on the same repository. In
// between, the re-check's cost under the default refresh settings: the
// average refresh of the unchanged repository over two passes.
// Run with -benchtime 1x: each step is one measured operation.
func BenchmarkRefresh(b *testing.B) {
	n := uint64(1_000_000)
	if v := os.Getenv("PITR_BENCH_SEGMENTS"); v != "" {
		n, _ = strconv.ParseUint(v, 10, 64)
	}
	// Refreshes an hour apart by hand: the incremental listing alone (a
	// re-check would list the whole range on each); its own step follows.
	r := newRig(b, rigOptions{FullListEvery: "24h", BucketChecks: "24h", Timeout: "30m", RecheckWithin: "24h"})
	r.br.Backup("full")
	r.pg.Exec("SELECT pg_switch_wal()")
	r.pg.SetArchiveCommand("true") // from here on the synthetic segments are the archive
	syn := newSynthetic(b, r.s3, r.br.Bucket)
	r.mon.RefreshOnce(context.Background())
	st := r.mon.Snapshot().State
	if st == nil || st.Missing[1] != 0 {
		b.Fatalf("the real archive is not complete: %+v", st)
	}
	start := st.NewestSegment + 1
	r.mon = mustBuild(b, r.cfgYAML) // a fresh exporter: its first refresh lists everything
	r.reg = nil
	t0 := time.Now()
	syn.writeSegmentFiles(b, start, start+n)
	b.Logf("wrote %d segment objects in %s", n, time.Since(t0).Round(time.Second))

	step := func(name string) {
		runtime.GC()
		var peak atomic.Uint64
		done := make(chan struct{})
		go func() { // sample the heap while the refresh runs
			var ms runtime.MemStats
			for {
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse)
				}
				select {
				case <-done:
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		}()
		reqs := r.mon.Stats.Total()
		if f := os.Getenv("PITR_BENCH_CPUPROFILE"); f != "" && name == "first" {
			out, err := os.Create(f)
			if err != nil {
				b.Fatal(err)
			}
			if err := pprof.StartCPUProfile(out); err != nil {
				b.Fatal(err)
			}
			defer pprof.StopCPUProfile()
		}
		cpu0, srv0 := cpuTime(), r.s3.CPUTime()
		t := time.Now()
		r.mon.RefreshOnce(context.Background())
		took := time.Since(t)
		cpu := cpuTime() - cpu0 // this process only: the S3 server is another
		srv := r.s3.CPUTime() - srv0
		close(done)
		snap := r.mon.Snapshot()
		if !snap.Healthy {
			b.Fatalf("%s: refresh failed after %s", name, took)
		}
		b.Logf("%-12s %8.3fs (exporter CPU %6.3fs, S3 server CPU %6.3fs)  %6.0f requests  peak heap %5.1f MB  segments %d  missing %v",
			name, took.Seconds(), cpu.Seconds(), srv.Seconds(), r.mon.Stats.Total()-reqs, float64(peak.Load())/1e6, snap.State.Segments, snap.State.Missing)
		b.ReportMetric(cpu.Seconds(), name+"-cpu-s")
		b.ReportMetric(srv.Seconds(), name+"-s3-cpu-s")
		b.ReportMetric(took.Seconds(), name+"-s")
		b.ReportMetric(r.mon.Stats.Total()-reqs, name+"-requests")
		if name == "first" {
			b.ReportMetric(float64(peak.Load())/1e6, "first-peak-heap-MB")
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		step("first")
		step("unchanged")
		syn.writeSegmentFiles(b, start+n, start+n+100)
		step("plus100")
		n += 100
	}
	// The re-check under the default refresh settings, on the same
	// unchanged repository: a watcher whose clock advances a minute per
	// refresh, over two passes after its first complete listing. Its
	// refreshes are averaged: a pass lists the range in slices.
	cfg, err := config.Parse("bench.yml", []byte(r.cfgYAML))
	if err != nil {
		b.Fatal(err)
	}
	c := newClocked(b, defaultRefresh(cfg))
	c.refresh(b)
	const passes = 2
	refreshes := passes * int(time.Duration(cfg.Refresh.RecheckWithin)/time.Duration(cfg.Refresh.Interval))
	reqs, worst, t0 := c.stats.Total(), 0.0, time.Now()
	for range refreshes {
		_, n := c.refresh(b)
		worst = max(worst, n)
	}
	per, wall := (c.stats.Total()-reqs)/float64(refreshes), time.Since(t0)/time.Duration(refreshes)
	b.Logf("%-12s %8.3fs a refresh, %6.1f requests a refresh (at most %v), over %d refreshes a simulated minute apart", "rechecked", wall.Seconds(), per, worst, refreshes)
	b.ReportMetric(per, "rechecked-requests")
	b.ReportMetric(wall.Seconds(), "rechecked-s")
	b.StopTimer()
	t := time.Now()
	cmd := exec.Command("runuser", "-u", "postgres", "--", "pgbackrest", "--config="+r.br.ConfigFile, "--stanza=main", "info", "--output=json")
	if os.Getuid() != 0 {
		cmd = exec.Command("pgbackrest", "--config="+r.br.ConfigFile, "--stanza=main", "info", "--output=json")
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("pgbackrest info: %v\n%s", err, out)
	}
	b.ReportMetric(time.Since(t).Seconds(), "pgbackrest-info-s")
	b.Logf("pgbackrest info: %.3fs", time.Since(t).Seconds())
}

// cpuTime is the user and system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func mustBuild(b testing.TB, yaml string) *monitor.Monitor {
	cfg, err := config.Parse("bench.yml", []byte(yaml))
	if err != nil {
		b.Fatal(err)
	}
	m, err := build(cfg, discard())
	if err != nil {
		b.Fatal(err)
	}
	return m
}
