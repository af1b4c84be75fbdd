package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"golang.org/x/crypto/bcrypt"

	"github.com/hotel-ops/hotel-ops/internal/testenv"
)

// recorder is a loopback webhook endpoint that records each notification
// by its idempotency key, and the last acknowledgement link sent.
type recorder struct {
	mu     sync.Mutex
	keys   map[string]int
	ackURL string
	srv    *httptest.Server
}

func newRecorder(t *testing.T) *recorder {
	r := &recorder{keys: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var msg struct {
			AckURL string `json:"ack_url"`
		}
		json.NewDecoder(req.Body).Decode(&msg)
		r.mu.Lock()
		r.keys[req.Header.Get("Idempotency-Key")]++
		if msg.AckURL != "" {
			r.ackURL = msg.AckURL
		}
		r.mu.Unlock()
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *recorder) snapshot() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for k, v := range r.keys {
		out[k] = v
	}
	return out
}

func (r *recorder) waitFor(t *testing.T, n int, within time.Duration) map[string]int {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if s := r.snapshot(); len(s) >= n {
			return s
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%d notifications arrived within %s, want %d: %v", len(r.snapshot()), within, n, r.snapshot())
	return nil
}

type proc struct {
	cmd  *exec.Cmd
	url  string
	log  *bytes.Buffer
	tok  string
	addr string
}

var buildOnce sync.Once
var binPath string

func binary(t testing.TB) string {
	buildOnce.Do(func() {
		dir, _ := os.MkdirTemp("", "escalator-bin-")
		binPath = filepath.Join(dir, "escalator")
		if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
			t.Fatalf("build: %v\n%s", err, out)
		}
	})
	return binPath
}

// setup writes a configuration whose policy notifies the recorder at once
// and again after `second`, and a token file.
func setup(t *testing.T, rec *recorder, second string) (cfg, token string) {
	return setupStore(t, rec, second, "")
}

