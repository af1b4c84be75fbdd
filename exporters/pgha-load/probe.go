package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hotel-ops/hotel-ops/internal/latency"
	"github.com/hotel-ops/hotel-ops/internal/testenv"
)

// ProbeReport is the many-targets run: one exporter serving --probe-targets
// names through /probe, each probed once an interval, spread over it as
// Prometheus spreads its scrapes.
type ProbeReport struct {
	Targets    int           `json:"targets"`
	Interval   string        `json:"interval"`
	Duration   string        `json:"duration"`
	Probes     int           `json:"probes"`
	Failed     int           `json:"failed"`
	P50Ms      float64       `json:"p50_ms"`
	P99Ms      float64       `json:"p99_ms"`
	Samples    []ProbeSample `json:"samples"` // once an interval
	Sessions   int           `json:"server_sessions_at_end"`
	FailSample string        `json:"fail_sample,omitempty"`
}

// exporterPoolSize is pgha_exporter's default --pg.max-connections: the
// most sessions one target's pool opens.
const exporterPoolSize = 2

// ProbeSample is the exporter's own figures at one moment.
type ProbeSample struct {
	AtSeconds  float64 `json:"at_seconds"`
	RSSBytes   int64   `json:"rss_bytes"`
	HeapInuse  float64 `json:"heap_inuse_bytes"`
	Goroutines float64 `json:"goroutines"`
}

var (
	goroutinesRe = regexp.MustCompile(`(?m)^go_goroutines (\S+)$`)
	heapInuseRe  = regexp.MustCompile(`(?m)^go_memstats_heap_inuse_bytes (\S+)$`)
)

// probeMany runs the many-targets shape: the synthetic targets are names
// in the exporter's targets file for the one private primary, each with an
// application_name of its own, so each gets its own pool and collector in
// the exporter as a separate cluster would.
func probeMany(ctx context.Context, t testenv.TB, o *options) (*ProbeReport, error) {
	o.connections = []int{o.probeTargets*exporterPoolSize + 10}
	s, err := startServer(ctx, t, o)
	if err != nil {
		return nil, err
	}
	if err := s.startReceivers(ctx, 2); err != nil {
		return nil, err
	}
	var cfg strings.Builder
	cfg.WriteString("targets:\n")
	names := make([]string, o.probeTargets)
	for i := range names {
		names[i] = fmt.Sprintf("cluster%02d", i+1)
		fmt.Fprintf(&cfg, "  %s:\n    dsn: %q\n", names[i], s.pg.DSNAs(monitorRole, "postgres")+"&application_name="+names[i])
	}
	cfgPath := filepath.Join(s.pg.Dir, "targets.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o600); err != nil {
		return nil, err
	}
	x, err := spawnExporter(t, o.binary, "", s.pg.Dir, "--config.file="+cfgPath)
	if err != nil {
		return nil, err
	}
	base := strings.TrimSuffix(x.url, "/metrics")
	client := &http.Client{Timeout: 30 * time.Second}
	rep := &ProbeReport{Targets: o.probeTargets, Interval: o.probeInterval.String(), Duration: o.probeDuration.String()}
	var mu sync.Mutex
	var sample latency.Sample
	probe := func(name string) {
		t0 := time.Now()
		resp, err := client.Get(base + "/probe?target=" + name)
		var body []byte
		if err == nil {
			body, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil && (resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "\npgha_up 1\n")) {
				err = fmt.Errorf("%s: %s", name, resp.Status)
			}
		}
		d := time.Since(t0)
		mu.Lock()
		defer mu.Unlock()
		rep.Probes++
		if err != nil {
			rep.Failed++
			if rep.FailSample == "" {
				rep.FailSample = err.Error()
			}
			return
		}
		sample = append(sample, d)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each target at its own offset in the interval, as
			// Prometheus spreads a job's targets.
			offset := o.probeInterval * time.Duration(i) / time.Duration(len(names))
			timer := time.NewTimer(offset)
			defer timer.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-timer.C:
				}
				if time.Since(start) > o.probeDuration {
					return
				}
				probe(name)
				timer.Reset(o.probeInterval)
			}
		}()
	}
	tick := time.NewTicker(o.probeInterval)
	defer tick.Stop()
	for time.Since(start) <= o.probeDuration && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-tick.C:
			ps := exporterSample(client, x, start)
			mu.Lock()
			rep.Samples = append(rep.Samples, ps)
			probes, failed := rep.Probes, rep.Failed
			mu.Unlock()
			t.Logf("%s: %d probes, %d failed", time.Since(start).Round(time.Second), probes, failed)
		}
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err := s.admin.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE usename = $1", monitorRole).Scan(&rep.Sessions); err != nil {
		return nil, err
	}
	rep.P50Ms, rep.P99Ms = latency.Ms(sample.Quantile(0.5)), latency.Ms(sample.Quantile(0.99))
	return rep, nil
}

func exporterSample(client *http.Client, x *exporter, start time.Time) ProbeSample {
	ps := ProbeSample{AtSeconds: time.Since(start).Seconds(), RSSBytes: rss(x.cmd.Process.Pid)}
	resp, err := client.Get(x.url)
	if err != nil {
		return ps
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if m := goroutinesRe.FindSubmatch(b); m != nil {
		ps.Goroutines, _ = strconv.ParseFloat(string(m[1]), 64)
	}
	if m := heapInuseRe.FindSubmatch(b); m != nil {
		ps.HeapInuse, _ = strconv.ParseFloat(string(m[1]), 64)
	}
	return ps
}

// rss is a process's resident memory (/proc/<pid>/status VmRSS).
func rss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func (rep *ProbeReport) print(w io.Writer) {
	fmt.Fprintf(w, "%d targets through /probe, each every %s for %s: %d probes, %d failed; p50 %.2f ms, p99 %.2f ms; %d server sessions at the end\n",
		rep.Targets, rep.Interval, rep.Duration, rep.Probes, rep.Failed, rep.P50Ms, rep.P99Ms, rep.Sessions)
	if rep.FailSample != "" {
		fmt.Fprintf(w, "first failure: %s\n", rep.FailSample)
	}
	fmt.Fprintf(w, "%10s %10s %12s %11s\n", "at", "RSS MiB", "heap MiB", "goroutines")
	step := max(1, len(rep.Samples)/12)
	for i, s := range rep.Samples {
		if i%step == 0 || i == len(rep.Samples)-1 {
			fmt.Fprintf(w, "%9.0fs %10.1f %12.1f %11.0f\n", s.AtSeconds, float64(s.RSSBytes)/(1<<20), s.HeapInuse/(1<<20), s.Goroutines)
		}
	}
}
