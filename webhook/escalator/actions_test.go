package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/redis/go-redis/v9"

	"github.com/hotel-ops/hotel-ops/internal/testenv"
	"github.com/hotel-ops/hotel-ops/webhook/payload"
)

// bodies is a loopback webhook receiver that keeps every notification's
// body by its idempotency key.
type bodies struct {
	mu    sync.Mutex
	got   map[string][]string
	first map[string]time.Time // when each key first arrived
	srv   *httptest.Server
}

func newBodies(t testing.TB) *bodies {
	b := &bodies{got: map[string][]string{}, first: map[string]time.Time{}}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, _ := io.ReadAll(r.Body)
		b.mu.Lock()
		k := r.Header.Get("Idempotency-Key")
		b.got[k] = append(b.got[k], string(data))
		if _, ok := b.first[k]; !ok {
			b.first[k] = time.Now()
		}
		b.mu.Unlock()
	}))
	t.Cleanup(b.srv.Close)
	return b
}

// arrived is when the notification key first arrived (zero: not yet).
func (b *bodies) arrived(key string) time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.first[key]
}

// wait returns the bodies of the notification whose key has the suffix,
// once one arrived.
func (b *bodies) wait(t testing.TB, suffix string, within time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		b.mu.Lock()
		for k, v := range b.got {
			if strings.HasSuffix(k, suffix) {
				out := append([]string(nil), v...)
				b.mu.Unlock()
				return out
			}
		}
		b.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no notification %s within %s", suffix, within)
	return nil
}

// auditOf reads the incident's audit entries through the API, oldest first.
func auditOf(t testing.TB, p *proc, incident string) []map[string]string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, p.url+"/api/v1/audit?incident="+url.QueryEscape(incident), nil)
	req.Header.Set("Authorization", "Bearer "+p.tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var entries []map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&entries); err != nil {
		t.Fatal(err)
	}
	var out []map[string]string
	for i := len(entries) - 1; i >= 0; i-- {
		m := map[string]string{}
		for k, v := range entries[i] {
			m[k] = fmt.Sprint(v)
		}
		out = append(out, m)
	}
	return out
}

