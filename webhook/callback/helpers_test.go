package callback

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hotel-ops/hotel-ops/webhook/escalate"
	"github.com/hotel-ops/hotel-ops/webhook/notify"
	"github.com/hotel-ops/hotel-ops/webhook/payload"
	"github.com/hotel-ops/hotel-ops/webhook/policy"
	"github.com/hotel-ops/hotel-ops/webhook/store"
)

var bg = context.Background()

// Secrets of the tests' Slack app and PagerDuty subscription.
const (
	slackSecret = "8f742231b10e8888abcd99yyyzzz85a5"
	pdSecret    = "pd-webhook-secret-0123456789abcdef"
)

// slackRecorder is a Slack incoming webhook on 127.0.0.1 that keeps the
// messages escalator posts.
type slackRecorder struct {
	srv  *httptest.Server
	mu   sync.Mutex
	msgs [][]byte
}

func newSlackRecorder(t *testing.T) *slackRecorder {
	r := &slackRecorder{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.msgs = append(r.msgs, b)
		r.mu.Unlock()
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *slackRecorder) messages() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.msgs...)
}

// world is escalator as main wires it, on a real store in a temporary
// file: an engine whose one policy pages the slack channel at once, a real
// Slack notifier posting to a loopback recorder, and the callbacks served
// on 127.0.0.1 in front of a stand-in for escalator's other endpoints.
type world struct {
	eng   *escalate.Engine
	st    store.Store
	path  string // the store's file
	slack *slackRecorder
	srv   *httptest.Server
	cb    *Server
}

func newWorld(t *testing.T, c Config, resolver func(*escalate.Engine, store.Store) Resolver) *world {
	t.Helper()
	path := filepath.Join(t.TempDir(), "escalator.db")
	st, err := store.OpenEmbedded(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var pol policy.File
	if err := yaml.Unmarshal([]byte(`policies:
  - {name: page, matchers: ['severity="critical"'], steps: [{after: 0s, notify: [slack]}]}
`), &pol); err != nil {
		t.Fatal(err)
	}
	if err := pol.Validate(map[string]bool{"slack": true}, nil); err != nil {
		t.Fatal(err)
	}
	w := &world{st: st, path: path, slack: newSlackRecorder(t)}
	urlFile := writeFile(t, w.slack.srv.URL+"/services/T0/B0/secret")
	sl, err := notify.New("slack", notify.ChannelConfig{Type: "slack", WebhookURLFile: urlFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.eng = &escalate.Engine{Store: st, Policies: &pol, Notifiers: map[string]notify.Notifier{"slack": sl},
		Links: &escalate.Links{Base: "https://escalator.example", Secret: []byte("link-secret"), TTL: time.Hour}}
	var r Resolver
	if resolver != nil {
		r = resolver(w.eng, st)
	}
	w.cb, err = New(c, w.eng, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	// What escalator's other endpoints are behind: a password nobody
	// sends here.
	guarded := http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		http.Error(rw, "password required", http.StatusUnauthorized)
	})
	w.srv = httptest.NewServer(w.cb.Route(guarded))
	t.Cleanup(w.srv.Close)
	return w
}

// both configures both callbacks, their secrets in files.
func both(t *testing.T) Config {
	return Config{
		Slack:     &SlackConfig{SigningSecretFile: writeFile(t, slackSecret+"\n")},
		PagerDuty: &PagerDutyConfig{SecretFile: writeFile(t, pdSecret+"\n")},
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// open delivers a firing alert and returns its incident, open.
func (w *world) open(t *testing.T, name string) string {
	t.Helper()
	d, err := payload.Parse(strings.NewReader(fmt.Sprintf(`{"version":"4","groupKey":"g-%[1]s","status":"firing","alerts":[{"status":"firing",
"labels":{"alertname":%[1]q,"severity":"critical"},"annotations":{"summary":"down"},"startsAt":"2026-11-28T08:58:00Z","fingerprint":"fp-%[1]s"}]}`, name)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.eng.Receive(bg, d); err != nil {
		t.Fatal(err)
	}
	list, err := w.st.Incidents(bg, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, inc := range list {
		if inc.Labels["alertname"] == name {
			return inc.ID
		}
	}
	t.Fatalf("no incident for %s", name)
	return ""
}

// incident is the stored incident's status and who acknowledged it.
func (w *world) incident(t *testing.T, id string) *store.Incident {
	t.Helper()
	inc, err := w.st.Incident(bg, id)
	if err != nil {
		t.Fatal(err)
	}
	return inc
}

// post sends body to path with the headers and returns the status.
func (w *world) post(t *testing.T, path, contentType string, header http.Header, body string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, w.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// pd posts a PagerDuty delivery signed with the subscription's secret.
func (w *world) pd(t *testing.T, body string) int {
	t.Helper()
	return w.post(t, PagerDutyPath, "application/json", pdSign(body, pdSecret), body)
}

// slackClick posts an interaction signed now with the app's secret.
func (w *world) slackClick(t *testing.T, body string) int {
	t.Helper()
	return w.post(t, SlackPath, "application/x-www-form-urlencoded", slackSign(slackSecret, time.Now(), body), body)
}

// slackSign signs body as Slack does, at ts.
func slackSign(secret string, ts time.Time, body string) http.Header {
	stamp := fmt.Sprint(ts.Unix())
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + stamp + ":" + body))
	return http.Header{
		"X-Slack-Request-Timestamp": {stamp},
		"X-Slack-Signature":         {"v0=" + hex.EncodeToString(mac.Sum(nil))},
	}
}

// pdSign is PagerDuty's signature header of body, one v1 per secret.
func pdSign(body string, secrets ...string) http.Header {
	var sigs []string
	for _, s := range secrets {
		mac := hmac.New(sha256.New, []byte(s))
		mac.Write([]byte(body))
		sigs = append(sigs, "v1="+hex.EncodeToString(mac.Sum(nil)))
	}
	return http.Header{"X-Pagerduty-Signature": {strings.Join(sigs, ",")}}
}

// pdBody is a webhook v3 delivery of one incident event.
func pdBody(eventID, eventType string, at time.Time, incidentKey, agent string) string {
	return fmt.Sprintf(`{"event":{"id":%q,"event_type":%q,"resource_type":"incident","occurred_at":%q,
"agent":{"html_url":"https://acme.pagerduty.com/users/PLH1HKV","id":"PLH1HKV","self":"https://api.pagerduty.com/users/PLH1HKV","summary":%q,"type":"user_reference"},
"client":null,"data":{"id":"PGR0VU2","type":"incident","self":"https://api.pagerduty.com/incidents/PGR0VU2","number":2,"status":"acknowledged",
"incident_key":%q,"title":"down","service":{"id":"PF9KMXH","summary":"API","type":"service_reference"},"urgency":"high"}}}`,
		eventID, eventType, at.UTC().Format(time.RFC3339Nano), agent, incidentKey)
}
