package callback

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotel-ops/hotel-ops/webhook/escalate"
	"github.com/hotel-ops/hotel-ops/webhook/store"
)

const jsonType = "application/json"

// byEngine resolves with the engine, as main wires it.
func byEngine(e *escalate.Engine, _ store.Store) Resolver { return e }

// Acknowledged in PagerDuty, acknowledged in escalator, by that person;
// resolved there, resolved here. PagerDuty finds escalator's incident by
// the dedup_key escalator sent it, its incident_key.
func TestPagerDutyAcknowledgesAndResolves(t *testing.T) {
	w := newWorld(t, both(t), byEngine)
	id := w.open(t, "HotelAppDown")
	now := time.Now()

	ack := pdBody("01EVT-ACK", "incident.acknowledged", now, id, "Alice Example")
	if code := w.pd(t, ack); code != http.StatusOK {
		t.Fatalf("acknowledged: %d", code)
	}
	if inc := w.incident(t, id); inc.Status != store.Acknowledged || inc.AckedBy != "pagerduty:Alice Example" {
		t.Fatalf("incident %s by %q, want acknowledged by pagerduty:Alice Example", inc.Status, inc.AckedBy)
	}
	// escalator's own acknowledge event comes back from PagerDuty as
	// incident.acknowledged: harmless.
	echo := pdBody("01EVT-ECHO", "incident.acknowledged", now, id, "escalator integration")
	if code := w.pd(t, echo); code != http.StatusOK {
		t.Fatalf("echo: %d", code)
	}
	if inc := w.incident(t, id); inc.AckedBy != "pagerduty:Alice Example" {
		t.Errorf("the echo changed who acknowledged: %q", inc.AckedBy)
	}

	res := pdBody("01EVT-RES", "incident.resolved", now, id, "Bob Example")
	if code := w.pd(t, res); code != http.StatusOK {
		t.Fatalf("resolved: %d", code)
	}
	if inc := w.incident(t, id); inc.Status != store.Resolved {
		t.Errorf("incident %s after incident.resolved", inc.Status)
	}
}

// During a secret rotation PagerDuty signs with each secret: one match is
// enough.
func TestPagerDutySecretRotation(t *testing.T) {
	w := newWorld(t, both(t), nil)
	id := w.open(t, "HotelAppDown")
	body := pdBody("01EVT-ROT", "incident.acknowledged", time.Now(), id, "Alice Example")
	h := pdSign(body, "the-new-secret", pdSecret)
	h.Set("X-Pagerduty-Signature", h.Get("X-Pagerduty-Signature")+",v2=abcdef")
	if code := w.post(t, PagerDutyPath, jsonType, h, body); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	if inc := w.incident(t, id); inc.Status != store.Acknowledged {
		t.Errorf("incident %s", inc.Status)
	}
}

