package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotel-ops/hotel-ops/exporters/pgha_exporter/config"
	"github.com/hotel-ops/hotel-ops/internal/testenv"
)

// TestProbeFleet serves 50 targets from one binary through /probe: every
// probe answers, a hung cluster holds no more than --probe.max-parallel
// probes (the next one waits its turn), and a target no longer probed has
// its sessions closed, to be opened again by the next probe.
func TestProbeFleet(t *testing.T) {
	primary := testenv.StartPrimary(t, "fleet", testenv.PrimaryOptions{Settings: []string{"max_connections = 200"}})
	hung := testenv.StartPrimary(t, "hung", testenv.PrimaryOptions{})
	bin, write := buildExporter(t)
	var cfg strings.Builder
	cfg.WriteString("targets:\n")
	for i := 1; i <= 50; i++ {
		fmt.Fprintf(&cfg, "  cluster%02d:\n    dsn: %q\n", i, primary.DSN("postgres")+fmt.Sprintf("&application_name=cluster%02d", i))
	}
	for i := 1; i <= 4; i++ {
		fmt.Fprintf(&cfg, "  hung%d:\n    dsn: %q\n", i, hung.DSN("postgres")+fmt.Sprintf("&application_name=hung%d", i))
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cmd := exec.Command(bin, "--config.file", write("fleet.yml", cfg.String()), "--web.listen-address", addr,
		"--scrape.timeout", "2s", "--probe.max-parallel", "4", "--probe.idle-timeout", "2s")
	var logs strings.Builder
	var logMu sync.Mutex
	cmd.Stdout, cmd.Stderr = lockedWriter{&logs, &logMu}, lockedWriter{&logs, &logMu}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	probe := func(name string) (int, string, time.Duration) {
		t0 := time.Now()
		for {
			resp, err := http.Get("http://" + addr + "/probe?target=" + name)
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				return resp.StatusCode, string(body), time.Since(t0)
			}
			if time.Since(t0) > 10*time.Second {
				logMu.Lock()
				defer logMu.Unlock()
				t.Fatalf("probe %s: %v\n%s", name, err, logs.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	sessions := func(app string) int {
		var n int
		if err := primary.Connect("postgres").QueryRow(context.Background(), "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE $1", app).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	t.Run("fifty targets at once all answer", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan string, 50)
		for i := 1; i <= 50; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				name := fmt.Sprintf("cluster%02d", i)
				if code, body, _ := probe(name); code != 200 || !strings.Contains(body, "\npgha_up 1\n") {
					errs <- fmt.Sprintf("%s: %d", name, code)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
		if n := sessions("cluster%"); n < 50 || n > 100 {
			t.Errorf("%d sessions for 50 targets, want one or two each", n)
		}
	})

	t.Run("a hung cluster holds at most max-parallel probes", func(t *testing.T) {
		hung.Freeze()
		defer hung.Resume()
		var wg sync.WaitGroup
		for i := 1; i <= 4; i++ {
			wg.Add(1)
			go func() { defer wg.Done(); probe(fmt.Sprintf("hung%d", i)) }()
		}
		time.Sleep(300 * time.Millisecond) // the four hold every turn
		code, _, took := probe("cluster01")
		wg.Wait()
		if code == 200 && took < time.Second {
			t.Errorf("a healthy probe answered in %s while four hung probes held every turn: the bound does not hold", took)
		}
		if code != 200 && code != http.StatusServiceUnavailable {
			t.Errorf("healthy probe behind hung ones: %d, want 200 after its turn or 503", code)
		}
	})

	t.Run("a probe ends by one deadline from its arrival", func(t *testing.T) {
		hung.Freeze()
		defer hung.Resume()
		// Two probes of one hung target: the second waits for the
		// first's turn, and both must answer by --scrape.timeout (2s)
		// from their arrival, not the second 2s after the first.
		// A third says Prometheus waits 1s.
		var wg sync.WaitGroup
		took := make([]time.Duration, 3)
		codes := make([]int, 3)
		for i, h := range []string{"", "", "1"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes[i], _, took[i] = scrapeWithTimeout(t, "http://"+addr+"/probe?target=hung3", h)
			}()
		}
		wg.Wait()
		for i, d := range took[:2] {
			// 3.5s: the deadline plus the answer, well short of twice it.
			if d > 3500*time.Millisecond {
				t.Errorf("probe %d of a hung target answered after %s, past its 2s deadline (codes %v)", i, d, codes)
			}
		}
		if took[2] > 2*time.Second {
			t.Errorf("a probe whose Prometheus waits 1s answered after %s", took[2])
		}
	})

	t.Run("an idle target's sessions close and reopen", func(t *testing.T) {
		if code, _, _ := probe("cluster02"); code != 200 {
			t.Fatalf("probe: %d", code)
		}
		deadline := time.Now().Add(10 * time.Second)
		for sessions("cluster02") > 0 {
			if time.Now().After(deadline) {
				t.Fatalf("cluster02 still has %d sessions 10 s after its last probe (idle timeout 2s)", sessions("cluster02"))
			}
			time.Sleep(200 * time.Millisecond)
		}
		if code, body, _ := probe("cluster02"); code != 200 || !strings.Contains(body, "\npgha_up 1\n") {
			t.Errorf("probe after the idle close: %d\n%s", code, body)
		}
	})
}

// scrapeWithTimeout GETs url as Prometheus does, saying in
// X-Prometheus-Scrape-Timeout-Seconds that it waits header seconds (none
// when ""), and times the whole answer. A failed request is an error of
// t and gives code 0.
func scrapeWithTimeout(t *testing.T, url, header string) (code int, body string, took time.Duration) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if header != "" {
		req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", header)
	}
	t0 := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0, "", 0
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b), time.Since(t0)
}

type lockedWriter struct {
	b  *strings.Builder
	mu *sync.Mutex
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func TestScrapeBudget(t *testing.T) {
	for _, c := range []struct {
		header string
		want   time.Duration
	}{
		{"", 5 * time.Second},
		{"10", 5 * time.Second},         // Prometheus waits longer than --scrape.timeout
		{"4", 3750 * time.Millisecond},  // its scrape_timeout less the margin
		{"0.5", 450 * time.Millisecond}, // a short one keeps nine tenths
		{"0", 5 * time.Second},
		{"-1", 5 * time.Second},
		{"NaN", 5 * time.Second},
		{"+Inf", 5 * time.Second},
		{"1e10", 5 * time.Second}, // past what a time.Duration holds
		{"5", 4750 * time.Millisecond},
		{"soon", 5 * time.Second},
	} {
		h := http.Header{}
		if c.header != "" {
			h.Set("X-Prometheus-Scrape-Timeout-Seconds", c.header)
		}
		if got := scrapeBudget(h, 5*time.Second); got != c.want {
			t.Errorf("header %q: budget %s, want %s", c.header, got, c.want)
		}
	}
}

// TestProbeErrorsNameTheTargetOnce: a /probe target that cannot be opened
// (its DSN file missing, its DSN invalid, a pgbouncer target naming a pool
// rather than the console) answers 500 with the error naming the target
// once, and the log line carries the name only as its target attribute.
func TestProbeErrorsNameTheTargetOnce(t *testing.T) {
	bin, write := buildExporter(t)
	missing := filepath.Join(filepath.Dir(bin), "missing.dsn")
	garbage := write("garbage.dsn", "host=127.0.0.1 port=notaport\n")
	pool := write("pool.dsn", "host=127.0.0.1 port=6432 user=pgbouncer dbname=postgres\n")
	cfg := write("targets.yml", fmt.Sprintf("targets:\n  missing:\n    dsn_file: %s\n  garbage:\n    dsn_file: %s\n  pool:\n    kind: pgbouncer\n    dsn_file: %s\n", missing, garbage, pool))
	_, invalid := config.ParseDSN("port=notaport")
	if invalid == nil {
		t.Fatal("port=notaport parses")
	}
	addr, logged := startExporter(t, bin, "--config.file", cfg)
	for _, c := range []struct{ target, err string }{
		{"missing", "the DSN: reading secret: open " + missing + ": no such file or directory"},
		{"garbage", "the DSN in file " + garbage + ": " + invalid.Error()},
		{"pool", `a pgbouncer DSN must name the admin console, dbname=pgbouncer, not "postgres"`},
	} {
		code, body, _ := scrapeWithTimeout(t, "http://"+addr+"/probe?target="+c.target, "")
		if want := fmt.Sprintf("target %q: %s\n", c.target, c.err); code != http.StatusInternalServerError || body != want {
			t.Errorf("/probe?target=%s: %d %q, want 500 %q", c.target, code, body, want)
		}
		// Logged before the answer, but copied from the exporter's stderr
		// by a goroutine of exec: it may reach logged() a little later.
		want := fmt.Sprintf("msg=\"Opening probe target\" target=%s err=%q\n", c.target, c.err)
		for deadline := time.Now().Add(5 * time.Second); !strings.Contains(logged(), want); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Errorf("no log line %q:\n%s", want, logged())
				break
			}
		}
	}
}

