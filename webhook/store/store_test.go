package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.yaml.in/yaml/v3"

	"github.com/hotel-ops/hotel-ops/internal/testenv"
	"github.com/hotel-ops/hotel-ops/webhook/payload"
	"github.com/hotel-ops/hotel-ops/webhook/policy"
)

var ctx = context.Background()

func policies(t testing.TB) *policy.File {
	var f policy.File
	doc := `
policies:
  - name: system-down
    matchers: ['alertname="HotelAppDown"']
    steps: [{after: 0s, notify: [pagerduty, slack]}, {after: 15m, notify: [manager]}]
  - name: warning
    matchers: ['severity="warning"']
    steps: [{after: 1h, notify: [manager]}]
`
	if err := yaml.Unmarshal([]byte(doc), &f); err != nil {
		t.Fatal(err)
	}
	if err := f.Validate(map[string]bool{"pagerduty": true, "slack": true, "manager": true}, nil); err != nil {
		t.Fatal(err)
	}
	return &f
}

func delivery(t testing.TB, group, status string, alerts ...string) *payload.Delivery {
	var parts []string
	for _, a := range alerts {
		name, fp, _ := strings.Cut(a, "/")
		parts = append(parts, fmt.Sprintf(`{"status":%q,"labels":{"alertname":%q,"severity":"critical"},"annotations":{},"startsAt":"2026-11-28T00:00:00Z","fingerprint":%q}`, status, name, fp))
	}
	d, err := payload.Parse(strings.NewReader(fmt.Sprintf(`{"version":"4","groupKey":%q,"alerts":[%s]}`, group, strings.Join(parts, ","))))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// events lists notifications as channel:event, in their order.
func events(ns []Notification) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Channel+":"+n.Event)
	}
	return out
}

func openEmbedded(t testing.TB) (*Embedded, string) {
	path := filepath.Join(t.TempDir(), "escalator.db")
	s, err := OpenEmbedded(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

// backend opens stores of one kind; reopen gives a second handle on the
// same state: a restarted process, or another replica.
type backend struct {
	name string
	open func(t *testing.T) (s Store, reopen func() Store)
}

// backends are the embedded store and the PostgreSQL store, each test on
// its own file or database of one real PostgreSQL.
func backends(t *testing.T) []backend {
	pg := testenv.StartPrimary(t, "escalator-store", testenv.PrimaryOptions{})
	var dbs atomic.Int32
	return []backend{
		{"embedded", func(t *testing.T) (Store, func() Store) {
			s, path := openEmbedded(t)
			return s, func() Store {
				s.Close()
				s2, err := OpenEmbedded(path)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s2.Close() })
				return s2
			}
		}},
		{"postgres", func(t *testing.T) (Store, func() Store) {
			db := fmt.Sprintf("escalator%d", dbs.Add(1))
			pg.Exec("CREATE DATABASE " + db)
			open := func() Store {
				s, err := OpenPostgres(ctx, pg.DSN(db))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			}
			return open(), open
		}},
	}
}

func TestStores(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Run("lifecycle", func(t *testing.T) { s, _ := b.open(t); testLifecycle(t, s) })
			t.Run("ack", func(t *testing.T) { s, _ := b.open(t); testAck(t, s) })
			t.Run("restart", func(t *testing.T) { s, reopen := b.open(t); testRestart(t, s, reopen) })
			t.Run("repeat", func(t *testing.T) { s, _ := b.open(t); testRepeat(t, s) })
			t.Run("prune", func(t *testing.T) { s, _ := b.open(t); testPrune(t, s) })
			t.Run("history", func(t *testing.T) { s, _ := b.open(t); testHistory(t, s) })
			t.Run("unsettled", func(t *testing.T) { s, _ := b.open(t); testUnsettled(t, s) })
			t.Run("reopen", func(t *testing.T) { s, _ := b.open(t); testReopen(t, s) })
			t.Run("silence-once", func(t *testing.T) { s, _ := b.open(t); testSilenceOnce(t, s) })
			t.Run("outbox-order", func(t *testing.T) { s, _ := b.open(t); testOutboxOrder(t, s) })
			t.Run("out-of-order", func(t *testing.T) { s, reopen := b.open(t); testOutOfOrder(t, s, reopen) })
			t.Run("lease", func(t *testing.T) { s, reopen := b.open(t); testLease(t, s, reopen, b.name == "embedded") })
			t.Run("resolve-by-hand", func(t *testing.T) { s, _ := b.open(t); testResolveByHand(t, s) })
			t.Run("truncated", func(t *testing.T) { s, _ := b.open(t); testTruncated(t, s) })
			t.Run("actions", func(t *testing.T) { s, reopen := b.open(t); testActions(t, s, reopen) })
			t.Run("action-breaker", func(t *testing.T) { s, _ := b.open(t); testActionBreaker(t, s) })
			t.Run("action-approval", func(t *testing.T) { s, _ := b.open(t); testActionApproval(t, s) })
			t.Run("claim-once", func(t *testing.T) { s, reopen := b.open(t); testClaimOnce(t, s, reopen) })
			t.Run("claim-subject", func(t *testing.T) { s, _ := b.open(t); testClaimSubject(t, s) })
			t.Run("invalid-utf8", func(t *testing.T) { s, reopen := b.open(t); testInvalidUTF8(t, s, reopen) })
		})
	}
}

// Two Alertmanager peers deliver one alert's firing and resolve, and one
// peer's resolve arrives before the other's firing (the second handle is
// another replica, or the process after a restart). Nothing may stay
// open or page: the resolve is recorded, the late firing is a heartbeat
// of a closed incident, and the copies are duplicates.
func testOutOfOrder(t *testing.T, s Store, other func() Store) {
	pol := policies(t)
	t0 := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	resolve, fire := delivery(t, "g1", "resolved", "HotelAppDown/oo1"), delivery(t, "g1", "firing", "HotelAppDown/oo1")
	res, err := s.Receive(ctx, resolve, pol, t0)
	if err != nil || res.EarlyResolves != 1 || res.Opened != 0 {
		t.Fatalf("peer B's resolve first: %+v %v", res, err)
	}
	s2 := other()
	if res, err := s2.Receive(ctx, fire, pol, t0.Add(time.Second)); err != nil || res.Opened != 0 || res.Duplicate {
		t.Fatalf("peer A's late firing: %+v %v, want a heartbeat", res, err)
	}
	for _, d := range []*payload.Delivery{fire, resolve} {
		if res, err := s2.Receive(ctx, d, pol, t0.Add(2*time.Second)); err != nil || !res.Duplicate {
			t.Fatalf("the other peer's copy: %+v %v, want a duplicate", res, err)
		}
	}
	if fired, _ := s2.FireDue(ctx, pol, t0.Add(time.Hour), 100); len(fired) != 0 {
		t.Errorf("steps taken: %+v", fired)
	}
	if out, _ := s2.Claim(ctx, "", t0.Add(time.Hour), time.Minute, 100); len(out) != 0 {
		t.Errorf("notifications queued: %v", events(out))
	}
	inc, err := s2.Incident(ctx, payload.IncidentID("oo1", t0))
	if err != nil || inc.Status != Resolved {
		t.Fatalf("incident: %+v %v, want recorded resolved", inc, err)
	}
	if open, _ := s2.OpenBySeverity(ctx); open["critical"] != 0 {
		t.Errorf("open incidents: %v", open)
	}
}

// A person resolving the incident where the page was read (PagerDuty)
// stops its escalation; the channels paged hear it; the alert's later
// repeats page no one.
func testResolveByHand(t *testing.T, s Store) {
	pol := policies(t)
	t0 := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	id := payload.IncidentID("h1", t0)
	if _, err := s.Receive(ctx, delivery(t, "g1", "firing", "HotelAppDown/h1"), pol, t0); err != nil {
		t.Fatal(err)
	}
	s.FireDue(ctx, pol, t0, 100)
	drain := func(at time.Time) []string {
		out, _ := s.Claim(ctx, "", at, time.Minute, 100)
		var outcomes []Outcome
		for _, n := range out {
			outcomes = append(outcomes, Outcome{N: n, Now: at})
		}
		if err := s.Settle(ctx, outcomes); err != nil {
			t.Fatal(err)
		}
		return events(out)
	}
	drain(t0)
	inc, err := s.Resolve(ctx, id, "pagerduty:bob", t0.Add(time.Minute))
	if err != nil || inc.Status != Resolved || inc.ClosedBy != "pagerduty:bob" {
		t.Fatalf("resolve: %+v %v", inc, err)
	}
	if got := strings.Join(drain(t0.Add(time.Minute)), " "); got != "pagerduty:resolve slack:resolve" {
		t.Errorf("told: %s", got)
	}
	if _, err := s.Receive(ctx, delivery(t, "g1", "firing", "HotelAppDown/h1", "HotelAppDown/h2"), pol, t0.Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	var fired []Fired
	for {
		f, err := s.FireDue(ctx, pol, t0.Add(time.Hour), 100)
		if err != nil || len(f) == 0 {
			break
		}
		fired = append(fired, f...)
	}
	if len(fired) != 2 || fired[0].Incident != payload.IncidentID("h2", t0) || fired[1].Incident != fired[0].Incident {
		t.Errorf("steps after the resolve: %+v, want h2's two only", fired)
	}
	if inc, _ := s.Incident(ctx, id); inc.Status != Resolved {
		t.Errorf("after a repeat: %s", inc.Status)
	}
	if _, err := s.Resolve(ctx, "nope", "x", t0); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown incident: %v", err)
	}
}

