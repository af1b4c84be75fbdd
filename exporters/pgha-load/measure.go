package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/hotel-ops/hotel-ops/internal/latency"
	"github.com/hotel-ops/hotel-ops/internal/testenv"
)

// exporter is the spawned pgha_exporter.
type exporter struct {
	cmd *exec.Cmd
	url string
}

// spawnExporter starts the binary on a free loopback port, serving dsn on
// /metrics when it is not empty, with extra flags.
func spawnExporter(t testenv.TB, binary, dsn, dir string, extra ...string) (*exporter, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	args := append([]string{"--web.listen-address=" + addr}, extra...)
	if dsn != "" {
		dsnFile := filepath.Join(dir, "exporter.dsn")
		if err := os.WriteFile(dsnFile, []byte(dsn+"\n"), 0o600); err != nil {
			return nil, err
		}
		args = append(args, "--pg.dsn-file="+dsnFile)
	}
	logf, err := os.Create(filepath.Join(dir, "exporter.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting %s: %w", binary, err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); logf.Close() })
	x := &exporter{cmd: cmd, url: "http://" + addr + "/metrics"}
	for deadline := time.Now().Add(30 * time.Second); ; {
		if resp, err := http.Get(x.url); err == nil {
			resp.Body.Close()
			return x, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the exporter did not answer on %s within 30 s (log: %s)", x.url, logf.Name())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Result is one shape's figures, per scrape.
type Result struct {
	Shape         string  `json:"shape"`
	Connections   int     `json:"connections"`
	InTransaction int     `json:"in_transaction"` // of the connections
	Slots         int     `json:"slots"`
	Standbys      int     `json:"standbys"`
	Databases     int     `json:"databases"`
	Scrapes       int     `json:"scrapes"`
	P50Ms         float64 `json:"p50_ms"`
	P99Ms         float64 `json:"p99_ms"`
	ServerCPUMs   float64 `json:"server_cpu_ms"`   // in the exporter's sessions
	ExporterCPUMs float64 `json:"exporter_cpu_ms"` // the exporter process
	Statements    float64 `json:"statements"`
	Series        int     `json:"series"`
	// By statement: where the server's time went.
	ByStatement []Statement `json:"by_statement"`
}

// Statement is one of the exporter's statements, from pg_stat_statements.
type Statement struct {
	Query      string  `json:"query"` // its first 80 characters, spaces folded
	CallsPer   float64 `json:"calls_per_scrape"`
	MeanExecMs float64 `json:"mean_exec_ms"`
}

var (
	idleSeries   = regexp.MustCompile(`(?m)^pgha_connections\{state="idle"\} (\S+)$`)
	inXactSeries = regexp.MustCompile(`(?m)^pgha_connections\{state="idle_in_transaction"\} (\S+)$`)
)

// scrapeShape scrapes o.warmup times, then o.scrapes times measured; it
// checks that the exporter saw the shape (its idle-connection count), so a
// cheap scrape that missed the sessions cannot pass for a fast one.
func scrapeShape(ctx context.Context, s *server, x *exporter, o *options, r *Result) error {
	client := &http.Client{Timeout: 30 * time.Second}
	get := func() (string, error) {
		resp, err := client.Get(x.url)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("scrape: %s", resp.Status)
		}
		return string(b), err
	}
	for range o.warmup {
		if _, err := get(); err != nil {
			return err
		}
	}
	body, err := get()
	if err != nil {
		return err
	}
	if m := idleSeries.FindStringSubmatch(body); m == nil {
		return fmt.Errorf("the scrape has no pgha_connections{state=\"idle\"}")
	} else if idle, _ := strconv.ParseFloat(m[1], 64); int(idle) < r.Connections-r.InTransaction {
		return fmt.Errorf("the exporter saw %v idle sessions, %d are open", idle, r.Connections-r.InTransaction)
	}
	if m := inXactSeries.FindStringSubmatch(body); m == nil {
		return fmt.Errorf("the scrape has no pgha_connections{state=\"idle_in_transaction\"}")
	} else if n, _ := strconv.ParseFloat(m[1], 64); int(n) != r.InTransaction {
		return fmt.Errorf("the exporter saw %v sessions idle in a transaction, %d are", n, r.InTransaction)
	}
	if strings.Contains(body, "pgha_scrape_error") && !strings.Contains(body, "pgha_up 1") {
		return fmt.Errorf("the exporter reports the server down")
	}
	r.Series = strings.Count(body, "\npgha_")
	pids, err := sessionPIDs(ctx, s)
	if err != nil {
		return err
	}
	if err := s.exec(ctx, "SELECT pg_stat_statements_reset()"); err != nil {
		return err
	}
	cpu0, xcpu0 := treeSched(pids), schedCPU(x.cmd.Process.Pid)
	sample := make(latency.Sample, 0, o.scrapes)
	for range o.scrapes {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		t0 := time.Now()
		if _, err := get(); err != nil {
			return err
		}
		sample = append(sample, time.Since(t0))
	}
	cpu1, xcpu1 := treeSched(pids), schedCPU(x.cmd.Process.Pid)
	after, err := sessionPIDs(ctx, s)
	if err != nil {
		return err
	}
	if fmt.Sprint(after) != fmt.Sprint(pids) {
		// A session opened meanwhile did work this count does not see.
		return fmt.Errorf("the exporter's sessions changed during the measurement (%v, then %v)", pids, after)
	}
	var calls float64
	if err := s.admin.QueryRow(ctx, `SELECT coalesce(sum(calls), 0)::float8 FROM pg_stat_statements WHERE userid = $1::regrole`, monitorRole).Scan(&calls); err != nil {
		return fmt.Errorf("reading pg_stat_statements: %w", err)
	}
	n := float64(o.scrapes)
	rows, err := s.admin.Query(ctx, `SELECT calls::float8, mean_exec_time, left(regexp_replace(query, '\s+', ' ', 'g'), 80)
FROM pg_stat_statements WHERE userid = $1::regrole ORDER BY total_exec_time DESC`, monitorRole)
	if err != nil {
		return fmt.Errorf("reading pg_stat_statements: %w", err)
	}
	for rows.Next() {
		var st Statement
		if err := rows.Scan(&st.CallsPer, &st.MeanExecMs, &st.Query); err != nil {
			rows.Close()
			return fmt.Errorf("reading pg_stat_statements: %w", err)
		}
		st.CallsPer /= n
		r.ByStatement = append(r.ByStatement, st)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading pg_stat_statements: %w", err)
	}
	r.Scrapes = o.scrapes
	r.P50Ms, r.P99Ms = latency.Ms(sample.Quantile(0.5)), latency.Ms(sample.Quantile(0.99))
	r.ServerCPUMs = float64(cpu1-cpu0) / 1e6 / n
	r.ExporterCPUMs = float64(xcpu1-xcpu0) / 1e6 / n
	r.Statements = calls / n
	return nil
}

// sessionPIDs are the backends serving the exporter's role.
func sessionPIDs(ctx context.Context, s *server) ([]int, error) {
	rows, err := s.admin.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE usename = $1 ORDER BY pid`, monitorRole)
	if err != nil {
		return nil, fmt.Errorf("finding the exporter's sessions: %w", err)
	}
	defer rows.Close()
	var pids []int
	for rows.Next() {
		var pid int
		if err := rows.Scan(&pid); err != nil {
			return nil, err
		}
		pids = append(pids, pid)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(pids) == 0 {
		return nil, fmt.Errorf("the exporter has no session on the server")
	}
	return pids, nil
}

func treeSched(pids []int) int64 {
	var total int64
	for _, p := range pids {
		total += schedCPU(p)
	}
	return total
}

// schedCPU is the nanoseconds a process has run on a CPU
// (/proc/<pid>/schedstat's first field; the scheduler's own clock, finer
// than stat's 10 ms ticks), summed over its threads.
func schedCPU(pid int) int64 {
	if runtime.GOOS != "linux" {
		return 0
	}
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0
	}
	var total int64
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, task.Name()))
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) > 0 {
			ns, _ := strconv.ParseInt(f[0], 10, 64)
			total += ns
		}
	}
	return total
}
