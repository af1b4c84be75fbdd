package incidents

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotel-ops/hotel-ops/internal/testenv"
)

// The real escalator binary, built once per test run into binDir.
var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func escalatorBinary(t *testing.T) string {
	t.Helper()
	root := testenv.RepoRoot(t)
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "sla-incidents-escalator-"); buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "escalator")
		cmd := exec.Command("go", "build", "-o", binPath, "./webhook/escalator")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./webhook/escalator: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

const testToken = "s3cret-token"

// escalator is a real escalator process on loopback with its embedded
// store in a temporary directory.
type escalator struct {
	*testenv.Daemon
	URL       string
	TokenFile string
	Pages     *testenv.HTTPRecorder // its one channel
}

// startEscalator starts escalator with a webhook channel to a loopback
// recorder and two policies: alerts named CacheSlow run the action fix
// (/bin/true, so it succeeds) before paging, every other alert pages at
// once. The second steps are an hour away, so that no escalation happens
// during a test.
func startEscalator(t *testing.T) *escalator {
	t.Helper()
	bin := escalatorBinary(t)
	dir := t.TempDir()
	rec := testenv.StartHTTPRecorder(t)
	e := &escalator{Pages: rec, TokenFile: filepath.Join(dir, "token")}
	if err := os.WriteFile(e.TokenFile, []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "escalator.yml")
	conf := fmt.Sprintf(`
store: {path: %s}
channels:
  oncall: {type: webhook, url: %s/oncall}
actions:
  fix:
    type: exec
    category: emergency
    dry_run: false
    rollback: nothing to undo
    command: [/bin/true]
policies:
  - name: automated
    matchers: ['alertname="CacheSlow"']
    steps: [{after: 0s, actions: [fix], notify: [oncall]}, {after: 1h, notify: [oncall]}]
  - name: paged
    matchers: ['severity=~".+"']
    steps: [{after: 0s, notify: [oncall]}, {after: 1h, notify: [oncall]}]
`, filepath.Join(dir, "escalator.db"), rec.URL)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	e.URL = "http://" + addr
	e.Daemon = &testenv.Daemon{Name: "escalator", Bin: bin, Dir: dir, Log: filepath.Join(dir, "escalator.log"),
		Args: []string{"--config.file=" + cfg, "--api.token-file=" + e.TokenFile, "--web.listen-address=" + addr}}
	t.Cleanup(func() {
		e.Kill()
		if t.Failed() {
			t.Logf("escalator log:\n%s", e.Tail())
		}
	})
	e.start(t)
	return e
}

// start starts the process (again) and waits until it answers.
func (e *escalator) start(t *testing.T) {
	t.Helper()
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	if err := e.WaitHTTP(e.URL+"/metrics", 15*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, e.Tail())
	}
}

// post sends body to path with the token and returns the answer, failing
// the test unless it is 200.
func (e *escalator) post(t *testing.T, path, body string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %s %s", path, resp.Status, b)
	}
	return string(b)
}

// alert is one Alertmanager alert of a test.
type alert struct {
	name, severity, category, summary string
	startsAt                          time.Time
}

func (a alert) fingerprint() string { return "fp-" + strings.ToLower(a.name) }

// deliver posts the alert as Alertmanager's webhook does, firing or
// resolved, and returns the times just before and after escalator took it.
func (e *escalator) deliver(t *testing.T, a alert, status string) (before, after time.Time) {
	t.Helper()
	type am struct {
		Status      string            `json:"status"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
		StartsAt    time.Time         `json:"startsAt"`
		EndsAt      time.Time         `json:"endsAt,omitzero"`
		Fingerprint string            `json:"fingerprint"`
	}
	one := am{Status: status, StartsAt: a.startsAt, Fingerprint: a.fingerprint(),
		Labels:      map[string]string{"alertname": a.name, "severity": a.severity, "category": a.category, "instance": "db-1"},
		Annotations: map[string]string{"summary": a.summary}}
	if status == "resolved" {
		one.EndsAt = time.Now().UTC()
	}
	body, err := json.Marshal(map[string]any{"version": "4", "groupKey": "{}:" + a.name, "status": status,
		"receiver": "escalator", "alerts": []am{one}})
	if err != nil {
		t.Fatal(err)
	}
	before = time.Now()
	e.post(t, "/api/v1/alerts", string(body))
	return before, time.Now()
}