// Alerts Alertmanager left out of a delivery are recorded: an audit
// entry for the delivery, and the count on the incidents it opened.
func testTruncated(t *testing.T, s Store) {
	pol := policies(t)
	t0 := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	d := delivery(t, "g-big", "firing", "HotelAppDown/t1")
	d.Truncated = 42
	if _, err := s.Receive(ctx, d, pol, t0); err != nil {
		t.Fatal(err)
	}
	if inc, err := s.Incident(ctx, payload.IncidentID("t1", t0)); err != nil || inc.Truncated != 42 {
		t.Errorf("incident: %+v %v", inc, err)
	}
	audit, _ := s.Audit(ctx, "", 100)
	found := false
	for _, e := range audit {
		found = found || (e.Action == "truncated" && strings.Contains(e.Detail, "42"))
	}
	if !found {
		t.Errorf("no truncated entry in %+v", audit)
	}
}

// An incident records one silence: a second (another replica's) is
// refused with ErrSilenceTaken, also after the first was expired.
func testSilenceOnce(t *testing.T, s Store) {
	pol := policies(t)
	t0 := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	if _, err := s.Receive(ctx, delivery(t, "g1", "firing", "HotelAppDown/s1"), pol, t0); err != nil {
		t.Fatal(err)
	}
	id := payload.IncidentID("s1", t0)
	for _, c := range []struct {
		silence string
		want    error
	}{{"a", nil}, {"a", nil}, {"b", ErrSilenceTaken}, {SilenceExpired, nil}, {"c", ErrSilenceTaken}} {
		if err := s.SetSilence(ctx, id, c.silence, t0); !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
			t.Errorf("SetSilence(%q): %v, want %v", c.silence, err, c.want)
		}
	}
	if inc, _ := s.Incident(ctx, id); inc.SilenceID != SilenceExpired {
		t.Errorf("silence recorded: %q, want %q", inc.SilenceID, SilenceExpired)
	}
}