// setupStore is setup with the given store section ("": the embedded
// store in the test's directory).
func setupStore(t *testing.T, rec *recorder, second, storeYAML string) (cfg, token string) {
	dir := t.TempDir()
	if storeYAML == "" {
		storeYAML = fmt.Sprintf("{path: %s}", filepath.Join(dir, "escalator.db"))
	}
	cfg = filepath.Join(dir, "escalator.yml")
	token = filepath.Join(dir, "token")
	os.WriteFile(token, []byte("s3cret-token\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "link-secret"), []byte("link-secret\n"), 0o600)
	conf := fmt.Sprintf(`
external_url: http://127.0.0.1:1
store: %s
ack_links: {secret_file: %s, ttl: 1h}
channels:
  oncall: {type: webhook, url: %s/oncall}
  manager: {type: webhook, url: %s/manager}
policies:
  - name: critical
    matchers: ['severity="critical"']
    steps: [{after: 0s, notify: [oncall]}, {after: %s, notify: [manager]}]
`, storeYAML, filepath.Join(dir, "link-secret"), rec.srv.URL, rec.srv.URL, second)
	os.WriteFile(cfg, []byte(conf), 0o600)
	return cfg, token
}

func start(t testing.TB, cfg, token string, port int) *proc {
	return startWith(t, port, "--config.file="+cfg, "--api.token-file="+token)
}

func startWith(t testing.TB, port int, args ...string) *proc {
	t.Helper()
	p := &proc{log: &bytes.Buffer{}, tok: "s3cret-token", addr: fmt.Sprintf("127.0.0.1:%d", port)}
	p.url = "http://" + p.addr
	p.cmd = exec.Command(binary(t), append(args, "--web.listen-address="+p.addr)...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill(); p.cmd.Wait() })
	for i := 0; i < 100; i++ {
		if resp, err := http.Get(p.url + "/metrics"); err == nil {
			resp.Body.Close()
			return p
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("escalator did not start:\n%s", p.log)
	return nil
}

func (p *proc) post(t testing.TB, path, body, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, p.url+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func deliveryJSON(group, fingerprint, status string) string {
	return fmt.Sprintf(`{"version":"4","groupKey":%q,"status":%q,"receiver":"escalator","alerts":[{"status":%q,
"labels":{"alertname":"PostgresDown","severity":"critical","instance":"db-1"},"annotations":{"summary":"db down"},
"startsAt":"2026-11-28T00:00:00Z","fingerprint":%q}]}`, group, status, status, fingerprint)
}

func TestWebhookAuthAndBadPayloads(t *testing.T) {
	rec := newRecorder(t)
	cfg, tok := setup(t, rec, "1h")
	p := start(t, cfg, tok, testenv.FreePort(t))
	if code, _ := p.post(t, "/api/v1/alerts", deliveryJSON("g", "f", "firing"), ""); code != http.StatusUnauthorized {
		t.Errorf("no token: %d", code)
	}
	if code, _ := p.post(t, "/api/v1/alerts", deliveryJSON("g", "f", "firing"), "wrong"); code != http.StatusUnauthorized {
		t.Errorf("wrong token: %d", code)
	}
	for body, want := range map[string]string{
		`{"version":"4"`: "malformed JSON",
		strings.Replace(deliveryJSON("g", "f", "firing"), `"version":"4"`, `"version":"3"`, 1):        `version \"3\"`,
		strings.Replace(deliveryJSON("g", "f", "firing"), `"fingerprint":"f"`, `"fingerprint":""`, 1): "alerts[0].fingerprint",
	} {
		code, msg := p.post(t, "/api/v1/alerts", body, p.tok)
		if code != http.StatusBadRequest || !strings.Contains(msg, want) {
			t.Errorf("%.40q: %d %s, want 400 with %q", body, code, msg, want)
		}
	}
	big := deliveryJSON("g", "f", "firing")[:20] + strings.Repeat(" ", 2<<20) + deliveryJSON("g", "f", "firing")[20:]
	if code, _ := p.post(t, "/api/v1/alerts", big, p.tok); code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d", code)
	}
	if code, msg := p.post(t, "/api/v1/incidents/nope/ack", "", ""); code != http.StatusUnauthorized {
		t.Errorf("ack without token: %d %s", code, msg)
	}
	if len(rec.snapshot()) != 0 {
		t.Errorf("rejected deliveries notified: %v", rec.snapshot())
	}
	if code, msg := p.post(t, "/api/v1/alerts", deliveryJSON("g", "f", "firing"), p.tok); code != http.StatusOK {
		t.Fatalf("a good delivery: %d %s", code, msg)
	}
	// Every answer is timed, by status: the 200 after its commit.
	answered := histogramCounts(t, p, "escalator_delivery_duration_seconds", "code")
	for code, want := range map[string]uint64{"200": 1, "400": 3, "401": 2, "413": 1} {
		if answered[code] != want {
			t.Errorf("escalator_delivery_duration_seconds: %d answers with %s, want %d (all: %v)", answered[code], code, want, answered)
		}
	}
}

// histogramCounts reads a histogram's count for each value of label
// from /metrics.
func histogramCounts(t *testing.T, p *proc, family, label string) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	for _, m := range metricFamily(t, p, family).GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == label {
				out[l.GetValue()] = m.GetHistogram().GetSampleCount()
			}
		}
	}
	return out
}

// metricFamily is the family p's /metrics exposes under name.
func metricFamily(t *testing.T, p *proc, name string) *dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(p.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return families[name]
}

// counterValue is the value of an unlabelled counter p exposes.
func counterValue(t *testing.T, p *proc, name string) float64 {
	t.Helper()
	for _, m := range metricFamily(t, p, name).GetMetric() {
		return m.GetCounter().GetValue()
	}
	return 0
}

// kill -9 with many pending steps: after a restart every step fires once.
func TestKill9ResumesEveryStepOnce(t *testing.T) {
	rec := newRecorder(t)
	cfg, tok := setup(t, rec, "4s")
	port := testenv.FreePort(t)
	p := start(t, cfg, tok, port)
	const n = 200
	for i := 0; i < n; i++ {
		if code, msg := p.post(t, "/api/v1/alerts", deliveryJSON(fmt.Sprint("g", i), fmt.Sprint("fp", i), "firing"), p.tok); code != 200 {
			t.Fatalf("delivery %d: %d %s", i, code, msg)
		}
	}
	rec.waitFor(t, n, 10*time.Second) // step 0 of each
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
	start(t, cfg, tok, port)
	rec.waitFor(t, 2*n, 15*time.Second)
	time.Sleep(time.Second) // anything extra would arrive now
	got := rec.snapshot()
	if len(got) != 2*n {
		t.Errorf("%d distinct notifications, want %d", len(got), 2*n)
	}
	for k, c := range got {
		if c != 1 {
			t.Errorf("%s arrived %d times", k, c)
		}
	}
}

