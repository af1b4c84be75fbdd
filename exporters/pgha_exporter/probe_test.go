package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

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
		get := func(header string) (int, time.Duration) {
			req, _ := http.NewRequest("GET", "http://"+addr+"/probe?target=hung3", nil)
			if header != "" {
				req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", header)
			}
			t0 := time.Now()
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return 0, 0
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp.StatusCode, time.Since(t0)
		}
		var wg sync.WaitGroup
		took := make([]time.Duration, 3)
		codes := make([]int, 3)
		for i, h := range []string{"", "", "1"} {
			wg.Add(1)
			go func() { defer wg.Done(); codes[i], took[i] = get(h) }()
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