// The outbox hands out an incident's notifications to a channel in
// order, one at a time: a resolve waits until its trigger is settled,
// even for another claim of the same store, so a
// receiver never hears of a resolve before the trigger. Step
// notifications carry their step's due time, for the escalation lag.
func testOutboxOrder(t *testing.T, s Store) {
	pol := policies(t)
	t0 := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	if _, err := s.Receive(ctx, delivery(t, "g1", "firing", "HotelAppDown/o1"), pol, t0); err != nil {
		t.Fatal(err)
	}
	if fired, _ := s.FireDue(ctx, pol, t0.Add(time.Second), 100); len(fired) != 1 {
		t.Fatalf("step 0: %+v", fired)
	}
	first, _ := s.Claim(ctx, "", t0.Add(time.Second), time.Minute, 1)
	if len(first) != 1 || first[0].Channel != "pagerduty" || !first[0].Due.Equal(t0) {
		t.Fatalf("first claim: %+v, want pagerduty's trigger, due at %s", first, t0)
	}
	if res, _ := s.Receive(ctx, delivery(t, "g1", "resolved", "HotelAppDown/o1"), pol, t0.Add(2*time.Second)); res.Resolved != 1 {
		t.Fatalf("resolve: %+v", res)
	}
	claim := func(st Store) []string {
		out, err := st.Claim(ctx, "", t0.Add(3*time.Second), time.Minute, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range out {
			if (n.Event == "trigger") == n.Due.IsZero() {
				t.Errorf("%s %s: due %v", n.Channel, n.Event, n.Due)
			}
		}
		return events(out)
	}
	if got := claim(s); strings.Join(got, " ") != "slack:trigger" {
		t.Fatalf("while pagerduty's trigger is out: %v, want slack's trigger only", got)
	}
	if err := s.Settle(ctx, []Outcome{{N: first[0], Now: t0.Add(3 * time.Second)}}); err != nil {
		t.Fatal(err)
	}
	if got := claim(s); strings.Join(got, " ") != "pagerduty:resolve" {
		t.Fatalf("after pagerduty's trigger was sent: %v, want its resolve only (slack's trigger is still out)", got)
	}
}

// A claim that gives each notification's incident (PostgreSQL) gives it
// as Incident reads it at that moment: the open incident with its
// trigger, the resolved one with its resolve. One whose incident is gone
// is still claimed, without it, and fails at its send rather than staying
// queued.
func testClaimSubject(t *testing.T, s Store) {
	pol := policies(t)
	t0 := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	_, withSubject := s.(*Postgres)
	claim := func(at time.Time, wantEvent string) Notification {
		t.Helper()
		out, err := s.Claim(ctx, "pagerduty", at, time.Minute, 10)
		if err != nil || len(out) != 1 || out[0].Event != wantEvent {
			t.Fatalf("claim at %s: %+v %v, want pagerduty's %s", at, out, err, wantEvent)
		}
		n := out[0]
		if !withSubject {
			if n.Subject != nil {
				t.Errorf("a store that reads no incident with its claims gave %+v", n.Subject)
			}
			return n
		}
		want, err := s.Incident(ctx, n.Incident)
		if err != nil {
			t.Fatal(err)
		}
		if n.Subject == nil || n.Subject.ID != want.ID || n.Subject.Status != want.Status || n.Subject.Labels["alertname"] != "HotelAppDown" ||
			!n.Subject.LastSeen.Equal(want.LastSeen) || n.Subject.Policy != want.Policy {
			t.Errorf("the %s's incident as claimed: %+v, want %+v", wantEvent, n.Subject, want)
		}
		return n
	}
	if _, err := s.Receive(ctx, delivery(t, "g1", "firing", "HotelAppDown/s1"), pol, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FireDue(ctx, pol, t0.Add(time.Second), 100); err != nil {
		t.Fatal(err)
	}
	trigger := claim(t0.Add(time.Second), "trigger")
	if withSubject && trigger.Subject.Status != Open {
		t.Errorf("the trigger's incident is %s, want open", trigger.Subject.Status)
	}
	if _, err := s.Receive(ctx, delivery(t, "g1", "resolved", "HotelAppDown/s1"), pol, t0.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := s.Settle(ctx, []Outcome{{N: trigger, Now: t0.Add(2 * time.Second)}}); err != nil {
		t.Fatal(err)
	}
	resolve := claim(t0.Add(3*time.Second), "resolve")
	if withSubject && resolve.Subject.Status != Resolved {
		t.Errorf("the resolve's incident is %s, want resolved", resolve.Subject.Status)
	}
	if err := s.Settle(ctx, []Outcome{{N: resolve, Now: t0.Add(3 * time.Second)}}); err != nil {
		t.Fatal(err)
	}
	if !withSubject {
		return
	}
	// Under their queued notifications: s2's incident removed, s3's state
	// row alone removed, s4's document no longer an incident's. Each is
	// claimed without its incident, and none fails the others' claim.
	for _, g := range []string{"2", "3", "4"} {
		if _, err := s.Receive(ctx, delivery(t, "g"+g, "firing", "HotelAppDown/s"+g), pol, t0.Add(4*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.FireDue(ctx, pol, t0.Add(5*time.Second), 100); err != nil {
		t.Fatal(err)
	}
	pg := s.(*Postgres)
	for _, q := range []struct {
		sql, fp string
	}{
		{`DELETE FROM escalator_state WHERE incident = $1`, "s2"}, {`DELETE FROM escalator_incidents WHERE id = $1`, "s2"},
		{`DELETE FROM escalator_state WHERE incident = $1`, "s3"},
		{`UPDATE escalator_incidents SET data = '{"labels": 5}' WHERE id = $1`, "s4"},
	} {
		if _, err := pg.pool.Exec(ctx, q.sql, payload.IncidentID(q.fp, t0)); err != nil {
			t.Fatal(err)
		}
	}
	out, err := s.Claim(ctx, "pagerduty", t0.Add(6*time.Second), time.Minute, 10)
	if err != nil || len(out) != 3 {
		t.Fatalf("claim of notifications whose incidents are gone or broken: %+v %v, want three", out, err)
	}
	for _, n := range out {
		if n.Subject != nil || n.Event != "trigger" {
			t.Errorf("claimed %+v, want a trigger without an incident", n)
		}
	}
}

// A claimed notification is another claim's only when its lease ends, or,
// in the embedded store, whose file one process owns, as soon as that
// process restarts: what was in flight at a crash goes out again at once.
// Once settled it is never handed out again.
func testLease(t *testing.T, s Store, other func() Store, restart bool) {
	pol := policies(t)
	t0 := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	if _, err := s.Receive(ctx, delivery(t, "g1", "firing", "HotelAppDown/l1"), pol, t0); err != nil {
		t.Fatal(err)
	}
	s.FireDue(ctx, pol, t0, 100)
	first, _ := s.Claim(ctx, "pagerduty", t0, 15*time.Second, 10)
	sent, _ := s.Claim(ctx, "slack", t0, 15*time.Second, 10)
	if len(first) != 1 || len(sent) != 1 {
		t.Fatalf("claims: %v %v", events(first), events(sent))
	}
	if err := s.Settle(ctx, []Outcome{{N: sent[0], Now: t0}}); err != nil {
		t.Fatal(err)
	}
	s2 := other()
	again, _ := s2.Claim(ctx, "", t0.Add(time.Second), 15*time.Second, 10)
	want := ""
	if restart {
		want = "pagerduty:trigger"
	}
	if got := strings.Join(events(again), " "); got != want {
		t.Fatalf("a second after the claim, from a second handle: %q, want %q", got, want)
	}
	if !restart {
		again, _ = s2.Claim(ctx, "", t0.Add(16*time.Second), 15*time.Second, 10)
		if got := strings.Join(events(again), " "); got != "pagerduty:trigger" {
			t.Fatalf("after the lease: %q, want pagerduty's trigger", got)
		}
	}
	if again[0].Key != first[0].Key {
		t.Errorf("taken again with key %s, was %s", again[0].Key, first[0].Key)
	}
}

// An incident the reconciler closed whose alert Alertmanager delivers
// firing again is reopened: its channels hear it fires again and its
// escalation goes on (the next step at its time, or at once if past).
// One Alertmanager resolved stays resolved; an acknowledged one comes
// back acknowledged, quietly, with no step pending.
func testReopen(t *testing.T, s Store) {
	pol := policies(t)
	t0 := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	id := func(fp string) string { return payload.IncidentID(fp, t0) }
	reconcilerClose := func(fp string, at time.Time) {
		d := delivery(t, "escalator reconciler", "resolved", "HotelAppDown/"+fp)
		d.Hash = ReconcilerHashPrefix + id(fp)
		if res, err := s.Receive(ctx, d, pol, at); err != nil || res.Resolved != 1 {
			t.Fatalf("reconciler closing %s: %+v %v", fp, res, err)
		}
	}
	for _, fp := range []string{"r1", "r2", "r3"} {
		if _, err := s.Receive(ctx, delivery(t, "g-"+fp, "firing", "HotelAppDown/"+fp), pol, t0); err != nil {
			t.Fatal(err)
		}
	}
	if fired, _ := s.FireDue(ctx, pol, t0, 100); len(fired) != 3 {
		t.Fatalf("step 0 of three incidents: %+v", fired)
	}
	sent := func(at time.Time) { // every notification queued is sent
		for {
			out, _ := s.Claim(ctx, "", at, time.Minute, 100)
			if len(out) == 0 {
				return
			}
			for _, n := range out {
				if err := s.Settle(ctx, []Outcome{{N: n, Now: at}}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	sent(t0)
	if _, err := s.Ack(ctx, id("r3"), "alice", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	reconcilerClose("r1", t0.Add(5*time.Minute))
	reconcilerClose("r3", t0.Add(5*time.Minute))
	if res, _ := s.Receive(ctx, delivery(t, "g-r2", "resolved", "HotelAppDown/r2"), pol, t0.Add(5*time.Minute)); res.Resolved != 1 {
		t.Fatalf("Alertmanager resolving r2: %+v", res)
	}
	sent(t0.Add(5 * time.Minute))

	// Alertmanager delivers all three firing again (a new group: a new hash).
	res, err := s.Receive(ctx, delivery(t, "g-again", "firing", "HotelAppDown/r1", "HotelAppDown/r2", "HotelAppDown/r3"), pol, t0.Add(6*time.Minute))
	if err != nil || res.Reopened != 2 || res.Opened != 0 {
		t.Fatalf("firing again: %+v %v, want r1 and r3 reopened", res, err)
	}
	for fp, want := range map[string]string{"r1": Open, "r2": Resolved, "r3": Acknowledged} {
		inc, err := s.Incident(ctx, id(fp))
		if err != nil || inc.Status != want {
			t.Errorf("%s after firing again: %+v %v, want %s", fp, inc, err, want)
		}
	}
	out, _ := s.Claim(ctx, "", t0.Add(6*time.Minute), time.Hour, 100)
	names := map[string]string{id("r1"): "r1", id("r2"): "r2", id("r3"): "r3"}
	var got []string
	for _, n := range out {
		got = append(got, names[n.Incident]+"/"+n.Channel+":"+n.Event)
	}
	sort.Strings(got)
	if strings.Join(got, " ") != "r1/pagerduty:trigger r1/slack:trigger" {
		t.Errorf("told of the reopening: %v, want r1's channels only (r3 is acknowledged)", got)
	}
	if fired, _ := s.FireDue(ctx, pol, t0.Add(14*time.Minute), 100); len(fired) != 0 {
		t.Errorf("a step fired before its time: %+v", fired)
	}
	fired, _ := s.FireDue(ctx, pol, t0.Add(15*time.Minute), 100)
	if len(fired) != 1 || fired[0].Incident != id("r1") || fired[0].Step != 1 {
		t.Errorf("step 1 at 15m: %+v, want r1's only", fired)
	}
}

func testLifecycle(t *testing.T, s Store) {
	pol := policies(t)
	t0 := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	d := delivery(t, "g1", "firing", "HotelAppDown/f1")
	res, err := s.Receive(ctx, d, pol, t0)
	if err != nil || res.Opened != 1 || res.Duplicate {
		t.Fatalf("first delivery: %+v %v", res, err)
	}
	if res, _ := s.Receive(ctx, d, pol, t0.Add(time.Second)); !res.Duplicate {
		t.Fatal("the same delivery from the other Alertmanager was not deduplicated")
	}
	fired, _ := s.FireDue(ctx, pol, t0, 100)
	if len(fired) != 1 || fired[0].Step != 0 {
		t.Fatalf("step 0 at once: %+v", fired)
	}
	if fired, _ := s.FireDue(ctx, pol, t0.Add(14*time.Minute), 100); len(fired) != 0 {
		t.Fatalf("step 1 fired early: %+v", fired)
	}
	fired, _ = s.FireDue(ctx, pol, t0.Add(15*time.Minute+time.Second), 100)
	if len(fired) != 1 || fired[0].Step != 1 || fired[0].Lag != time.Second {
		t.Fatalf("step 1 at 15m: %+v", fired)
	}
	id := payload.IncidentID("f1", time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC))
	if inc, err := s.Incident(ctx, id); err != nil || inc.NextStep != 2 || !inc.NextDue.IsZero() ||
		strings.Join(inc.Notified, " ") != "pagerduty slack manager" || inc.Labels["alertname"] != "HotelAppDown" {
		t.Fatalf("incident after both steps: %+v %v", inc, err)
	}
	out, _ := s.Claim(ctx, "", t0.Add(16*time.Minute), time.Minute, 100)
	if keys := events(out); strings.Join(keys, " ") != "pagerduty:trigger slack:trigger manager:trigger" {
		t.Errorf("outbox %v", keys)
	}
	if again, _ := s.Claim(ctx, "", t0.Add(16*time.Minute), time.Minute, 100); len(again) != 0 {
		t.Errorf("leased notifications claimed twice: %v", again)
	}
	for _, n := range out {
		if err := s.Settle(ctx, []Outcome{{N: n, Now: t0.Add(16 * time.Minute)}}); err != nil {
			t.Fatal(err)
		}
	}
	res, _ = s.Receive(ctx, delivery(t, "g1", "resolved", "HotelAppDown/f1"), pol, t0.Add(time.Hour))
	if res.Resolved != 1 || res.Resolutions[0] != (Resolution{Severity: "critical", Duration: time.Hour}) {
		t.Fatalf("resolve: %+v", res)
	}
	out, _ = s.Claim(ctx, "", t0.Add(time.Hour), time.Minute, 100)
	if len(out) != 3 || out[0].Event != "resolve" {
		t.Errorf("resolve notices to the notified channels: %+v", out)
	}
	inc, _ := s.Incident(ctx, d.Alerts[0].Fingerprint)
	if inc != nil {
		t.Error("incident ids must not be fingerprints")
	}
	audit, _ := s.Audit(ctx, "", 100)
	var actions []string
	for _, e := range audit {
		actions = append(actions, e.Action)
	}
	for _, want := range []string{"received", "opened", "escalated", "notified", "resolved"} {
		if !strings.Contains(strings.Join(actions, " "), want) {
			t.Errorf("audit lacks %s: %v", want, actions)
		}
	}
}

func testAck(t *testing.T, s Store) {
	pol := policies(t)
	t0 := time.Now()
	s.Receive(ctx, delivery(t, "g", "firing", "HotelAppDown/f2"), pol, t0)
	s.FireDue(ctx, pol, t0, 10)
	id := payload.IncidentID("f2", time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC))
	inc, err := s.Ack(ctx, id, "api", t0.Add(time.Minute))
	if err != nil || inc.Status != Acknowledged {
		t.Fatalf("ack: %+v %v", inc, err)
	}
	if fired, _ := s.FireDue(ctx, pol, t0.Add(time.Hour), 10); len(fired) != 0 {
		t.Errorf("steps after acknowledgement: %+v", fired)
	}
	if n, _ := s.Pending(ctx); n != 0 {
		t.Errorf("%d timers pending after ack", n)
	}
	if _, err := s.Ack(ctx, "nope", "api", t0); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown incident: %v", err)
	}
}

// After a restart every pending step fires once, and none twice.
func testRestart(t *testing.T, s Store, reopen func() Store) {
	pol := policies(t)
	t0 := time.Now()
	const n = 500
	for i := 0; i < n; i++ {
		s.Receive(ctx, delivery(t, fmt.Sprint("g", i), "firing", fmt.Sprintf("HotelAppDown/fp%d", i)), pol, t0)
	}
	s2 := reopen()
	seen := map[string]int{}
	for _, at := range []time.Duration{0, time.Minute, 16 * time.Minute, time.Hour} {
		fired, err := s2.FireDue(ctx, pol, t0.Add(at), 100000)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fired {
			seen[fmt.Sprint(f.Incident, "/", f.Step)]++
		}
	}
	if len(seen) != 2*n {
		t.Errorf("%d distinct steps fired, want %d", len(seen), 2*n)
	}
	for k, c := range seen {
		if c != 1 {
			t.Errorf("%s fired %d times", k, c)
		}
	}
}

func TestSecondProcessRefused(t *testing.T) {
	_, path := openEmbedded(t)
	_, err := OpenEmbedded(path)
	if err == nil || !strings.Contains(err.Error(), "in use by another escalator") {
		t.Fatalf("second open: %v", err)
	}
}

// A repeat of a firing alert in a new group is a heartbeat, not a new
// incident; its resolve closes it once.
func testRepeat(t *testing.T, s Store) {
	pol := policies(t)
	t0 := time.Date(2026, 11, 28, 1, 0, 0, 0, time.UTC)
	if res, err := s.Receive(ctx, delivery(t, "a", "firing", "HotelAppDown/r1"), pol, t0); err != nil || res.Opened != 1 {
		t.Fatalf("open: %+v %v", res, err)
	}
	res, err := s.Receive(ctx, delivery(t, "b", "firing", "HotelAppDown/r1"), pol, t0.Add(time.Minute))
	if err != nil || res.Opened != 0 || res.Duplicate {
		t.Fatalf("repeat: %+v %v", res, err)
	}
	list, _ := s.Incidents(ctx, 10)
	if len(list) != 1 || !list[0].LastSeen.Equal(t0.Add(time.Minute)) || list[0].Policy != "system-down" {
		t.Fatalf("after a heartbeat: %+v", list)
	}
	for i, want := range []int{1, 0} {
		res, _ = s.Receive(ctx, delivery(t, fmt.Sprint("c", i), "resolved", "HotelAppDown/r1"), pol, t0.Add(time.Duration(2+i)*time.Minute))
		if res.Resolved != want {
			t.Errorf("resolve %d closed %d incidents, want %d", i, res.Resolved, want)
		}
	}
	if sev, _ := s.OpenBySeverity(ctx); sev["critical"] != 0 {
		t.Errorf("open by severity after resolve: %v", sev)
	}
	if n, _ := s.Pending(ctx); n != 0 {
		t.Errorf("%d timers pending after resolve", n)
	}
}

// twoReplicas opens two stores on one new PostgreSQL database.
func twoReplicas(t *testing.T, name string) [2]*Postgres {
	pg := testenv.StartPrimary(t, name, testenv.PrimaryOptions{})
	pg.Exec("CREATE DATABASE escalator")
	var replicas [2]*Postgres
	for i := range replicas {
		s, err := OpenPostgres(ctx, pg.DSN("escalator"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		replicas[i] = s
	}
	return replicas
}

// Two replicas on one PostgreSQL, each receiving every delivery (as from
// two Alertmanager peers) and both firing and claiming at once: every
// step is taken once and every notification is claimed once.
func TestReplicasShareOnePostgres(t *testing.T) {
	replicas := twoReplicas(t, "escalator-replicas")
	pol := policies(t)
	t0 := time.Date(2026, 11, 28, 2, 0, 0, 0, time.UTC)
	const n = 200
	var wg sync.WaitGroup
	var opened, dups atomic.Int32
	for _, s := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n; i++ {
				res, err := s.Receive(ctx, delivery(t, fmt.Sprint("g", i), "firing", fmt.Sprintf("HotelAppDown/x%d", i)), pol, t0)
				if err != nil {
					t.Error(err)
					return
				}
				opened.Add(int32(res.Opened))
				if res.Duplicate {
					dups.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if opened.Load() != n || dups.Load() != n {
		t.Fatalf("%d incidents opened and %d duplicates, want %d and %d", opened.Load(), dups.Load(), n, n)
	}
	var mu sync.Mutex
	steps, sends := map[string]int{}, map[string]int{}
	for _, at := range []time.Duration{0, 16 * time.Minute} {
		for _, s := range replicas {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					fired, err := s.FireDue(ctx, pol, t0.Add(at), 7) // small batches: the replicas interleave
					if err != nil {
						t.Error(err)
						return
					}
					claimed, err := s.Claim(ctx, "", t0.Add(at), time.Hour, 5)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					for _, f := range fired {
						steps[fmt.Sprint(f.Incident, "/", f.Step)]++
					}
					for _, c := range claimed {
						sends[c.Key]++
					}
					mu.Unlock()
					if len(fired) == 0 && len(claimed) == 0 {
						return
					}
				}
			}()
		}
		wg.Wait()
	}
	if len(steps) != 2*n || len(sends) != 3*n {
		t.Errorf("%d steps and %d notifications, want %d and %d", len(steps), len(sends), 2*n, 3*n)
	}
	for k, c := range steps {
		if c != 1 {
			t.Errorf("step %s taken %d times", k, c)
		}
	}
	for k, c := range sends {
		if c != 1 {
			t.Errorf("notification %s claimed %d times", k, c)
		}
	}
}

// Two replicas on one PostgreSQL receiving one alert's firing and resolve
// at once, in opposite orders (two Alertmanager peers, each behind its
// own load balancer path): whichever order the locks give, every
// incident ends resolved with no step pending.
func TestReplicasOutOfOrderAtOnce(t *testing.T) {
	replicas := twoReplicas(t, "escalator-replicas-order")
	pol := policies(t)
	t0 := time.Date(2026, 11, 28, 2, 0, 0, 0, time.UTC)
	const n = 150
	var wg sync.WaitGroup
	for r, s := range replicas {
		order := []string{"firing", "resolved"}
		if r == 1 {
			order = []string{"resolved", "firing"}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n; i++ {
				for _, status := range order {
					if _, err := s.Receive(ctx, delivery(t, fmt.Sprint("g", i), status, fmt.Sprintf("HotelAppDown/o%d", i)), pol, t0); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	list, err := replicas[0].Incidents(ctx, 2*n)
	if err != nil || len(list) != n {
		t.Fatalf("%d incidents (%v), want %d", len(list), err, n)
	}
	for _, inc := range list {
		if inc.Status != Resolved {
			t.Errorf("incident %s is %s after its resolve", inc.ID, inc.Status)
		}
	}
	if p, err := replicas[1].Pending(ctx); err != nil || p != 0 {
		t.Errorf("%d steps pending (%v), want none", p, err)
	}
}

// Tables of earlier versions have their escalations moved to
// escalator_escalations when escalator starts: the state from the
// incident's document (the first version) or from its columns (the
// second), and the step pending from escalator_timers. A timer for a
// step the incident no longer expects stays stale; the step due fires.
func TestPostgresMovesOlderEscalations(t *testing.T) {
	pg := testenv.StartPrimary(t, "escalator-migrate", testenv.PrimaryOptions{})
	t0 := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	doc := func(id, status string) string {
		return `{"id":"` + id + `","status":"` + status + `","policy":"system-down","nextStep":1,"nextDue":"2026-11-28T00:15:00Z","notified":["pagerduty","slack"]}`
	}
	for _, c := range []struct{ name, table string }{
		{"documents", `CREATE TABLE escalator_incidents (id text PRIMARY KEY, status text NOT NULL,
			severity text NOT NULL DEFAULT '', opened_at timestamptz NOT NULL, data jsonb NOT NULL)`},
		{"columns", `CREATE TABLE escalator_incidents (id text PRIMARY KEY, status text NOT NULL,
			severity text NOT NULL DEFAULT '', opened_at timestamptz NOT NULL, data jsonb NOT NULL,
			policy text NOT NULL DEFAULT '', next_step integer NOT NULL DEFAULT 0, next_due timestamptz,
			notified jsonb NOT NULL DEFAULT '[]')`},
	} {
		t.Run(c.name, func(t *testing.T) {
			pg.Exec("CREATE DATABASE " + c.name)
			conn := pg.Connect(c.name)
			defer conn.Close(ctx)
			if _, err := conn.Exec(ctx, c.table); err != nil {
				t.Fatal(err)
			}
			_, err := conn.Exec(ctx, `CREATE TABLE escalator_timers (incident text PRIMARY KEY REFERENCES escalator_incidents (id),
				due timestamptz NOT NULL, step integer NOT NULL)`)
			if err != nil {
				t.Fatal(err)
			}
			// i1 is due for step 1; i2's timer is stale (step 0, it
			// expects 1); i3 was acknowledged.
			for _, inc := range [][2]string{{"i1", "open"}, {"i2", "open"}, {"i3", "acknowledged"}} {
				if _, err := conn.Exec(ctx, `INSERT INTO escalator_incidents (id, status, opened_at, data) VALUES ($1, $2, $3, $4)`,
					inc[0], inc[1], t0, doc(inc[0], inc[1])); err != nil {
					t.Fatal(err)
				}
			}
			if c.name == "columns" {
				// The columns overrule the document: the first version's
				// documents were not updated by a step.
				if _, err := conn.Exec(ctx, `UPDATE escalator_incidents SET policy = 'system-down', next_step = 1,
					notified = '["pagerduty","slack"]', data = data - 'notified' - 'nextStep'`); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := conn.Exec(ctx, `INSERT INTO escalator_timers VALUES ('i1', $1, 1), ('i2', $1, 0), ('i3', $1, 1)`, t0.Add(15*time.Minute)); err != nil {
				t.Fatal(err)
			}

			s, err := OpenPostgres(ctx, pg.DSN(c.name))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			inc, err := s.Incident(ctx, "i1")
			if err != nil || inc.NextStep != 1 || !inc.NextDue.Equal(t0.Add(15*time.Minute)) || strings.Join(inc.Notified, " ") != "pagerduty slack" {
				t.Fatalf("incident from an older table: %+v %v", inc, err)
			}
			if n, err := s.Pending(ctx); err != nil || n != 1 {
				t.Errorf("%d steps pending, want 1 (i1): %v", n, err)
			}
			fired, err := s.FireDue(ctx, policies(t), t0.Add(15*time.Minute), 10)
			if err != nil || len(fired) != 1 || fired[0].Incident != "i1" || fired[0].Step != 1 {
				t.Fatalf("fired %+v %v, want i1's step 1", fired, err)
			}
			var tables int
			if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename = 'escalator_timers'`).Scan(&tables); err != nil || tables != 0 {
				t.Errorf("escalator_timers left behind (%d): %v", tables, err)
			}
			// The timers' reference to the incidents is gone (migration 5).
			var keys int
			if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_constraint WHERE conrelid = 'escalator_state'::regclass AND contype = 'f'`).Scan(&keys); err != nil || keys != 0 {
				t.Errorf("escalator_state keeps %d foreign keys: %v", keys, err)
			}
		})
	}
}

// A database of schema version 2 keeps every incident's state when
// escalator moves it out of the documents (migration 3): acknowledged,
// resolved, silenced and unescalated incidents read back as they were,
// and the open one still escalates and acknowledges.
func TestPostgresMovesStateOutOfDocuments(t *testing.T) {
	pg := testenv.StartPrimary(t, "escalator-migrate-state", testenv.PrimaryOptions{})
	pg.Exec("CREATE DATABASE v2")
	conn := pg.Connect("v2")
	defer conn.Close(ctx)
	t0 := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	setup := []string{
		`CREATE TABLE escalator_schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied timestamptz NOT NULL DEFAULT now())`,
		migration1, migrations[1].sql,
		`INSERT INTO escalator_schema_migrations (version, name) VALUES (1, 'one'), (2, 'two')`,
	}
	for _, q := range setup {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	type v2 struct {
		id, status, severity, doc string
		escalated                 bool
	}
	for _, inc := range []v2{
		{"open", "open", "critical", `{"id":"open","labels":{"severity":"critical"},"status":"open","policy":"system-down","openedAt":"2026-11-28T00:00:00Z","lastSeen":"2026-11-28T00:04:00Z"}`, true},
		{"acked", "acknowledged", "critical", `{"id":"acked","labels":{"severity":"critical"},"status":"acknowledged","policy":"system-down","openedAt":"2026-11-28T00:00:00Z","lastSeen":"2026-11-28T00:03:00Z","ackedAt":"2026-11-28T00:02:00Z","ackedBy":"alice","silenceId":"s-1"}`, true},
		{"closed", "resolved", "warning", `{"id":"closed","labels":{"severity":"warning"},"status":"resolved","openedAt":"2026-11-28T00:00:00Z","lastSeen":"2026-11-28T00:05:00Z","ackedAt":"0001-01-01T00:00:00Z","resolvedAt":"2026-11-28T00:05:00Z","closedBy":"bob"}`, false},
	} {
		if _, err := conn.Exec(ctx, `INSERT INTO escalator_incidents (id, status, severity, opened_at, data) VALUES ($1, $2, $3, $4, $5)`,
			inc.id, inc.status, inc.severity, t0, inc.doc); err != nil {
			t.Fatal(err)
		}
		if inc.escalated {
			due := any(nil)
			if inc.status == "open" {
				due = t0.Add(15 * time.Minute)
			}
			if _, err := conn.Exec(ctx, `INSERT INTO escalator_escalations (incident, policy, opened_at, next_step, due, notified)
				VALUES ($1, 'system-down', $2, 1, $3, '["pagerduty"]')`, inc.id, t0, due); err != nil {
				t.Fatal(err)
			}
		}
	}

	s, err := OpenPostgres(ctx, pg.DSN("v2"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for id, want := range map[string]func(*Incident) bool{
		"open": func(i *Incident) bool {
			return i.Status == Open && i.LastSeen.Equal(t0.Add(4*time.Minute)) && i.NextStep == 1 && i.NextDue.Equal(t0.Add(15*time.Minute))
		},
		"acked": func(i *Incident) bool {
			return i.Status == Acknowledged && i.AckedBy == "alice" && i.AckedAt.Equal(t0.Add(2*time.Minute)) && i.SilenceID == "s-1" && i.NextDue.IsZero()
		},
		"closed": func(i *Incident) bool {
			return i.Status == Resolved && i.ClosedBy == "bob" && i.ResolvedAt.Equal(t0.Add(5*time.Minute)) && i.AckedAt.IsZero() && i.Policy == ""
		},
	} {
		inc, err := s.Incident(ctx, id)
		if err != nil || !want(inc) {
			t.Errorf("%s after the migration: %+v %v", id, inc, err)
		}
	}
	if open, err := s.OpenBySeverity(ctx); err != nil || open["critical"] != 2 || open["warning"] != 0 {
		t.Errorf("open by severity %v %v, want 2 critical", open, err)
	}
	list, err := s.Incidents(ctx, 10)
	if err != nil || len(list) != 3 || list[2].ID != "closed" {
		t.Errorf("listed %+v %v, want the resolved one last", list, err)
	}
	fired, err := s.FireDue(ctx, policies(t), t0.Add(15*time.Minute), 10)
	if err != nil || len(fired) != 1 || fired[0].Incident != "open" {
		t.Fatalf("fired %+v %v, want the open incident's step", fired, err)
	}
	if inc, err := s.Ack(ctx, "open", "carol", t0.Add(16*time.Minute)); err != nil || inc.Status != Acknowledged || inc.Labels["severity"] != "critical" {
		t.Errorf("ack after the migration: %+v %v", inc, err)
	}
}

// Pruning the history removes incidents resolved before the time, more
// than one chunk of them, and the audit entries written before it; an
// acknowledged or open incident stays however old, and so does one
// resolved after the time.
func testHistory(t *testing.T, s Store) {
	pol := policies(t)
	t0 := time.Date(2026, 11, 28, 1, 0, 0, 0, time.UTC)
	started := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC) // delivery()'s startsAt
	receive := func(d *payload.Delivery, at time.Time) {
		t.Helper()
		if _, err := s.Receive(ctx, d, pol, at); err != nil {
			t.Fatal(err)
		}
	}
	const old = historyChunk + 50
	for g := 0; g < old/10; g++ {
		var alerts []string
		for i := 0; i < 10; i++ {
			alerts = append(alerts, fmt.Sprintf("HotelAppDown/old%d-%d", g, i))
		}
		receive(delivery(t, fmt.Sprint("old", g), "firing", alerts...), t0)
		receive(delivery(t, fmt.Sprint("old", g), "resolved", alerts...), t0.Add(time.Hour))
	}
	// An alert whose sender's clock runs years ahead: resolved before the
	// time all the same.
	future := func(status string) *payload.Delivery {
		d, err := payload.Parse(strings.NewReader(`{"version":"4","groupKey":"future","alerts":[{"status":"` + status +
			`","labels":{"alertname":"HotelAppDown"},"startsAt":"2031-01-01T00:00:00Z","fingerprint":"future"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	receive(future("firing"), t0)
	receive(future("resolved"), t0.Add(time.Hour))
	receive(delivery(t, "acked", "firing", "HotelAppDown/acked"), t0)
	if _, err := s.Ack(ctx, payload.IncidentID("acked", started), "api", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	receive(delivery(t, "open", "firing", "HotelAppDown/open"), t0)
	receive(delivery(t, "late", "firing", "HotelAppDown/late"), t0)
	receive(delivery(t, "late", "resolved", "HotelAppDown/late"), t0.Add(10*24*time.Hour))

	before := t0.Add(5 * 24 * time.Hour)
	all, err := s.Audit(ctx, "", 1000000)
	if err != nil {
		t.Fatal(err)
	}
	older := 0
	for _, e := range all {
		if e.Time.Before(before) {
			older++
		}
	}
	incidents, entries, err := s.PruneHistory(ctx, before)
	if err != nil || incidents != old+1 || entries != older || older <= historyChunk {
		t.Fatalf("pruned %d incidents and %d entries: %v, want %d and %d (of %d)", incidents, entries, err, old+1, older, len(all))
	}
	left, err := s.Incidents(ctx, 1000000)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, inc := range left {
		ids = append(ids, inc.ID)
	}
	sort.Strings(ids)
	want := []string{payload.IncidentID("acked", started), payload.IncidentID("late", started), payload.IncidentID("open", started)}
	sort.Strings(want)
	if strings.Join(ids, " ") != strings.Join(want, " ") {
		t.Errorf("incidents left %v, want acked, late and open %v", ids, want)
	}
	if _, err := s.Incident(ctx, payload.IncidentID("old0-0", started)); !errors.Is(err, ErrNotFound) {
		t.Errorf("a pruned incident: %v", err)
	}
	kept, err := s.Audit(ctx, "", 1000000)
	if err != nil || len(kept) != len(all)-older {
		t.Errorf("%d audit entries left, want %d: %v", len(kept), len(all)-older, err)
	}
	for _, e := range kept {
		if e.Time.Before(before) {
			t.Errorf("an old entry left: %+v", e)
		}
	}
	if incidents, entries, err := s.PruneHistory(ctx, before); err != nil || incidents+entries != 0 {
		t.Errorf("pruned again: %d %d %v", incidents, entries, err)
	}
}

// Pruning forgets old delivery hashes only; a copy arriving after that is
// a heartbeat, not a new incident.
func testPrune(t *testing.T, s Store) {
	pol := policies(t)
	t0 := time.Date(2026, 11, 28, 3, 0, 0, 0, time.UTC)
	for i := 0; i < 5; i++ {
		s.Receive(ctx, delivery(t, fmt.Sprint("old", i), "firing", fmt.Sprintf("HotelAppDown/p%d", i)), pol, t0)
	}
	s.Receive(ctx, delivery(t, "new", "firing", "HotelAppDown/q"), pol, t0.Add(time.Hour))
	if n, err := s.Prune(ctx, t0.Add(-time.Second)); err != nil || n != 0 {
		t.Fatalf("pruning nothing: %d %v", n, err)
	}
	if n, err := s.Prune(ctx, t0.Add(time.Minute)); err != nil || n != 5 {
		t.Fatalf("pruned %d: %v, want 5", n, err)
	}
	if res, _ := s.Receive(ctx, delivery(t, "new", "firing", "HotelAppDown/q"), pol, t0.Add(2*time.Hour)); !res.Duplicate {
		t.Error("a recent delivery was pruned")
	}
	res, err := s.Receive(ctx, delivery(t, "old0", "firing", "HotelAppDown/p0"), pol, t0.Add(2*time.Hour))
	if err != nil || res.Duplicate || res.Opened != 0 {
		t.Errorf("an old copy after pruning: %+v %v (want a heartbeat)", res, err)
	}
}

// postgresStore is a PostgreSQL store on a server of its own, closed
// when the test ends.
func postgresStore(t testing.TB, name string) *Postgres {
	pg := testenv.StartPrimary(t, name, testenv.PrimaryOptions{})
	pg.Exec("CREATE DATABASE escalator")
	s, err := OpenPostgres(ctx, pg.DSN("escalator"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Deliveries stored as one group see each other in order: a copy is a
// duplicate, a resolve closes the incident the group opened (no timer
// left), an alert in a second Alertmanager group is a heartbeat.
func TestPostgresGroupOfDeliveries(t *testing.T) {
	s := postgresStore(t, "escalator-group")
	pol := policies(t)
	t0 := time.Date(2026, 11, 28, 5, 0, 0, 0, time.UTC)
	first := delivery(t, "g1", "firing", "HotelAppDown/a1")
	var group []*receiveReq
	for i, d := range []*payload.Delivery{
		first,
		first, // the other Alertmanager's copy
		delivery(t, "g1", "resolved", "HotelAppDown/a1"),
		delivery(t, "g2", "firing", "HotelAppDown/a2"),
		delivery(t, "g3", "firing", "HotelAppDown/a2"), // the same alert in another group
	} {
		group = append(group, &receiveReq{d: d, pol: pol, now: t0.Add(time.Duration(i) * time.Second)})
	}
	var res []Received
	err := s.inPipeTx(ctx, func(tx *pipeTx) error {
		var err error
		res, err = receiveGroup(ctx, tx, group)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Opened != 1 || !res[1].Duplicate || res[2].Resolved != 1 || res[2].Resolutions[0].Duration != 2*time.Second ||
		res[3].Opened != 1 || res[4].Opened != 0 || res[4].Duplicate {
		t.Fatalf("results %+v", res)
	}
	a1 := payload.IncidentID("a1", time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC))
	if inc, err := s.Incident(ctx, a1); err != nil || inc.Status != Resolved || !inc.NextDue.IsZero() {
		t.Fatalf("a1 after its resolve in the same group: %+v %v", inc, err)
	}
	if n, _ := s.Pending(ctx); n != 1 {
		t.Errorf("%d timers pending, want 1 (a2's)", n)
	}
	// Through Receive, a later group: the resolve of a2 closes it.
	if res, err := s.Receive(ctx, delivery(t, "g2", "resolved", "HotelAppDown/a2"), pol, t0.Add(time.Minute)); err != nil || res.Resolved != 1 {
		t.Fatalf("resolve of a2: %+v %v", res, err)
	}
	if n, _ := s.Pending(ctx); n != 0 {
		t.Errorf("%d timers pending after both resolved", n)
	}
	audit, _ := s.Audit(ctx, a1, 10)
	var actions []string
	for _, e := range audit {
		actions = append(actions, e.Action)
	}
	if strings.Join(actions, " ") != "resolved opened" {
		t.Errorf("a1's audit, newest first: %v", actions)
	}
}

// A delivery the server refuses fails alone: the others of its group
// are stored. The parser replaces a NUL, which PostgreSQL refuses; a
// delivery made here keeps one, as something the server refuses.
func TestPostgresGroupFailsAlone(t *testing.T) {
	s := postgresStore(t, "escalator-group-fail")
	pol := policies(t)
	bad := delivery(t, "bad", "firing", "HotelAppDown/b1")
	bad.Alerts[0].Labels["note"] = "nul \x00 here"
	group := []*receiveReq{
		{d: delivery(t, "ok1", "firing", "HotelAppDown/o1"), pol: pol, now: time.Now(), done: make(chan receiveResult, 1)},
		{d: bad, pol: pol, now: time.Now(), done: make(chan receiveResult, 1)},
		{d: delivery(t, "ok2", "firing", "HotelAppDown/o2"), pol: pol, now: time.Now(), done: make(chan receiveResult, 1)},
	}
	s.storeGroup(ctx, group)
	for i, r := range group {
		out := <-r.done
		if failed := out.err != nil; failed != (i == 1) {
			t.Errorf("delivery %d: %+v %v", i, out.res, out.err)
		}
		// Stored alone after the group rolled back: not a duplicate of
		// the group's hashes, which must not have been committed.
		if i != 1 && (out.res.Opened != 1 || out.res.Duplicate) {
			t.Errorf("delivery %d stored alone: %+v, want its incident opened", i, out.res)
		}
	}
	if n, _ := s.Pending(ctx); n != 2 {
		t.Errorf("%d timers pending, want the two good deliveries'", n)
	}
	// The same label through the parser is stored.
	parsed, err := payload.Parse(strings.NewReader(`{"version":"4","groupKey":"nul","alerts":[{"status":"firing",
		"labels":{"alertname":"HotelAppDown","note":"nul \u0000 here"},"startsAt":"2026-11-28T00:00:00Z","fingerprint":"b2"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if res, err := s.Receive(ctx, parsed, pol, time.Now()); err != nil || res.Opened != 1 {
		t.Errorf("a parsed delivery that had a NUL: %+v %v", res, err)
	}
}

// An acknowledgement that comes while a step is being taken waits for
// the step's commit, and acknowledges on the channels that step notified:
// read before it, PagerDuty would keep an incident the ack never reached.
func TestPostgresAckWaitsForAStep(t *testing.T) {
	s := postgresStore(t, "escalator-ack-step")
	pol := policies(t)
	t0 := time.Now()
	if _, err := s.Receive(ctx, delivery(t, "g", "firing", "HotelAppDown/w1"), pol, t0); err != nil {
		t.Fatal(err)
	}
	id := payload.IncidentID("w1", time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC))
	// A step in progress, as FireDue takes it: the incident's state locked
	// and its state written, not yet committed.
	step, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer step.Rollback(ctx)
	if _, err := step.Exec(ctx, `SELECT 1 FROM escalator_state WHERE incident = $1 FOR UPDATE SKIP LOCKED`, id); err != nil {
		t.Fatal(err)
	}
	if _, err := step.Exec(ctx, `UPDATE escalator_state SET next_step = 1, due = $2, notified = '["pagerduty","slack"]'
		WHERE incident = $1`, id, t0.Add(15*time.Minute)); err != nil {
		t.Fatal(err)
	}
	acked := make(chan error, 1)
	go func() {
		_, err := s.Ack(ctx, id, "api", t0.Add(time.Minute))
		acked <- err
	}()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var waiting int
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND datname = current_database()`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the ack did not wait for the step's lock")
		}
	}
	if err := step.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-acked; err != nil {
		t.Fatal(err)
	}
	sent, err := s.Claim(ctx, "", t0.Add(2*time.Minute), time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	got := events(sent)
	sort.Strings(got)
	if strings.Join(got, " ") != "pagerduty:acknowledge slack:acknowledge" {
		t.Errorf("notifications after the ack: %v, want an acknowledge on each channel the step notified", got)
	}
	if inc, err := s.Incident(ctx, id); err != nil || inc.Status != Acknowledged || !inc.NextDue.IsZero() {
		t.Errorf("after the ack: %+v %v", inc, err)
	}
}

// A batch of steps is written by index lookups even on a table new and
// small (where a plan made for the moment would scan it), and for
// thousands of steps (where a plan made for the arrays would hash the
// whole table).
func TestPostgresStepPlan(t *testing.T) {
	s := postgresStore(t, "escalator-step-plan")
	ids := make([]string, 5000)
	for i := range ids {
		ids[i] = fmt.Sprint("i", i)
	}
	list := make([]*Incident, len(ids))
	for i, id := range ids {
		list[i] = &Incident{ID: id, Status: Open}
	}
	a := statesOf(list)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, batchPlanSQL); err != nil {
			return err
		}
		plan, err := explain(tx, "EXPLAIN (COSTS OFF) "+changedSQL, a.changedArgs()...)
		if err != nil {
			return err
		}
		if !strings.Contains(plan, "Index Scan using escalator_state_pkey") || strings.Contains(plan, "Seq Scan on escalator_state") {
			t.Errorf("steps written without index lookups:\n%s", plan)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A delivery's incidents are locked by index lookups however far the
// states outgrew the statistics: in a storm the table grows faster than
// autovacuum analyzes it, and planned for what the statistics say, the
// lock of a batch's few hundred IDs scanned the whole table (15 ms among
// 80,000 states, where the lookups take 0.7).
func TestPostgresLockPlanOutgrowsStatistics(t *testing.T) {
	s := postgresStore(t, "escalator-lock-plan")
	if _, err := s.pool.Exec(ctx, "ALTER TABLE escalator_state SET (autovacuum_enabled = false)"); err != nil {
		t.Fatal(err)
	}
	fill := func(from, to int) {
		t.Helper()
		for _, q := range []string{
			`INSERT INTO escalator_incidents (id, opened_at, data) SELECT 'i' || g, now(), '{}' FROM generate_series($1::int, $2::int) g`,
			`INSERT INTO escalator_state (incident, status, severity, policy, opened_at, last_seen, next_step, notified)
				SELECT 'i' || g, 'open', 'critical', '', now(), now(), 0, '[]' FROM generate_series($1::int, $2::int) g`,
		} {
			if _, err := s.pool.Exec(ctx, q, from, to); err != nil {
				t.Fatal(err)
			}
		}
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	// lock locks ids as a delivery does and says how many scans of the
	// whole table that took.
	lock := func(ids []string) (known, seqScans int) {
		t.Helper()
		// The counts of this backend not yet reported, before and after.
		const scansSQL = `SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relname = 'escalator_state'`
		var b pgx.Batch
		b.Queue(scansSQL)
		queueLocks(&b, ids)
		b.Queue(scansSQL)
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			br := tx.SendBatch(ctx, &b)
			defer br.Close()
			var before int
			if err := br.QueryRow().Scan(&before); err != nil {
				return err
			}
			got, err := readLocks(br)
			if err != nil {
				return err
			}
			known = len(got)
			if err := br.QueryRow().Scan(&seqScans); err != nil {
				return err
			}
			seqScans -= before
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return known, seqScans
	}
	ids := func(n, stride int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprint("i", 1+i*stride)
		}
		return out
	}
	fill(1, 30000) // and not analyzed since the table was made
	known, scans := lock(ids(300, 100))
	if known != 300 {
		t.Errorf("locked %d incidents, want 300", known)
	}
	if scans != 0 {
		t.Errorf("300 incidents among 30,000 locked with %d scans of the whole table", scans)
	}
}

// explain runs an EXPLAIN statement and returns the plan.
func explain(tx pgx.Tx, query string, args ...any) (string, error) {
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return "", err
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return strings.Join(lines, "\n"), err
}

// A claim finds the older notifications of its incidents by the queue's
// index however far the outbox outgrew its statistics: planned for the
// queue they saw, it hashed the channel's whole queue (8 ms for 9,000
// rows here), or compared every queued row with every other (3.4 s).
func TestPostgresClaimPlanOutgrowsStatistics(t *testing.T) {
	s := postgresStore(t, "escalator-claim-plan")
	for _, q := range []string{
		"ALTER TABLE escalator_outbox SET (autovacuum_enabled = false)",
		`INSERT INTO escalator_outbox (key, incident, step, channel, event, next_try, created)
			SELECT 'k' || g, 'i' || g / 3, 0, (ARRAY['slack', 'pagerduty', 'webhook'])[1 + g % 3], 'trigger', now() - interval '1s', now()
			FROM generate_series(1, 9000) g`,
	} {
		if _, err := s.pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, claimPlanSQL); err != nil {
			return err
		}
		// Prepared and executed as pgx does, so that the plan is the one
		// a claim runs (EXPLAIN of the statement itself would plan it for
		// its values).
		if _, err := tx.Exec(ctx, "PREPARE claim_plan_test AS "+claimSQL); err != nil {
			return err
		}
		plan, err := explain(tx, `EXPLAIN (ANALYZE, TIMING OFF, COSTS OFF)
			EXECUTE claim_plan_test(now(), now() + interval '1 minute', 100, 'slack')`)
		if err != nil {
			return err
		}
		if !strings.Contains(plan, "escalator_outbox_queue") || strings.Contains(plan, "Rows Removed by Join Filter") {
			t.Errorf("older notifications found without the queue's index:\n%s", plan)
		}
		return errors.New("rolled back") // EXPLAIN ANALYZE claimed them
	})
	if err == nil || err.Error() != "rolled back" {
		t.Fatal(err)
	}
}

// sessionOf runs statements in order on one connection of the store's
// pool (prepared statements and session settings stay with it), and gives
// it for more.
func sessionOf(t *testing.T, s *Postgres, statements ...string) *pgxpool.Conn {
	t.Helper()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Release)
	for _, q := range statements {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return conn
}

// A connection keeps the plan of its first claim (a generic plan), made
// while the outbox was empty; thousands of notifications later a claim
// must still choose its rows once. Planned as "WHERE seq IN (subquery)",
// it ran the choice again for each of the outbox's rows: 3 s for 4,000.
func TestPostgresClaimPlanMadeWhenEmpty(t *testing.T) {
	conn := sessionOf(t, postgresStore(t, "escalator-claim-empty-plan"),
		"VACUUM ANALYZE escalator_outbox",
		// For the session, as a claim's transaction sets them for itself.
		strings.ReplaceAll(claimPlanSQL, "true)", "false)"),
		"PREPARE claim_empty_test AS "+claimSQL,
		"EXECUTE claim_empty_test(now(), now() + interval '1 minute', 100, 'slack')", // the plan, made now
		// Leased (claimed by senders, next_try ahead) but for a few due.
		`INSERT INTO escalator_outbox (key, incident, step, channel, event, next_try, created)
			SELECT 'k' || g, 'i' || g, 0, (ARRAY['slack', 'pagerduty', 'webhook'])[1 + g % 3], 'trigger',
				now() + CASE WHEN g % 1000 = 0 THEN interval '-1s' ELSE interval '1 minute' END, now()
			FROM generate_series(1, 4000) g`,
	)
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		plan, err := explain(tx, `EXPLAIN (ANALYZE, TIMING OFF, COSTS OFF)
			EXECUTE claim_empty_test(now(), now() + interval '1 minute', 100, 'slack')`)
		if err != nil {
			return err
		}
		if !strings.Contains(plan, "Update on escalator_outbox (actual rows=1 loops=1)") {
			t.Errorf("the claim did not take the one due notification to slack:\n%s", plan)
		}
		if !strings.Contains(plan, "escalator_outbox_queue on escalator_outbox p") {
			t.Errorf("older notifications of a candidate found without the queue's index:\n%s", plan)
		}
		if strings.Contains(plan, "Bitmap") {
			t.Errorf("a bitmap scan, which visits the rows of sent notifications at every claim:\n%s", plan)
		}
		for _, m := range regexp.MustCompile(`loops=(\d+)`).FindAllStringSubmatch(plan, -1) {
			if n, _ := strconv.Atoi(m[1]); n > 10 {
				t.Errorf("a step of the claim ran %d times among 4,000 notifications:\n%s", n, plan)
				break
			}
		}
		return errors.New("rolled back") // EXPLAIN ANALYZE claimed it
	})
	if err == nil || err.Error() != "rolled back" {
		t.Fatal(err)
	}
}

// Between two passes of autovacuum the outbox's indexes keep an entry for
// every notification sent since. With the plan a connection made early in
// a storm (a few hundred queued), a claim must not visit those rows again
// at every claim, as a bitmap scan of next_try did (53,660 rows, 5 ms a
// claim): the first claim after they are gone marks them dead in the
// index, and the next reads a few pages.
func TestPostgresClaimSkipsSentNotifications(t *testing.T) {
	conn := sessionOf(t, postgresStore(t, "escalator-claim-sent"),
		"ALTER TABLE escalator_outbox SET (autovacuum_enabled = false)",
		`INSERT INTO escalator_outbox (key, incident, step, channel, event, next_try, created)
			SELECT 'a' || g, 'h' || g, 0, (ARRAY['slack', 'pagerduty', 'webhook'])[1 + g % 3], 'trigger', now() + interval '1 minute', now()
			FROM generate_series(1, 330) g`,
		"ANALYZE escalator_outbox",
		strings.ReplaceAll(claimPlanSQL, "true)", "false)"), // for the session, as a claim's transaction sets them
		"PREPARE claim_sent_test AS "+claimSQL,
		"EXECUTE claim_sent_test(now(), now() + interval '1 minute', 100, 'slack')", // the plan, made now
		`INSERT INTO escalator_outbox (key, incident, step, channel, event, next_try, created)
			SELECT 'k' || g, 'i' || g, 0, (ARRAY['slack', 'pagerduty', 'webhook'])[1 + g % 3], 'trigger', now() - interval '1s', now()
			FROM generate_series(1, 20000) g`,
		"DELETE FROM escalator_outbox WHERE key LIKE 'k%'", // sent and settled
		`INSERT INTO escalator_outbox (key, incident, step, channel, event, next_try, created)
			SELECT 'n' || g, 'j' || g, 0, 'slack', 'trigger', now() - interval '1s', now() FROM generate_series(1, 5) g`,
	)
	claim := func() string {
		t.Helper()
		var plan string
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			var err error
			plan, err = explain(tx, `EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, COSTS OFF)
				EXECUTE claim_sent_test(now(), now() + interval '1 minute', 100, 'slack')`)
			if err != nil {
				return err
			}
			return errors.New("rolled back") // EXPLAIN ANALYZE claimed them
		})
		if err == nil || err.Error() != "rolled back" {
			t.Fatal(err)
		}
		return plan
	}
	claim()
	plan := claim()
	t.Logf("the second claim:\n%s", plan)
	if !strings.Contains(plan, "Update on escalator_outbox (actual rows=5 loops=1)") {
		t.Errorf("the claim did not take the 5 due notifications")
	}
	if strings.Contains(plan, "Bitmap") {
		t.Errorf("a bitmap scan, which visits the rows of sent notifications at every claim")
	}
	m := regexp.MustCompile(`Buffers: shared hit=(\d+)`).FindStringSubmatch(plan)
	if m == nil {
		t.Fatal("no buffer count in the plan")
	}
	if hit, _ := strconv.Atoi(m[1]); hit > 200 {
		t.Errorf("the claim read %d buffers for 5 notifications beside 20,000 sent", hit)
	}
}

// Pruning never waits for an incident's state another transaction holds
// (a delivery, a step or an ack): it leaves that incident for the next
// pass and prunes the rest.
func TestPostgresPruneSkipsHeldEscalation(t *testing.T) {
	s := postgresStore(t, "escalator-prune-held")
	pol := policies(t)
	t0 := time.Date(2026, 11, 28, 1, 0, 0, 0, time.UTC)
	started := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	for _, fp := range []string{"held", "free"} {
		for _, status := range []string{"firing", "resolved"} {
			if _, err := s.Receive(ctx, delivery(t, fp, status, "HotelAppDown/"+fp), pol, t0); err != nil {
				t.Fatal(err)
			}
		}
	}
	held := payload.IncidentID("held", started)
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, lockStatesSQL, []string{held}); err != nil {
		t.Fatal(err)
	}
	wait, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	incidents, _, err := s.PruneHistory(wait, t0.Add(24*time.Hour))
	if err != nil || incidents != 1 {
		t.Fatalf("pruned %d incidents: %v, want the one nobody held", incidents, err)
	}
	if _, err := s.Incident(ctx, held); err != nil {
		t.Errorf("the held incident: %v", err)
	}
	tx.Rollback(ctx)
	if incidents, _, err := s.PruneHistory(ctx, t0.Add(24*time.Hour)); err != nil || incidents != 1 {
		t.Errorf("next pass pruned %d: %v, want the one held before", incidents, err)
	}
}

// UnsettledAfter pages, in ID order, through every incident the reconciler
// has work on (open, acknowledged, resolved with a live silence) and no
// other.
func testUnsettled(t *testing.T, s Store) {
	pol := policies(t)
	t0 := time.Date(2026, 11, 28, 1, 0, 0, 0, time.UTC)
	started := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC) // delivery()'s startsAt
	want := map[string]bool{}
	for g := 0; g < 50; g++ {
		var alerts []string
		for i := 0; i < 10; i++ {
			alerts = append(alerts, fmt.Sprintf("HotelAppDown/u%d-%d", g, i))
		}
		if _, err := s.Receive(ctx, delivery(t, fmt.Sprint("u", g), "firing", alerts...), pol, t0); err != nil {
			t.Fatal(err)
		}
		for i := range alerts {
			id := payload.IncidentID(fmt.Sprintf("u%d-%d", g, i), started)
			switch i % 5 {
			case 0: // open
				want[id] = true
			case 1: // acknowledged
				if _, err := s.Ack(ctx, id, "api", t0); err != nil {
					t.Fatal(err)
				}
				want[id] = true
			case 2: // resolved with its silence still to expire
				if err := s.SetSilence(ctx, id, "s-"+id, t0); err != nil {
					t.Fatal(err)
				}
				want[id] = true
			case 3: // resolved, its silence expired
				if err := s.SetSilence(ctx, id, SilenceExpired, t0); err != nil {
					t.Fatal(err)
				}
			}
		}
		var resolved []string
		for i, a := range alerts {
			if i%5 >= 2 {
				resolved = append(resolved, a)
			}
		}
		if _, err := s.Receive(ctx, delivery(t, fmt.Sprint("u", g), "resolved", resolved...), pol, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	last, pages := "", 0
	for {
		list, err := s.UnsettledAfter(ctx, last, 70)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, inc := range list {
			if inc.ID <= last {
				t.Fatalf("%s listed after %s", inc.ID, last)
			}
			if !want[inc.ID] {
				t.Errorf("%s (%s, silence %q) listed", inc.ID, inc.Status, inc.SilenceID)
			}
			seen[inc.ID], last = true, inc.ID
		}
		if len(list) < 70 {
			break
		}
	}
	if len(seen) != len(want) || len(want) != 300 {
		t.Errorf("%d of %d unsettled incidents listed", len(seen), len(want))
	}
	if pages != 5 {
		t.Errorf("%d pages of 70 for 300 incidents", pages)
	}
}

// Alertmanager passes on whatever bytes a label held; an alert whose
// labels are not valid UTF-8 is an incident all the same (the bytes read
// as U+FFFD), stored, stepped and read back after a restart.
func testInvalidUTF8(t *testing.T, s Store, reopen func() Store) {
	pol := policies(t)
	t0 := time.Date(2026, 11, 28, 6, 0, 0, 0, time.UTC)
	body := `{"version":"4","groupKey":"g","alerts":[{"status":"firing","labels":{"alertname":"HotelAppDown","severity":"critical","host":"db\xff1"},` +
		`"annotations":{"summary":"\xc3 down"},"startsAt":"2026-11-28T00:00:00Z","fingerprint":"bad"}]}`
	d, err := payload.Parse(strings.NewReader(strings.NewReplacer(`\xff`, "\xff", `\xc3`, "\xc3").Replace(body)))
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Receive(ctx, d, pol, t0)
	if err != nil || res.Opened != 1 {
		t.Fatalf("receive: %+v %v", res, err)
	}
	s = reopen()
	id := payload.IncidentID("bad", time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC))
	inc, err := s.Incident(ctx, id)
	if err != nil || inc.Labels["host"] != "db\uFFFD1" || inc.Annotations["summary"] != "\uFFFD down" {
		t.Fatalf("incident read back: %+v %v", inc, err)
	}
}