// A real Alertmanager routes to escalator; acknowledging stops the next
// step; the resolve closes the incident.
func TestWithAlertmanager(t *testing.T) {
	rec := newRecorder(t)
	cfg, tok := setup(t, rec, "3s")
	p := start(t, cfg, tok, testenv.FreePort(t))
	am := testenv.StartAlertmanager(t, fmt.Sprintf(`
route: {receiver: escalator, group_wait: 100ms, group_interval: 1s, repeat_interval: 1h}
receivers:
  - name: escalator
    webhook_configs:
      - url: %s/api/v1/alerts
        send_resolved: true
        http_config: {authorization: {credentials_file: %s}}
`, p.url, tok))
	alert := func(ends string) {
		body := fmt.Sprintf(`[{"labels":{"alertname":"PostgresDown","severity":"critical","instance":"db-1"},"annotations":{"summary":"db down"},"startsAt":"2026-11-28T00:00:00Z"%s}]`, ends)
		resp, err := http.Post(am.URL+"/api/v2/alerts", "application/json", strings.NewReader(body))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("posting to alertmanager: %v %v", err, resp)
		}
		resp.Body.Close()
	}
	alert("")
	first := rec.waitFor(t, 1, 10*time.Second)
	var key string
	for k := range first {
		key = k
	}
	id := strings.Split(key, "/")[0]
	if code, msg := p.post(t, "/api/v1/incidents/"+id+"/ack", "", p.tok); code != 200 || !strings.Contains(msg, `"acknowledged"`) {
		t.Fatalf("ack: %d %s", code, msg)
	}
	time.Sleep(4 * time.Second)
	for k := range rec.snapshot() {
		if strings.Contains(k, "/1/") {
			t.Errorf("step 1 fired after acknowledgement: %s", k)
		}
	}
	alert(fmt.Sprintf(`,"endsAt":%q`, time.Now().UTC().Format(time.RFC3339)))
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, p.url+"/api/v1/incidents/"+id, nil)
		req.Header.Set("Authorization", "Bearer "+p.tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var inc struct{ Status string }
		json.NewDecoder(resp.Body).Decode(&inc)
		resp.Body.Close()
		if inc.Status == "resolved" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("incident %s is %q, not resolved, 10s after Alertmanager resolved it", id, inc.Status)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// MTTR and MTBF are read per severity (rules/reliability.yml).
	if got := histogramCounts(t, p, "escalator_incident_resolution_seconds", "severity"); got["critical"] != 1 || len(got) != 1 {
		t.Errorf("escalator_incident_resolution_seconds counts by severity: %v, want critical: 1", got)
	}
}

// Two Alertmanagers that cannot see each other (an HA pair split by a
// partition, the case where both deliver) each route the same alert to
// their own escalator replica; the replicas share one PostgreSQL. Each
// step reaches each channel once.
func TestTwoAlertmanagersTwoReplicasOnePostgres(t *testing.T) {
	twoAlertmanagers(t, false)
}

// The same with the two Alertmanagers clustered, as an HA pair runs:
// the second peer waits for the first's notification log by gossip, so
// usually one delivers; either way each step reaches each channel once.
// The wait covers the second peer's turn (its peer timeout, 15 s).
func TestTwoClusteredAlertmanagersTwoReplicasOnePostgres(t *testing.T) {
	twoAlertmanagers(t, true)
}

