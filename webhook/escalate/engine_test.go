package escalate

import (
	"context"
	"errors"
	dto "github.com/prometheus/client_model/go"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.yaml.in/yaml/v3"

	"github.com/hotel-ops/hotel-ops/webhook/notify"
	"github.com/hotel-ops/hotel-ops/webhook/payload"
	"github.com/hotel-ops/hotel-ops/webhook/policy"
	"github.com/hotel-ops/hotel-ops/webhook/store"
)

var ctx = context.Background()

// channel records what it is sent and fails as told.
type channel struct {
	mu   sync.Mutex
	sent []notify.Message
	fail []error // one per attempt, then success
}

func (c *channel) Send(_ context.Context, m notify.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.fail) > 0 {
		err := c.fail[0]
		c.fail = c.fail[1:]
		return err
	}
	c.sent = append(c.sent, m)
	return nil
}

func (c *channel) events() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, m := range c.sent {
		out = append(out, string(m.Event))
	}
	return out
}

// clock is the injected time: steps an hour apart take no time.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func engine(t *testing.T, oncall, manager *channel) (*Engine, *clock, *prometheus.Registry) {
	st, err := store.OpenEmbedded(filepath.Join(t.TempDir(), "e.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var pol policy.File
	yaml.Unmarshal([]byte(`policies:
  - name: system_down
    matchers: ['alertname="HotelAppDown"']
    steps: [{after: 0s, notify: [oncall]}, {after: 15m, notify: [manager]}]
`), &pol)
	if err := pol.Validate(map[string]bool{"oncall": true, "manager": true}, nil); err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)}
	reg := prometheus.NewRegistry()
	e := &Engine{Store: st, Policies: &pol, Notifiers: map[string]notify.Notifier{"oncall": oncall, "manager": manager},
		Metrics: NewMetrics(reg), Now: c.now, Backoff: time.Minute, RetryFor: 3 * time.Hour,
		Links: &Links{Base: "https://escalator.example", Secret: []byte("k"), TTL: time.Hour}}
	return e, c, reg
}

func deliver(t *testing.T, e *Engine, status string) {
	t.Helper()
	d, err := payload.Parse(strings.NewReader(`{"version":"4","groupKey":"g","status":"` + status + `","alerts":[{"status":"` + status + `",
"labels":{"alertname":"HotelAppDown","severity":"critical"},"annotations":{"summary":"5xx over 50%"},"startsAt":"2026-11-28T08:58:00Z","fingerprint":"f1"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Receive(ctx, d); err != nil {
		t.Fatal(err)
	}
}

// run takes due steps and sends what is due at the clock's time.
func run(t *testing.T, e *Engine) {
	t.Helper()
	if _, err := e.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.SendDue(ctx, "", 100); err != nil {
		t.Fatal(err)
	}
}

// The spec's system-down escalation: on-call at once, the manager after
// 15 minutes, not a minute before; the resolve reaches both.
func TestStepsFireAtTheirDelays(t *testing.T) {
	oncall, manager := &channel{}, &channel{}
	e, c, reg := engine(t, oncall, manager)
	deliver(t, e, "firing")
	run(t, e)
	if got := oncall.events(); len(got) != 1 || got[0] != "trigger" {
		t.Fatalf("on-call at once: %v", got)
	}
	m := oncall.sent[0]
	if m.Summary != "5xx over 50%" || !strings.HasPrefix(m.AckURL, "https://escalator.example/ack?") ||
		m.ConsoleURL != "https://escalator.example/console/incidents/"+m.Incident || m.Key != m.Incident+"/0/oncall" {
		t.Errorf("message %+v", m)
	}
	c.t = c.t.Add(14*time.Minute + 59*time.Second)
	run(t, e)
	if len(manager.events()) != 0 {
		t.Fatal("manager called before 15 minutes")
	}
	c.t = c.t.Add(time.Second)
	run(t, e)
	if got := manager.events(); len(got) != 1 || got[0] != "trigger" {
		t.Fatalf("manager at 15 minutes: %v", got)
	}
	c.t = c.t.Add(time.Hour)
	deliver(t, e, "resolved")
	run(t, e)
	if o, m := oncall.events(), manager.events(); len(o) != 2 || o[1] != "resolve" || len(m) != 2 || m[1] != "resolve" {
		t.Errorf("resolve notices: on-call %v, manager %v", o, m)
	}
	if n := testutil.ToFloat64(e.Metrics.Steps.WithLabelValues("system_down")); n != 2 {
		t.Errorf("escalator_escalation_steps_total %v", n)
	}
	if n := testutil.ToFloat64(e.Metrics.Notifications.WithLabelValues("manager", "success")); n != 2 {
		t.Errorf("manager successes %v", n)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP escalator_timers_pending Escalation steps waiting for their time.
# TYPE escalator_timers_pending gauge
escalator_timers_pending 0
`), "escalator_timers_pending"); err != nil {
		t.Error(err)
	}
}