// Whatever is wrong with a delivery, nothing changes, and the answer says
// which kind of wrong.
func TestPagerDutyRefuses(t *testing.T) {
	w := newWorld(t, both(t), byEngine)
	id := w.open(t, "HotelAppDown")
	now := time.Now()
	good := pdBody("01EVT-1", "incident.resolved", now, id, "Mallory")
	sign := func(body string) http.Header { return pdSign(body, pdSecret) }
	old := pdBody("01EVT-OLD", "incident.resolved", now.Add(-11*time.Minute), id, "Mallory")
	ahead := pdBody("01EVT-AHEAD", "incident.resolved", now.Add(11*time.Minute), id, "Mallory")
	big := `{"event":{"id":"x","pad":"` + strings.Repeat("x", DefaultMaxBody) + `"}}`
	for _, c := range []struct {
		name   string
		header http.Header
		body   string
		want   int
	}{
		{"no signature", nil, good, http.StatusUnauthorized},
		{"another secret", pdSign(good, "another-secret"), good, http.StatusUnauthorized},
		{"a body changed after signing", sign(good), strings.Replace(good, "Mallory", "Alice", 1), http.StatusUnauthorized},
		{"only a later version", http.Header{"X-Pagerduty-Signature": {"v2=" + strings.TrimPrefix(sign(good).Get("X-Pagerduty-Signature"), "v1=")}}, good, http.StatusUnauthorized},
		{"not hex", http.Header{"X-Pagerduty-Signature": {"v1=zz"}}, good, http.StatusUnauthorized},
		{"occurred 11 minutes ago (a replay)", sign(old), old, http.StatusUnauthorized},
		{"occurred 11 minutes ahead", sign(ahead), ahead, http.StatusUnauthorized},
		{"not JSON", sign("event=1"), "event=1", http.StatusBadRequest},
		{"no event", sign(`{"messages":[]}`), `{"messages":[]}`, http.StatusBadRequest},
		{"no id", sign(`{"event":{"event_type":"incident.resolved","occurred_at":"2026-01-01T00:00:00Z"}}`), `{"event":{"event_type":"incident.resolved","occurred_at":"2026-01-01T00:00:00Z"}}`, http.StatusBadRequest},
		{"a time not RFC 3339", sign(`{"event":{"id":"e","event_type":"incident.resolved","occurred_at":"yesterday"}}`), `{"event":{"id":"e","event_type":"incident.resolved","occurred_at":"yesterday"}}`, http.StatusBadRequest},
		{"a body over the limit", sign(big), big, http.StatusRequestEntityTooLarge},
	} {
		if got := w.post(t, PagerDutyPath, jsonType, c.header, c.body); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
	if inc := w.incident(t, id); inc.Status != store.Open {
		t.Errorf("incident %s after refused deliveries", inc.Status)
	}
}

// An event id handled once is not handled again within the window: the
// same delivery again (a retry) is 200 and does nothing, even when its
// body names another incident.
func TestPagerDutyRepeatedEventID(t *testing.T) {
	w := newWorld(t, both(t), byEngine)
	first, second := w.open(t, "HotelAppDown"), w.open(t, "DiskFull")
	now := time.Now()
	a := pdBody("01EVT-SAME", "incident.acknowledged", now, first, "Alice")
	if code := w.pd(t, a); code != http.StatusOK {
		t.Fatalf("first: %d", code)
	}
	if code := w.pd(t, a); code != http.StatusOK {
		t.Errorf("the same delivery again: %d, want 200", code)
	}
	b := pdBody("01EVT-SAME", "incident.acknowledged", now, second, "Alice")
	if code := w.pd(t, b); code != http.StatusOK {
		t.Errorf("the id again: %d, want 200", code)
	}
	if inc := w.incident(t, first); inc.Status != store.Acknowledged {
		t.Errorf("first incident %s", inc.Status)
	}
	if inc := w.incident(t, second); inc.Status != store.Open {
		t.Errorf("second incident %s: an event id was taken twice", inc.Status)
	}
	// Another id for the second incident is taken.
	c := pdBody("01EVT-OTHER", "incident.acknowledged", now, second, "Alice")
	if code := w.pd(t, c); code != http.StatusOK {
		t.Fatalf("another id: %d", code)
	}
	if inc := w.incident(t, second); inc.Status != store.Acknowledged {
		t.Errorf("second incident %s after a new event id", inc.Status)
	}
}

// Signed events escalator has nothing to do with get their 200 and change
// nothing: other types, other integrations' incidents, escalator's
// incidents pruned since, and resolves when no resolver is wired.
func TestPagerDutyIgnores(t *testing.T) {
	w := newWorld(t, both(t), nil) // no Resolver
	id := w.open(t, "HotelAppDown")
	now := time.Now()
	for name, body := range map[string]string{
		"incident.triggered":           pdBody("e1", "incident.triggered", now, id, "Alice"),
		"incident.priority_updated":    pdBody("e2", "incident.priority_updated", now, id, "Alice"),
		"another integration's":        pdBody("e3", "incident.acknowledged", now, "a6f1c2d9e8b74b0c9f1e2d3c4b5a6978", "Alice"),
		"without incident_key":         pdBody("e4", "incident.acknowledged", now, "", "Alice"),
		"an unknown incident (pruned)": pdBody("e5", "incident.acknowledged", now, "000000000-0123456789abcdef", "Alice"),
		"resolved, no resolver":        pdBody("e6", "incident.resolved", now, id, "Alice"),
		"a ping":                       `{"event":{"id":"e7","event_type":"pagey.ping","resource_type":"pagey","occurred_at":"` + now.UTC().Format(time.RFC3339) + `","agent":null,"client":null,"data":{"message":"Hello from your friend Pagey!","type":"ping"}}}`,
		"a service event":              strings.Replace(pdBody("e8", "service.updated", now, id, "Alice"), `"type":"incident"`, `"type":"service"`, 1),
	} {
		if got := w.pd(t, body); got != http.StatusOK {
			t.Errorf("%s: %d, want 200", name, got)
		}
	}
	if inc := w.incident(t, id); inc.Status != store.Open {
		t.Errorf("incident %s", inc.Status)
	}
}

// A store that fails is a 503, and PagerDuty's retry of the same event is
// then taken, not refused as a replay.
func TestPagerDutyStoreDownThenRetry(t *testing.T) {
	w := newWorld(t, both(t), nil)
	id := w.open(t, "HotelAppDown")
	eng := &swappable{eng: w.eng}
	h := &PagerDuty{Secret: pdSecret, Acker: eng}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	w.srv = srv

	w.st.Close()
	body := pdBody("01EVT-R", "incident.acknowledged", time.Now(), id, "Alice")
	if got := w.post(t, "/", jsonType, pdSign(body, pdSecret), body); got != http.StatusServiceUnavailable {
		t.Fatalf("store closed: %d, want 503", got)
	}
	// The store is back (escalator restarted on it, say).
	st, err := store.OpenEmbedded(w.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	w.st = st
	eng.set(&escalate.Engine{Store: st, Policies: w.eng.Policies})
	if got := w.post(t, "/", jsonType, pdSign(body, pdSecret), body); got != http.StatusOK {
		t.Fatalf("retry: %d, want 200", got)
	}
	if inc := w.incident(t, id); inc.Status != store.Acknowledged {
		t.Errorf("incident %s after the retry", inc.Status)
	}
}

// swappable is an engine that can be replaced, as a restart would.
type swappable struct {
	mu  sync.Mutex
	eng *escalate.Engine
}

func (s *swappable) set(e *escalate.Engine) { s.mu.Lock(); s.eng = e; s.mu.Unlock() }

func (s *swappable) Ack(ctx context.Context, id, by string) (*store.Incident, error) {
	s.mu.Lock()
	e := s.eng
	s.mu.Unlock()
	return e.Ack(ctx, id, by)
}

// Endpoints whose secret is not configured are not there, and no other
// endpoint's guard answers for them.
func TestUnconfiguredIsNotFound(t *testing.T) {
	w := newWorld(t, Config{Slack: &SlackConfig{SigningSecretFile: writeFile(t, slackSecret)}}, nil)
	body := pdBody("e", "incident.acknowledged", time.Now(), "x", "A")
	if got := w.pd(t, body); got != http.StatusNotFound {
		t.Errorf("pagerduty not configured: %d, want 404", got)
	}
	if got := w.post(t, "/callbacks/other", jsonType, nil, "{}"); got != http.StatusNotFound {
		t.Errorf("unknown callback: %d, want 404", got)
	}
	// Everything else still goes through the guard.
	if got := w.post(t, "/api/v1/alerts", jsonType, nil, "{}"); got != http.StatusUnauthorized {
		t.Errorf("other endpoints: %d, want the guard's 401", got)
	}
	if p := w.cb.Paths(); len(p) != 1 || p[0] != SlackPath {
		t.Errorf("paths %v", p)
	}
	none := newWorld(t, Config{}, nil)
	if got := none.post(t, SlackPath, form, nil, "payload=x"); got != http.StatusNotFound {
		t.Errorf("nothing configured: %d, want 404", got)
	}
}