func twoAlertmanagers(t *testing.T, clustered bool) {
	pg := testenv.StartPrimary(t, "escalator-e2e", testenv.PrimaryOptions{})
	pg.Exec("CREATE DATABASE escalator")
	dsnFile := filepath.Join(t.TempDir(), "dsn")
	os.WriteFile(dsnFile, []byte(pg.DSN("escalator")), 0o600)
	rec := newRecorder(t)
	cfg, tok := setupStore(t, rec, "2s", fmt.Sprintf("{postgres: {dsn_file: %s}}", dsnFile))
	var replicas []*proc
	var ams []*testenv.Alertmanager
	for i := 0; i < 2; i++ {
		p := start(t, cfg, tok, testenv.FreePort(t))
		replicas = append(replicas, p)
		var peers []string
		switch {
		case clustered && i == 0:
			peers = []string{""} // listens for the second
		case clustered:
			peers = []string{ams[0].ClusterAddr}
		}
		ams = append(ams, testenv.StartAlertmanager(t, fmt.Sprintf(`
route: {receiver: escalator, group_wait: 100ms, group_interval: 1s, repeat_interval: 1h}
receivers:
  - name: escalator
    webhook_configs:
      - url: %s/api/v1/alerts
        http_config: {authorization: {credentials_file: %s}}
`, p.url, tok), peers...))
	}
	for _, am := range ams {
		body := `[{"labels":{"alertname":"PostgresDown","severity":"critical","instance":"db-1"},"annotations":{"summary":"db down"},"startsAt":"2026-11-28T00:00:00Z"}]`
		resp, err := http.Post(am.URL+"/api/v2/alerts", "application/json", strings.NewReader(body))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("posting to alertmanager: %v %v", err, resp)
		}
		resp.Body.Close()
	}
	rec.waitFor(t, 2, 30*time.Second)
	if clustered {
		time.Sleep(20 * time.Second) // the second peer's turn comes after its peer timeout
	} else {
		time.Sleep(3 * time.Second) // a second copy of either would arrive by now
	}
	got := rec.snapshot()
	if len(got) != 2 {
		t.Errorf("%d distinct notifications, want 2 (step 0 and step 1): %v", len(got), got)
	}
	for k, c := range got {
		if c != 1 {
			t.Errorf("%s arrived %d times", k, c)
		}
	}
	// Both Alertmanagers delivered: one replica stored the delivery, the
	// other recognised it.
	req, _ := http.NewRequest(http.MethodGet, replicas[0].url+"/api/v1/audit?limit=1000", nil)
	req.Header.Set("Authorization", "Bearer "+replicas[0].tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var entries []struct{ Action string }
	json.NewDecoder(resp.Body).Decode(&entries)
	resp.Body.Close()
	count := map[string]int{}
	for _, e := range entries {
		count[e.Action]++
	}
	dups := 0.0
	for _, r := range replicas {
		dups += counterValue(t, r, "escalator_duplicate_deliveries_total")
	}
	if count["received"] != 1 || count["opened"] != 1 || !clustered && dups < 1 {
		t.Errorf("audit %v, %v duplicates: want one delivery stored, one incident (and, unclustered, the other peer's copy deduplicated)", count, dups)
	}
	if clustered {
		t.Logf("clustered pair: %v deliveries deduplicated", dups)
	}
}