// A failed send is retried after its backoff, on the injected clock; a
// permanent failure is not retried; both are counted.
func TestSendRetries(t *testing.T) {
	oncall := &channel{fail: []error{errors.New("connection refused")}}
	manager := &channel{fail: []error{&notify.PermanentError{Err: errors.New("410 gone")}}}
	e, c, _ := engine(t, oncall, manager)
	deliver(t, e, "firing")
	run(t, e)
	if len(oncall.events()) != 0 {
		t.Fatal("the failed attempt counted as sent")
	}
	c.t = c.t.Add(2 * time.Minute) // past the first backoff (1m, jittered down to half)
	run(t, e)
	if got := oncall.events(); len(got) != 1 {
		t.Fatalf("after the backoff: %v", got)
	}
	c.t = c.t.Add(15 * time.Minute)
	run(t, e)
	c.t = c.t.Add(time.Hour)
	run(t, e)
	if got := manager.events(); len(got) != 0 {
		t.Errorf("a permanent failure was retried: %v", got)
	}
	for ch, want := range map[[2]string]float64{{"oncall", "retry"}: 1, {"oncall", "success"}: 1, {"manager", "failure"}: 1} {
		if got := testutil.ToFloat64(e.Metrics.Notifications.WithLabelValues(ch[0], ch[1])); got != want {
			t.Errorf("notifications %v: %v, want %v", ch, got, want)
		}
	}
	audit, _ := e.Store.Audit(ctx, "", 100)
	var failed bool
	for _, a := range audit {
		failed = failed || (a.Action == "notify_failed" && strings.Contains(a.Detail, "410 gone"))
	}
	if !failed {
		t.Error("the permanent failure is not in the audit log")
	}
}