// TestMetricsWithinScrapeTimeout: /metrics, like /probe, ends by the
// deadline that Prometheus' X-Prometheus-Scrape-Timeout-Seconds sets from
// the request's arrival, not --scrape.timeout later, for the PostgreSQL
// and the PgBouncer pinned by flags alike, and it still serves the
// exporter's own figures.
func TestMetricsWithinScrapeTimeout(t *testing.T) {
	primary := testenv.StartPrimary(t, "metricsbudget", testenv.PrimaryOptions{})
	// A PgBouncer that hangs, as a client sees it: the kernel completes
	// the handshake (the listener's backlog) and nothing ever answers.
	hungBouncer, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hungBouncer.Close() })
	bin, write := buildExporter(t)
	addr, logged := startExporter(t, bin, "--pg.dsn-file", write("primary.dsn", primary.DSN("postgres")+"\n"),
		"--pgbouncer.dsn", fmt.Sprintf("host=127.0.0.1 port=%d user=pgbouncer dbname=pgbouncer sslmode=disable", hungBouncer.Addr().(*net.TCPAddr).Port),
		"--scrape.timeout", "5s")
	scrape := func(what, wantUp string) {
		t.Helper()
		// Prometheus waits 1s: the budget is 0.9s, far from 5s.
		code, body, took := scrapeWithTimeout(t, "http://"+addr+"/metrics", "1")
		if took > 2*time.Second {
			t.Errorf("%s: /metrics whose Prometheus waits 1s answered after %s", what, took)
		}
		if code != http.StatusOK {
			t.Fatalf("%s: /metrics: %d\n%s\n%s", what, code, body, logged())
		}
		for _, want := range []string{"\npgha_up " + wantUp + "\n", "\npgha_pgbouncer_up 0\n", "pgha_exporter_build_info{", "\ngo_goroutines ", "\nprocess_start_time_seconds "} {
			if !strings.Contains(body, want) {
				t.Errorf("%s: /metrics lacks %q:\n%s", what, want, body)
			}
		}
	}
	scrape("the primary up, PgBouncer hung", "1")

	// A scrape whose Prometheus waits 3s holds the hung PgBouncer's turn
	// for 2.75s; one begun during it, waiting 1s, gets no turn for the
	// PgBouncer. Its page still has the PostgreSQL and the exporter's own
	// figures, without pgha_pgbouncer_*, and says why in the log.
	holding := make(chan struct{})
	go func() {
		defer close(holding)
		scrapeWithTimeout(t, "http://"+addr+"/metrics", "3")
	}()
	time.Sleep(500 * time.Millisecond)
	code, body, _ := scrapeWithTimeout(t, "http://"+addr+"/metrics", "1")
	<-holding
	if code != http.StatusOK {
		t.Errorf("/metrics while an earlier scrape holds the PgBouncer's turn: %d, want 200 with the rest\n%s", code, body)
	}
	for _, want := range []string{"\npgha_up 1\n", "pgha_exporter_build_info{", "\ngo_goroutines "} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics while the PgBouncer has no turn lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "pgha_pgbouncer_up") {
		t.Errorf("/metrics reports the PgBouncer it got no turn to scrape:\n%s", body)
	}
	if !strings.Contains(logged(), "an earlier scrape of this target") {
		t.Errorf("the PgBouncer left out of /metrics is not logged:\n%s", logged())
	}

	primary.Freeze()
	defer primary.Resume()
	scrape("both hung", "0")
}