// waitAudit waits until the incident's audit has an entry of the action.
func waitAudit(t testing.TB, p *proc, incident, action string, within time.Duration) map[string]string {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		for _, e := range auditOf(t, p, incident) {
			if e["action"] == action {
				return e
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %s for %s within %s:\n%v\n%s", action, incident, within, auditOf(t, p, incident), p.log)
	return nil
}

func lines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

// actionsConfig writes escalator.yml with two actions, run at the
// opening of a critical incident: restart (an exec of script, with the
// alert's instance label as its one argument) and clear_sessions (the
// instance's session keys in Redis); people are paged after `page`.
func actionsConfig(t *testing.T, dir, script, redisAddr, page string, rec *bodies) (cfg, token string) {
	return writeConfig(t, dir, fmt.Sprintf(`
store: {path: %s}
channels:
  oncall: {type: webhook, url: %s/oncall}
  manager: {type: webhook, url: %s/manager}
actions:
  restart:
    type: exec
    category: emergency
    dry_run: false
    rollback: start the previous process by hand
    timeout: 20s
    labels: {instance: '.+'}
    command: [%s, '{{.instance}}']
  clear_sessions:
    type: redis_cache_clear
    category: emergency
    dry_run: false
    rollback: sessions are rebuilt at the next sign-in
    labels: {instance: '.+'}
    redis_addr: %s
    pattern: 'sess:{{.instance}}:*'
diagnostics:
  - {name: cache, type: redis, addr: %s}
daily_health: {at: "09:00", time_zone: Asia/Tokyo, channels: [oncall]}
policies:
  - name: critical
    matchers: ['severity="critical"']
    steps: [{after: 0s, actions: [restart, clear_sessions], notify: [oncall]}, {after: %s, notify: [manager]}]
`, filepath.Join(dir, "escalator.db"), rec.srv.URL, rec.srv.URL, script, redisAddr, redisAddr, page))
}

// writeConfig writes escalator.yml with conf, and the API token file.
func writeConfig(t testing.TB, dir, conf string) (cfg, token string) {
	t.Helper()
	cfg, token = filepath.Join(dir, "escalator.yml"), filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte("s3cret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg, token
}

func delivery(group, fp, instance, status string) string {
	return fmt.Sprintf(`{"version":"4","groupKey":%q,"status":%q,"receiver":"escalator","alerts":[{"status":%q,
"labels":{"alertname":"PostgresDown","severity":"critical","instance":%q},"annotations":{"summary":"db down"},
"startsAt":"2026-11-28T00:00:00Z","fingerprint":%q}]}`, group, status, status, instance, fp)
}

// A firing alert, delivered twice (two Alertmanager peers), restarts a
// real process once and clears only its instance's Redis keys; a label
// full of shell metacharacters reaches the program as one argument and
// does nothing else; what was done is in the audit log, the metrics and
// the resolve notification, and the first page carries the diagnosis.
func TestActionsEndToEnd(t *testing.T) {
	dir := t.TempDir()
	rdb := testenv.StartRedis(t)
	rc := redis.NewClient(&redis.Options{Addr: rdb.Addr})
	defer rc.Close()
	ctx := context.Background()
	for _, k := range []string{"sess:db-1:a", "sess:db-1:b", "sess:db-2:a", "other"} {
		rc.Set(ctx, k, "x", 0)
	}

	// The "service": a sleep whose pid is in pidfile; restart.sh kills
	// it, starts another and logs its argument.
	pidfile, runs := filepath.Join(dir, "pid"), filepath.Join(dir, "runs")
	pwned := filepath.Join(dir, "pwned")
	script := filepath.Join(dir, "restart.sh")
	os.WriteFile(script, []byte(fmt.Sprintf(`#!/bin/sh
[ -f %[1]s ] && kill "$(cat %[1]s)" 2>/dev/null
sleep 300 >/dev/null 2>&1 &
echo $! > %[1]s
printf '%%s\n' "$1" >> %[2]s
`, pidfile, runs)), 0o755)
	rec := newBodies(t)
	cfg, tok := actionsConfig(t, dir, script, rdb.Addr, "1h", rec)
	p := start(t, cfg, tok, testenv.FreePort(t))

	sent := time.Now()
	d := delivery("g1", "fp1", "db-1", "firing")
	for range 2 {
		if code, msg := p.post(t, "/api/v1/alerts", d, p.tok); code != 200 {
			t.Fatalf("delivery: %d %s", code, msg)
		}
	}
	id := incidentID("fp1")
	started := waitAudit(t, p, id, "action_started", 10*time.Second)
	waitAudit(t, p, id, "action_succeeded", 10*time.Second)
	t.Logf("alert received → action started: %s (audit time)", auditLag(t, started["time"], sent))
	deadline := time.Now().Add(5 * time.Second)
	for len(lines(t, runs)) < 1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := lines(t, runs); len(got) != 1 || got[0] != "db-1" {
		t.Fatalf("restart ran with %q, want once with db-1", got)
	}
	pid, _ := strconv.Atoi(lines(t, pidfile)[0])
	if err := syscall.Kill(pid, 0); err != nil {
		t.Errorf("the restarted process %d is not running: %v", pid, err)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	for k, want := range map[string]int64{"sess:db-1:a": 0, "sess:db-1:b": 0, "sess:db-2:a": 1, "other": 1} {
		if got := rc.Exists(ctx, k).Val(); got != want {
			t.Errorf("redis key %s: exists=%d, want %d", k, got, want)
		}
	}
	first := rec.wait(t, "/0/oncall", 10*time.Second)
	if !strings.Contains(first[0], `"diagnostics":"`) || !strings.Contains(first[0], "cache (redis): PONG") {
		t.Errorf("first page without the diagnosis: %s", first[0])
	}

	// Shell and glob metacharacters in the label: one literal argument,
	// nothing run, no other key touched.
	evil := "db-3; touch " + pwned + " $(touch " + pwned + ")"
	if code, msg := p.post(t, "/api/v1/alerts", delivery("g2", "fp2", evil, "firing"), p.tok); code != 200 {
		t.Fatalf("delivery: %d %s", code, msg)
	}
	waitAudit(t, p, incidentID("fp2"), "action_succeeded", 10*time.Second)
	deadline = time.Now().Add(5 * time.Second)
	for len(lines(t, runs)) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := lines(t, runs); len(got) != 2 || got[1] != evil {
		t.Errorf("restart's runs %q, want the second with the label as one argument", got)
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Error("a label's shell metacharacters ran a command")
	}
	if got := rc.Exists(ctx, "sess:db-2:a", "other").Val(); got != 2 {
		t.Errorf("keys of other instances removed: %d of 2 left", got)
	}

	// The resolve tells oncall what automation did.
	if code, msg := p.post(t, "/api/v1/alerts", delivery("g1", "fp1", "db-1", "resolved"), p.tok); code != 200 {
		t.Fatalf("resolve: %d %s", code, msg)
	}
	resolve := rec.wait(t, "/resolve/oncall", 10*time.Second)
	var msg struct {
		Automation []string `json:"automation"`
	}
	json.Unmarshal([]byte(resolve[0]), &msg)
	if !strings.Contains(strings.Join(msg.Automation, "\n"), "restart succeeded at") {
		t.Errorf("resolve notification's automation: %q", msg.Automation)
	}
	// The daily health check, on demand: every check's summary to oncall.
	if code, msg := p.post(t, "/api/v1/health-report", "", p.tok); code != 200 || !strings.Contains(msg, "cache (redis): PONG") {
		t.Errorf("health report: %d %s", code, msg)
	}
	report := rec.wait(t, "/on-demand", 5*time.Second)
	if !strings.Contains(report[0], `"event":"report"`) || !strings.Contains(report[0], "Daily health check") {
		t.Errorf("health report sent as %s", report[0])
	}
	if got := counterOf(t, p, "escalator_incidents_resolved_total", map[string]string{"automated": "true"}); got != 1 {
		t.Errorf("escalator_incidents_resolved_total{automated=true} = %v, want 1", got)
	}
	if got := counterOf(t, p, "escalator_actions_total", map[string]string{"action": "restart", "result": "succeeded"}); got != 2 {
		t.Errorf("escalator_actions_total{restart,succeeded} = %v, want 2", got)
	}
}

// incidentID is the ID of the incident delivery opens for fingerprint fp.
func incidentID(fp string) string {
	return payload.IncidentID(fp, time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC))
}

// auditLag is the time from sent to an audit entry's time.
func auditLag(t testing.TB, at string, sent time.Time) time.Duration {
	tm, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		t.Fatalf("audit time %q: %v", at, err)
	}
	return tm.Sub(sent).Round(time.Millisecond)
}

func counterOf(t *testing.T, p *proc, family string, want map[string]string) float64 {
	t.Helper()
	mf := metricFamily(t, p, family)
	if mf == nil {
		return 0
	}
next:
	for _, m := range mf.GetMetric() {
		for _, l := range m.GetLabel() {
			if v, ok := want[l.GetName()]; ok && v != l.GetValue() {
				continue next
			}
		}
		return m.GetCounter().GetValue()
	}
	return 0
}

// kill -9 while an action runs: after the restart the run is recorded
// unknown, never run again, and the next step pages people at once.
func TestActionKilledMidRunIsNotRunAgain(t *testing.T) {
	dir := t.TempDir()
	rdb := testenv.StartRedis(t)
	runs := filepath.Join(dir, "runs")
	script := filepath.Join(dir, "slow.sh")
	os.WriteFile(script, []byte(fmt.Sprintf("#!/bin/sh\nprintf '%%s\\n' \"$1\" >> %s\nexec sleep 15\n", runs)), 0o755)
	rec := newBodies(t)
	cfg, tok := actionsConfig(t, dir, script, rdb.Addr, "1h", rec)
	port := testenv.FreePort(t)
	p := start(t, cfg, tok, port)
	if code, msg := p.post(t, "/api/v1/alerts", delivery("g1", "fp1", "db-1", "firing"), p.tok); code != 200 {
		t.Fatalf("delivery: %d %s", code, msg)
	}
	id := incidentID("fp1")
	waitAudit(t, p, id, "action_started", 10*time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for len(lines(t, runs)) < 1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
	killed := time.Now()
	p = start(t, cfg, tok, port)
	unknown := waitAudit(t, p, id, "action_unknown", 10*time.Second)
	if !strings.Contains(unknown["detail"], "outcome unknown") {
		t.Errorf("unknown entry: %v", unknown)
	}
	// The next step (an hour away) is taken at once: people look.
	rec.wait(t, "/1/manager", 10*time.Second)
	t.Logf("kill -9 → manager paged: %s", time.Since(killed).Round(time.Millisecond))
	time.Sleep(time.Second)
	if got := lines(t, runs); len(got) != 1 {
		t.Errorf("the action ran %d times, want once: %q", len(got), got)
	}
}

// A standard change waits for approval: approved through the API it
// runs (once, by then); not approved in time, it never runs and the next
// step pages people at once.
func TestActionApproval(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	var purged []string
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		purged = append(purged, r.URL.Path)
		mu.Unlock()
	}))
	defer target.Close()
	rec := newBodies(t)
	port := testenv.FreePort(t)
	os.WriteFile(filepath.Join(dir, "link-secret"), []byte("link-secret\n"), 0o600)
	cfg, tok := writeConfig(t, dir, fmt.Sprintf(`
external_url: http://127.0.0.1:%d
ack_links: {secret_file: %s, ttl: 1h}
store: {path: %s}
channels:
  oncall: {type: webhook, url: %s/oncall}
  manager: {type: webhook, url: %s/manager}
actions:
  purge:
    type: http
    category: standard
    approval_timeout: 3s
    dry_run: false
    rollback: the CDN refills from origin
    labels: {instance: '[a-z0-9-]+'}
    url: %s/purge/{{.instance}}
policies:
  - name: critical
    matchers: ['severity="critical"']
    steps: [{after: 0s, actions: [purge], notify: [oncall]}, {after: 1h, notify: [manager]}]
`, port, filepath.Join(dir, "link-secret"), filepath.Join(dir, "escalator.db"), rec.srv.URL, rec.srv.URL, target.URL))
	p := start(t, cfg, tok, port)

	if code, msg := p.post(t, "/api/v1/alerts", delivery("g1", "fp1", "db-1", "firing"), p.tok); code != 200 {
		t.Fatalf("delivery: %d %s", code, msg)
	}
	id := incidentID("fp1")
	waitAudit(t, p, id, "action_awaiting_approval", 10*time.Second)
	if code, msg := p.post(t, "/api/v1/incidents/"+id+"/actions/purge/approve", "", ""); code != http.StatusUnauthorized {
		t.Errorf("approval without the token: %d %s", code, msg)
	}
	mu.Lock()
	if len(purged) != 0 {
		t.Errorf("ran before its approval: %v", purged)
	}
	mu.Unlock()
	approved := time.Now()
	if code, msg := p.post(t, "/api/v1/incidents/"+id+"/actions/purge/approve", "", p.tok); code != 200 {
		t.Fatalf("approve: %d %s", code, msg)
	}
	done := waitAudit(t, p, id, "action_succeeded", 10*time.Second)
	t.Logf("approved → action succeeded: %s", auditLag(t, done["time"], approved))
	if code, _ := p.post(t, "/api/v1/incidents/"+id+"/actions/purge/approve", "", p.tok); code != http.StatusNotFound {
		t.Errorf("a second approval: %d, want 404 (nothing waits)", code)
	}
	mu.Lock()
	if len(purged) != 1 || purged[0] != "/purge/db-1" {
		t.Errorf("purged %v, want once /purge/db-1", purged)
	}
	mu.Unlock()

	// Nobody approves the second: at 3 s it times out, the manager is paged.
	if code, msg := p.post(t, "/api/v1/alerts", delivery("g2", "fp2", "db-2", "firing"), p.tok); code != 200 {
		t.Fatalf("delivery: %d %s", code, msg)
	}
	id2 := incidentID("fp2")
	waitAudit(t, p, id2, "action_approval_timeout", 10*time.Second)
	rec.wait(t, id2+"/1/manager", 5*time.Second)
	mu.Lock()
	if len(purged) != 1 {
		t.Errorf("an action not approved ran: %v", purged)
	}
	mu.Unlock()

	// The third is approved from the page: the signed link in the
	// notification, without the token (the GET shows a button, the POST
	// approves).
	if code, msg := p.post(t, "/api/v1/alerts", delivery("g3", "fp3", "db-3", "firing"), p.tok); code != 200 {
		t.Fatalf("delivery: %d %s", code, msg)
	}
	id3 := incidentID("fp3")
	waitAudit(t, p, id3, "action_awaiting_approval", 10*time.Second)
	var page struct {
		Approvals []struct{ Action, URL string } `json:"approvals"`
	}
	json.Unmarshal([]byte(rec.wait(t, id3+"/0/oncall", 5*time.Second)[0]), &page)
	if len(page.Approvals) != 1 || page.Approvals[0].Action != "purge" {
		t.Fatalf("the page's approvals: %+v", page.Approvals)
	}
	link, err := url.Parse(page.Approvals[0].URL)
	if err != nil {
		t.Fatal(err)
	}
	tampered := link.Query()
	tampered.Set("id", id)
	resp, err := http.PostForm(p.url+"/approve", tampered)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("a link for another incident: %d, want 403", resp.StatusCode)
	}
	resp, err = http.PostForm(p.url+"/approve", link.Query())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("approving by the signed link: %d", resp.StatusCode)
	}
	waitAudit(t, p, id3, "action_succeeded", 10*time.Second)
	mu.Lock()
	if len(purged) != 2 || purged[1] != "/purge/db-3" {
		t.Errorf("purged %v, want db-3 second", purged)
	}
	mu.Unlock()
}