// The escalation lag runs from the step's due time to the send: a step
// taken at once whose first send failed and went out two minutes later
// lagged two minutes.
func TestEscalationLagRunsToTheSend(t *testing.T) {
	oncall := &channel{fail: []error{errors.New("connection refused")}}
	e, c, reg := engine(t, oncall, &channel{})
	deliver(t, e, "firing") // step 0 due at once
	run(t, e)
	c.t = c.t.Add(2 * time.Minute) // past the retry's backoff (at most 1m)
	run(t, e)
	if got := oncall.events(); len(got) != 1 {
		t.Fatalf("after the retry: %v", got)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var h *dto.Histogram
	for _, f := range families {
		if f.GetName() == "escalator_escalation_lag_seconds" {
			h = f.GetMetric()[0].GetHistogram()
		}
	}
	if h.GetSampleCount() != 1 || h.GetSampleSum() != 120 {
		t.Errorf("escalation lag: %d observations summing %vs, want one of 120s", h.GetSampleCount(), h.GetSampleSum())
	}
}

// A channel down for two hours (503s asking to wait 4 minutes) still
// gets the page once it is back: the outbox retries for RetryFor, not a
// number of attempts, and waits as long as the receiver asks. Past
// RetryFor it gives up and says so.
func TestSendRetriesThroughAnOutage(t *testing.T) {
	busy := &notify.StatusError{StatusCode: 503, RetryAfter: 4 * time.Minute}
	oncall := &channel{}
	for range 100 {
		oncall.fail = append(oncall.fail, busy)
	}
	e, c, _ := engine(t, oncall, &channel{})
	deliver(t, e, "firing")
	run(t, e)
	c.t = c.t.Add(3 * time.Minute) // within Retry-After, past the first backoff (at most 1m)
	run(t, e)
	if got := len(oncall.fail); got != 99 {
		t.Fatalf("%d attempts in the first 3 minutes, want 1: Retry-After was not honoured", 100-got)
	}
	c.t = c.t.Add(2 * time.Minute)
	for range 24 {
		run(t, e)
		c.t = c.t.Add(5 * time.Minute)
	}
	if attempts := 100 - len(oncall.fail); attempts != 25 {
		t.Errorf("%d attempts over two hours of 503s with Retry-After 4m, want one each 5m step (25)", attempts)
	}
	oncall.mu.Lock()
	oncall.fail = nil // the channel is back
	oncall.mu.Unlock()
	run(t, e)
	if got := oncall.events(); len(got) != 1 || got[0] != "trigger" {
		t.Fatalf("after a two-hour outage: %v, want the trigger", got)
	}

	// Past RetryFor (3h here) the send is given up, in the audit log.
	down := &channel{fail: []error{errors.New("connection refused")}}
	for range 200 {
		down.fail = append(down.fail, errors.New("connection refused"))
	}
	e, c, _ = engine(t, down, &channel{})
	deliver(t, e, "firing")
	for range 40 {
		run(t, e)
		c.t = c.t.Add(5 * time.Minute)
	}
	if got := testutil.ToFloat64(e.Metrics.Notifications.WithLabelValues("oncall", "failure")); got != 1 {
		t.Errorf("oncall failures after 3h20m of refusals: %v, want 1 (given up once)", got)
	}
	audit, _ := e.Store.Audit(ctx, "", 1000)
	failed := 0
	for _, a := range audit {
		if a.Action == "notify_failed" {
			failed++
		}
	}
	if failed != 1 {
		t.Errorf("%d notify_failed entries, want 1", failed)
	}
}

func TestAckLinks(t *testing.T) {
	l := &Links{Base: "https://e.example", Secret: []byte("s"), TTL: time.Hour}
	now := time.Unix(1_800_000_000, 0)
	u := l.AckURL("inc-1", now)
	q := strings.Split(strings.SplitN(u, "?", 2)[1], "&")
	vals := map[string]string{}
	for _, kv := range q {
		k, v, _ := strings.Cut(kv, "=")
		vals[k] = v
	}
	if !l.Verify("inc-1", vals["exp"], vals["sig"], now.Add(59*time.Minute)) {
		t.Error("a fresh link is refused")
	}
	if l.Verify("inc-1", vals["exp"], vals["sig"], now.Add(61*time.Minute)) {
		t.Error("an expired link is accepted")
	}
	if l.Verify("inc-2", vals["exp"], vals["sig"], now) {
		t.Error("a link works for another incident")
	}
	other := &Links{Secret: []byte("other")}
	if other.Verify("inc-1", vals["exp"], vals["sig"], now) {
		t.Error("a link verifies under another secret")
	}
}

// Acknowledgement links arrive from anyone's mail client: only the
// signed, unexpired (id, exp) pair verifies.
func FuzzAckLink(f *testing.F) {
	l := &Links{Secret: []byte("s"), TTL: time.Hour}
	now := time.Unix(1_800_000_000, 0)
	f.Add("inc-1", "1800003600", l.sign("inc-1", "1800003600"))
	f.Add("inc-1", "1800003600", "")
	f.Add("", "-1", "00")
	f.Fuzz(func(t *testing.T, id, exp, sig string) {
		if !l.Verify(id, exp, sig, now) {
			return
		}
		if sig != l.sign(id, exp) {
			t.Fatalf("verified a signature it did not make: %q %q %q", id, exp, sig)
		}
		n, err := strconv.ParseInt(exp, 10, 64)
		if err != nil || n < now.Unix() {
			t.Fatalf("verified an expired or malformed link: %q", exp)
		}
	})
}

// Alerts Alertmanager left out of a delivery are counted, and the page
// of each incident that delivery opened says how many.
func TestTruncatedDeliveryIsTold(t *testing.T) {
	oncall, manager := &channel{}, &channel{}
	e, _, _ := engine(t, oncall, manager)
	d, err := payload.Parse(strings.NewReader(`{"version":"4","groupKey":"g","truncatedAlerts":25,"alerts":[{"status":"firing",
"labels":{"alertname":"HotelAppDown","severity":"critical"},"startsAt":"2026-11-28T08:58:00Z","fingerprint":"t1"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Receive(ctx, d); err != nil {
		t.Fatal(err)
	}
	run(t, e)
	if len(oncall.sent) != 1 || oncall.sent[0].Truncated != 25 {
		t.Fatalf("page: %+v", oncall.sent)
	}
	if n := testutil.ToFloat64(e.Metrics.Truncated); n != 25 {
		t.Errorf("escalator_alerts_truncated_total %v", n)
	}
}