// Without a bearer token, basic auth from the exporter-toolkit web
// configuration guards every endpoint (over TLS here, with the
// certificate named relative to the web configuration) except the signed
// acknowledgement link, which works without a password; the console takes
// the basic auth name. With neither, escalator refuses to start, and with
// both, or with basic auth and a console users file.
func TestBasicAuthFromWebConfig(t *testing.T) {
	rec := newRecorder(t)
	cfg, _ := setup(t, rec, "1h")
	out, err := exec.Command(binary(t), "--config.file="+cfg, "--web.listen-address=127.0.0.1:0").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no authentication configured") {
		t.Errorf("started without authentication: %v\n%s", err, out)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte("am-password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pool := writeCert(t, dir)
	web := filepath.Join(dir, "web.yml")
	os.WriteFile(web, []byte(fmt.Sprintf("tls_server_config: {cert_file: cert.pem, key_file: key.pem}\nbasic_auth_users:\n  alertmanager: %s\n  tanaka: %s\n", hash, hash)), 0o600)
	out, err = exec.Command(binary(t), "--config.file="+cfg, "--web.config.file="+web, "--api.token-file="+web, "--web.listen-address=127.0.0.1:0").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "exclude each other") {
		t.Errorf("started with a bearer token and basic auth, which no request can pass both: %v\n%s", err, out)
	}
	withUsers := filepath.Join(t.TempDir(), "escalator.yml")
	conf, _ := os.ReadFile(cfg)
	os.WriteFile(withUsers, append(conf, "console_users_file: /nonexistent\n"...), 0o600)
	out, err = exec.Command(binary(t), "--config.file="+withUsers, "--web.config.file="+web, "--web.listen-address=127.0.0.1:0").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "console_users_file goes with --api.token-file") {
		t.Errorf("started with basic auth and a console users file: %v\n%s", err, out)
	}

	p := startWith(t, testenv.FreePort(t), "--config.file="+cfg, "--web.config.file="+web)
	p.url = "https://" + p.addr
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	send := func(method, path, body, user, pw string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, p.url+path, strings.NewReader(body))
		if method == http.MethodPost && strings.HasPrefix(path, "/ack") {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if user != "" {
			req.SetBasicAuth(user, pw)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for pw, want := range map[string]int{"": http.StatusUnauthorized, "wrong": http.StatusUnauthorized, "am-password": http.StatusOK} {
		user := "alertmanager"
		if pw == "" {
			user = ""
		}
		if code, msg := send(http.MethodPost, "/api/v1/alerts", deliveryJSON("g", "f", "firing"), user, pw); code != want {
			t.Errorf("delivery with password %q: %d %s, want %d", pw, code, msg, want)
		}
	}
	for _, path := range []string{"/", "/metrics", "/api/v1/incidents", "/console/", "/ack/../metrics"} {
		if code, _ := send(http.MethodGet, path, "", "", ""); code != http.StatusUnauthorized {
			t.Errorf("GET %s without a password: %d, want 401", path, code)
		}
	}
	rec.waitFor(t, 1, 10*time.Second)
	link, err := url.Parse(rec.ackURL)
	if err != nil || link.Query().Get("sig") == "" {
		t.Fatalf("the notification's acknowledgement link %q: %v", rec.ackURL, err)
	}
	id := link.Query().Get("id")
	if code, page := send(http.MethodGet, "/console/incidents/"+id, "", "tanaka", "am-password"); code != http.StatusOK || !strings.Contains(page, "Signed in as <b>tanaka</b>") {
		t.Errorf("the console with basic auth: %d\n%s", code, page)
	}
	if code, page := send(http.MethodGet, "/ack?"+link.RawQuery, "", "", ""); code != http.StatusOK || !strings.Contains(page, `method="post"`) {
		t.Fatalf("the signed link without a password: %d\n%s", code, page)
	}
	if code, msg := send(http.MethodPost, "/ack", link.RawQuery, "", ""); code != http.StatusOK || !strings.Contains(msg, `"acknowledged"`) {
		t.Errorf("the link's button without a password: %d %s", code, msg)
	}
	if code, msg := send(http.MethodGet, "/api/v1/incidents/"+id, "", "alertmanager", "am-password"); code != http.StatusOK || !strings.Contains(msg, `"ackedBy":"signed link"`) {
		t.Errorf("the incident after the link: %d %s", code, msg)
	}
	if strings.Contains(p.log.String(), string(hash)) || strings.Contains(p.log.String(), "am-password") {
		t.Errorf("the log holds a password or its hash:\n%s", p.log)
	}
}

// writeCert writes a self-signed certificate for 127.0.0.1 and its key
// as cert.pem and key.pem in dir, and returns a pool trusting it.
func writeCert(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "escalator test"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

// With the bearer token: the signed link works without it; people sign
// in to the console with a name and password from console_users_file and
// their acknowledgement is theirs; the token opens the API only. Without
// a users file the console says it has none.
func TestConsoleAndLinksWithToken(t *testing.T) {
	rec := newRecorder(t)
	cfg, tok := setup(t, rec, "1h")
	hash, err := bcrypt.GenerateFromPassword([]byte("tanaka-password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(t.TempDir(), "console-users.yml")
	os.WriteFile(users, []byte(fmt.Sprintf("users:\n  tanaka: %s\n", hash)), 0o600)
	withUsers := filepath.Join(t.TempDir(), "escalator.yml")
	conf, _ := os.ReadFile(cfg)
	os.WriteFile(withUsers, append(conf, fmt.Sprintf("console_users_file: %s\n", users)...), 0o600)

	plain := start(t, cfg, tok, testenv.FreePort(t))
	resp, err := http.Get(plain.url + "/console/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(page), "console_users_file") {
		t.Errorf("the console without a users file: %d\n%s", resp.StatusCode, page)
	}
	plain.cmd.Process.Kill() // the store is one process's
	plain.cmd.Wait()

	p := start(t, withUsers, tok, testenv.FreePort(t))
	if code, msg := p.post(t, "/api/v1/alerts", deliveryJSON("g", "f", "firing"), p.tok); code != http.StatusOK {
		t.Fatalf("delivery: %d %s", code, msg)
	}
	rec.waitFor(t, 1, 10*time.Second)
	link, err := url.Parse(rec.ackURL)
	if err != nil || link.Query().Get("sig") == "" {
		t.Fatalf("the notification's acknowledgement link %q: %v", rec.ackURL, err)
	}
	id := link.Query().Get("id")
	resp, err = http.Get(p.url + "/ack?" + link.RawQuery)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("the signed link without the token: %d", resp.StatusCode)
	}

	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	signIn := func(name, pw string) *http.Response {
		resp, err := noRedirect.PostForm(p.url+"/console/login", url.Values{"name": {name}, "password": {pw}, "next": {"/console/incidents/" + id}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := signIn("", "s3cret-token"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("signing in with the machine token: %d", resp.StatusCode)
	}
	resp = signIn("tanaka", "tanaka-password")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/incidents/"+id || len(resp.Cookies()) != 1 {
		t.Fatalf("signing in: %d to %q, cookies %v", resp.StatusCode, resp.Header.Get("Location"), resp.Cookies())
	}
	session := resp.Cookies()[0]
	req, _ := http.NewRequest(http.MethodGet, p.url+"/console/incidents/"+id, nil)
	req.AddCookie(session)
	resp, err = noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("the incident page: %d\n%s", resp.StatusCode, page)
	}
	req, _ = http.NewRequest(http.MethodPost, p.url+"/console/incidents/"+id+"/ack", strings.NewReader(url.Values{"csrf": {string(m[1])}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(session)
	resp, err = noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("acknowledging in the console: %d", resp.StatusCode)
	}
	req, _ = http.NewRequest(http.MethodGet, p.url+"/api/v1/incidents/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+p.tok)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var inc struct{ Status, AckedBy string }
	json.NewDecoder(resp.Body).Decode(&inc)
	resp.Body.Close()
	if inc.Status != "acknowledged" || inc.AckedBy != "tanaka" {
		t.Errorf("after the console's button: %+v", inc)
	}
	if strings.Contains(p.log.String(), string(hash)) || strings.Contains(p.log.String(), "tanaka-password") {
		t.Errorf("the log holds a password or its hash:\n%s", p.log)
	}
}

// simulate prints the policy's timeline for fixtures; check-config names
// what is wrong in a configuration.
func TestSimulateAndCheckConfig(t *testing.T) {
	rec := newRecorder(t)
	cfg, _ := setup(t, rec, "15m")
	fx := filepath.Join(t.TempDir(), "fixtures.yml")
	os.WriteFile(fx, []byte(`alerts:
  - labels: {alertname: PostgresDown, severity: critical}
  - labels: {alertname: DiskFull, severity: critical}
    at: 1m
    acked_after: 10m
  - labels: {alertname: Info, severity: info}
`), 0o600)
	out, err := exec.Command(binary(t), "--config.file="+cfg, "simulate", fx).CombinedOutput()
	if err != nil {
		t.Fatalf("simulate: %v\n%s", err, out)
	}
	want := []string{
		"0s  #0 PostgresDown: opened, policy critical",
		"0s  #0 PostgresDown: step 0 → oncall",
		"1m  #1 DiskFull: step 0 → oncall",
		"11m  #1 DiskFull: acknowledged; escalation stops",
		"15m  #0 PostgresDown: step 1 → manager",
	}
	last := -1
	for _, w := range want {
		i := strings.Index(string(out), w)
		if i < 0 || i < last {
			t.Errorf("simulate output lacks %q (or out of order):\n%s", w, out)
		}
		last = i
	}
	if strings.Contains(string(out), "DiskFull: step 1") {
		t.Errorf("a step after acknowledgement:\n%s", out)
	}
	if !strings.Contains(string(out), "#2 Info: no policy matches; not escalated") {
		t.Errorf("an alert no policy matches is not shown:\n%s", out)
	}

	bad := filepath.Join(t.TempDir(), "bad.yml")
	os.WriteFile(bad, []byte("store: {path: /tmp/x.db}\nhistory_retention: 1h\nalertmanager: {urls: ['ftp://am']}\npolicies:\n  - name: p\n    matchers: ['severity=~\"(']\n    steps: [{after: 0s, notify: [nowhere]}]\n"), 0o600)
	out, err = exec.Command(binary(t), "--config.file="+bad, "check-config").CombinedOutput()
	if code := exitCode(err); code != 2 || !strings.Contains(string(out), "nowhere") || !strings.Contains(string(out), "alertmanager.urls[0]") ||
		!strings.Contains(string(out), "history_retention: 1h: keep at least a day") {
		t.Errorf("check-config on a bad file: exit %d\n%s", code, out)
	}
	out, err = exec.Command(binary(t), "--config.file="+cfg, "check-config").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OK") {
		t.Errorf("check-config on a good file: %v\n%s", err, out)
	}
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
