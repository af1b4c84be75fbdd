package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotel-ops/hotel-ops/internal/testenv"
)

// crashSetup writes a configuration with two webhook channels, each to
// its own loopback recorder: every critical alert notifies both at once
// and the manager after `second`. It returns the daemon, not started.
func crashSetup(t *testing.T, oncall, other, manager *testenv.HTTPRecorder, second string, storeYAML string) *testenv.Daemon {
	t.Helper()
	dir := t.TempDir()
	if storeYAML == "" {
		storeYAML = fmt.Sprintf("{path: %s}", filepath.Join(dir, "escalator.db"))
	}
	token := filepath.Join(dir, "token")
	os.WriteFile(token, []byte("s3cret-token\n"), 0o600)
	cfg := filepath.Join(dir, "escalator.yml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
store: %s
channels:
  oncall: {type: webhook, url: %s/oncall, timeout: 10s}
  other: {type: webhook, url: %s/other, timeout: 10s}
  manager: {type: webhook, url: %s/manager, timeout: 10s}
policies:
  - name: critical
    matchers: ['severity="critical"']
    steps: [{after: 0s, notify: [oncall, other]}, {after: %s, notify: [manager]}]
`, storeYAML, oncall.URL, other.URL, manager.URL, second)), 0o600)
	port := testenv.FreePort(t)
	d := &testenv.Daemon{Name: "escalator", Bin: binary(t), Dir: dir, Log: filepath.Join(dir, "escalator.log"),
		Args: []string{"--config.file=" + cfg, "--api.token-file=" + token, fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port)}}
	t.Cleanup(func() {
		d.Kill()
		if t.Failed() {
			t.Logf("escalator log:\n%s", d.Tail())
		}
	})
	return d
}

func addr(d *testenv.Daemon) string {
	for _, a := range d.Args {
		if v, ok := strings.CutPrefix(a, "--web.listen-address="); ok {
			return "http://" + v
		}
	}
	return ""
}

func startDaemon(t *testing.T, d *testenv.Daemon) {
	t.Helper()
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	if err := d.WaitHTTP(addr(d)+"/metrics", 10*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, d.Tail())
	}
}

// deliverUntilStored posts the delivery as Alertmanager does: again, a
// second later, until escalator answers 200 (it is down, or restarting).
func deliverUntilStored(ctx context.Context, url, body string) error {
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/api/v1/alerts", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer s3cret-token")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(time.Second)
	}
	return ctx.Err()
}

// keyCounts counts a recorder's requests per idempotency key.
func keyCounts(rec *testenv.HTTPRecorder) map[string]int {
	out := map[string]int{}
	for _, r := range rec.Requests() {
		out[r.Header.Get("Idempotency-Key")]++
	}
	return out
}

func waitKeys(t *testing.T, rec *testenv.HTTPRecorder, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if len(keyCounts(rec)) >= n {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: %d distinct notifications within %s, want %d", rec.URL, len(keyCounts(rec)), within, n)
}

// Escalator is killed (SIGKILL) three times at random moments while 500
// incidents arrive and escalate, and started again each time. Every
// (incident, step, channel) must arrive: none lost. Only a send in flight
// at a kill may arrive twice, with its key; the figures are logged.
func TestRepeatedKill9LosesNothing(t *testing.T) {
	t.Run("embedded", func(t *testing.T) { repeatedKill9(t, "") })
	t.Run("postgres", func(t *testing.T) {
		pg := testenv.StartPrimary(t, "escalator-kill9", testenv.PrimaryOptions{})
		pg.Exec("CREATE DATABASE escalator")
		dsnFile := filepath.Join(t.TempDir(), "dsn")
		os.WriteFile(dsnFile, []byte(pg.DSN("escalator")), 0o600)
		repeatedKill9(t, fmt.Sprintf("{postgres: {dsn_file: %s}}", dsnFile))
	})
}

func repeatedKill9(t *testing.T, storeYAML string) {
	oncall, other, manager := testenv.StartHTTPRecorder(t), testenv.StartHTTPRecorder(t), testenv.StartHTTPRecorder(t)
	d := crashSetup(t, oncall, other, manager, "3s", storeYAML)
	startDaemon(t, d)
	const incidents = 500
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stored atomic.Int32
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := 0; i < incidents; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if deliverUntilStored(ctx, addr(d), deliveryJSON(fmt.Sprint("g", i), fmt.Sprint("fp", i), "firing")) == nil {
				stored.Add(1)
			}
		}()
	}
	const kills = 3
	for k := 0; k < kills; k++ {
		time.Sleep(time.Duration(300+rand.IntN(900)) * time.Millisecond)
		d.Kill()
		startDaemon(t, d)
	}
	wg.Wait()
	if stored.Load() != incidents {
		t.Fatalf("%d of %d deliveries stored", stored.Load(), incidents)
	}
	for _, rec := range []*testenv.HTTPRecorder{oncall, other, manager} {
		waitKeys(t, rec, incidents, 90*time.Second) // PostgreSQL: leases of a killed process end after 15 s
	}
	time.Sleep(2 * time.Second) // anything sent twice arrives by now
	var doubled, sends int
	for name, rec := range map[string]*testenv.HTTPRecorder{"oncall": oncall, "other": other, "manager": manager} {
		counts := keyCounts(rec)
		if len(counts) != incidents {
			t.Errorf("%s: %d distinct notifications, want %d", name, len(counts), incidents)
		}
		for k, n := range counts {
			sends += n
			if !strings.HasSuffix(k, "/"+name) {
				t.Errorf("%s received %s", name, k)
			}
			doubled += n - 1
		}
	}
	// At most what was in flight at each kill: the senders' slots.
	if limit := kills * 3 * 256; doubled > limit {
		t.Errorf("%d sends repeated over %d kills, more than could be in flight (%d)", doubled, kills, limit)
	}
	t.Logf("%d kills: %d notifications, 0 lost, %d sent twice (%d sends)", kills, 3*incidents, doubled, sends)
}

// Killed while a receiver stalls with sends in flight: once started
// again, escalator sends those again at once (the embedded store holds
// claims in memory: nothing is in flight after a restart), with the same
// keys; what the healthy channel had received is not sent again.
func TestKill9MidSendResumesAtOnce(t *testing.T) {
	oncall, other, manager := testenv.StartHTTPRecorder(t), testenv.StartHTTPRecorder(t), testenv.StartHTTPRecorder(t)
	oncall.Stall(time.Hour) // answers nothing while the first process runs
	d := crashSetup(t, oncall, other, manager, "1h", "")
	startDaemon(t, d)
	const incidents = 20
	for i := 0; i < incidents; i++ {
		if err := deliverUntilStored(context.Background(), addr(d), deliveryJSON(fmt.Sprint("g", i), fmt.Sprint("fp", i), "firing")); err != nil {
			t.Fatal(err)
		}
	}
	waitKeys(t, other, incidents, 10*time.Second)
	waitKeys(t, oncall, incidents, 10*time.Second) // all in flight, stalled
	time.Sleep(500 * time.Millisecond)             // the healthy channel's sends settled
	d.Kill()
	oncall.Stall(0)
	restarted := time.Now()
	startDaemon(t, d)
	deadline := restarted.Add(10 * time.Second) // well before a lease of a channel timeout could end
	for time.Now().Before(deadline) {
		if n := len(oncall.Requests()); n >= 2*incidents {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	resumed := time.Since(restarted)
	if n := len(oncall.Requests()); n != 2*incidents {
		t.Fatalf("stalled channel: %d requests after the restart, want each of its %d sent again", n, incidents)
	}
	for k, n := range keyCounts(oncall) {
		if n != 2 {
			t.Errorf("%s: %d requests, want 2 (in flight at the kill, then again)", k, n)
		}
	}
	time.Sleep(time.Second)
	for k, n := range keyCounts(other) {
		if n != 1 {
			t.Errorf("healthy channel: %s sent %d times", k, n)
		}
	}
	t.Logf("in-flight sends resumed %s after the restart", resumed.Round(time.Millisecond))
}