// Preconditions and post-checks asked of a real Prometheus, scraping a
// loopback exporter whose gauge the action's program sets: the action
// runs only while demo_up is 0 for its instance, and counts as a success
// only once Prometheus sees demo_up 1 for it; a fix that does not take
// is a failure, and the next step pages people at once.
func TestActionChecksThroughPrometheus(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "up") // instance per line: those up
	os.WriteFile(state, []byte("db-2\n"), 0o644)
	exporter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		up := map[string]bool{}
		for _, l := range lines(t, state) {
			up[l] = true
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		for _, inst := range []string{"db-1", "db-2", "db-3"} {
			v := 0
			if up[inst] {
				v = 1
			}
			fmt.Fprintf(w, "demo_up{node=%q} %d\n", inst, v) // instance is the target's
		}
	}))
	defer exporter.Close()
	prom := testenv.StartPrometheus(t, testenv.PrometheusOptions{ScrapeJobs: []testenv.ScrapeJob{
		{JobName: "demo", Targets: []string{strings.TrimPrefix(exporter.URL, "http://")}}}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := prom.WaitForQuery(ctx, `demo_up{node="db-2"} == 1`, func(v model.Vector) bool { return len(v) == 1 }); err != nil {
		t.Fatal(err)
	}
	// The fix brings db-1 back, and only db-1.
	script := filepath.Join(dir, "fix.sh")
	os.WriteFile(script, []byte(fmt.Sprintf("#!/bin/sh\n[ \"$1\" = db-1 ] && echo db-1 >> %s\nexit 0\n", state)), 0o755)
	rec := newBodies(t)
	cfg, tok := writeConfig(t, dir, fmt.Sprintf(`
store: {path: %s}
prometheus: {url: %s}
channels:
  oncall: {type: webhook, url: %s/oncall}
  manager: {type: webhook, url: %s/manager}
actions:
  fix:
    type: exec
    category: emergency
    dry_run: false
    rollback: none needed
    labels: {instance: 'db-[0-9]+'}
    command: [%s, '{{.instance}}']
    precondition: 'demo_up{node="{{.instance}}"} == 0'
    postcheck: {query: 'demo_up{node="{{.instance}}"} == 1', within: 6s}
policies:
  - name: critical
    matchers: ['severity="critical"']
    steps: [{after: 0s, actions: [fix], notify: [oncall]}, {after: 1h, notify: [manager]}]
`, filepath.Join(dir, "escalator.db"), prom.URL, rec.srv.URL, rec.srv.URL, script))
	p := start(t, cfg, tok, testenv.FreePort(t))

	sent := time.Now()
	for i, inst := range []string{"db-1", "db-2", "db-3"} {
		if code, msg := p.post(t, "/api/v1/alerts", delivery(fmt.Sprint("g", i), fmt.Sprint("fp", i), inst, "firing"), p.tok); code != 200 {
			t.Fatalf("delivery: %d %s", code, msg)
		}
	}
	// db-1: ran, and Prometheus saw it recover.
	ok := waitAudit(t, p, incidentID("fp0"), "action_succeeded", 20*time.Second)
	if !strings.Contains(ok["detail"], "recovered: demo_up") {
		t.Errorf("db-1's success does not say it recovered: %v", ok)
	}
	t.Logf("alert received → post-check's verdict (Prometheus scraping every 1s): %s", auditLag(t, ok["time"], sent))
	// db-2: up already, so the precondition does not hold: not run.
	waitAudit(t, p, incidentID("fp1"), "action_precondition", 10*time.Second)
	// db-3: ran, did not recover within 6 s: failed, manager paged now.
	failed := waitAudit(t, p, incidentID("fp2"), "action_failed", 20*time.Second)
	if !strings.Contains(failed["detail"], "not recovered") {
		t.Errorf("db-3's failure: %v", failed)
	}
	rec.wait(t, incidentID("fp2")+"/1/manager", 10*time.Second)
	for _, fp := range []string{"fp0", "fp1"} {
		for _, e := range auditOf(t, p, incidentID(fp)) {
			if e["action"] == "escalated" && strings.Contains(e["detail"], "taken now") {
				t.Errorf("%s paged early: %v", fp, e)
			}
		}
	}
}

// check-config builds the actions, so a secret file that is missing is
// found before the service starts.
func TestCheckConfigReadsActionSecrets(t *testing.T) {
	dir := t.TempDir()
	cfg, _ := writeConfig(t, dir, fmt.Sprintf(`
store: {path: %s}
channels:
  oncall: {type: webhook, url: http://127.0.0.1:1/oncall}
actions:
  reset_pool:
    type: postgres_pool_reset
    category: emergency
    rollback: clients reconnect
    dsn_file: %s
policies:
  - name: critical
    matchers: ['severity="critical"']
    steps: [{after: 0s, actions: [reset_pool], notify: [oncall]}]
`, filepath.Join(dir, "escalator.db"), filepath.Join(dir, "missing-dsn")))
	out, err := exec.Command(binary(t), "--config.file="+cfg, "check-config").CombinedOutput()
	if code := exitCode(err); code != 2 || !strings.Contains(string(out), "actions.reset_pool") || !strings.Contains(string(out), "missing-dsn") {
		t.Errorf("check-config with a missing secret file: exit %d\n%s", code, out)
	}
	os.WriteFile(filepath.Join(dir, "missing-dsn"), []byte("postgres://127.0.0.1:1/x\n"), 0o600)
	if out, err := exec.Command(binary(t), "--config.file="+cfg, "check-config").CombinedOutput(); err != nil || !strings.Contains(string(out), "1 actions") {
		t.Errorf("check-config with the file: %v\n%s", err, out)
	}
}
