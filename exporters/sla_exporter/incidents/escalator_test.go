package incidents

import (
	"context"
	"errors"
	"maps"
	"math"
	"testing"
	"time"

	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/period"
)

// window is when escalator stamped something: between the client's clock
// just before the request and just after the answer (one machine, one
// clock).
type window struct{ from, to time.Time }

func (w window) has(t time.Time) bool { return !t.Before(w.from) && !t.After(w.to) }

// Four incidents posted to a real escalator as Alertmanager would: one
// acknowledged by a person and resolved, one an action fixed (resolved,
// never acknowledged), one left open, one resolved with no ack and no
// action. The Client reads them back and Compute's figures are those of
// what was posted; MTTR lies between the shortest and longest repair the
// request times allow.
func TestFiguresFromRealEscalator(t *testing.T) {
	e := startEscalator(t)
	tokyo := mustTokyo(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := &Client{URL: e.URL, Token: testToken}
	start := time.Now()
	starts := start.Add(-time.Minute).UTC().Truncate(time.Second)

	acked := alert{"PostgresDown", "critical", "database", "primary down", starts}
	fixed := alert{"CacheSlow", "warning", "latency", "cache slow", starts}
	open := alert{"DiskFull", "critical", "resource", "disk full", starts}
	plain := alert{"HighErrorRate", "warning", "errors", "errors up", starts}
	opened := map[string]window{}
	for _, a := range []alert{acked, fixed, open, plain} {
		b, af := e.deliver(t, a, "firing")
		opened[a.name] = window{b, af}
	}

	// The person acknowledges the database incident.
	id := waitIncident(t, ctx, client, acked.name, func(Incident) bool { return true }).ID
	ackFrom := time.Now()
	e.post(t, "/api/v1/incidents/"+id+"/ack", "")
	ackWindow := window{ackFrom, time.Now()}

	// The action runs for the cache incident; once escalator records that
	// it succeeded, the alert resolves.
	waitIncident(t, ctx, client, fixed.name, func(inc Incident) bool { return inc.Automated })
	time.Sleep(200 * time.Millisecond) // every repair takes a measurable time
	resolved := map[string]window{}
	for _, a := range []alert{acked, fixed, plain} {
		b, af := e.deliver(t, a, "resolved")
		resolved[a.name] = window{b, af}
	}

	list, err := client.Incidents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	p, err := period.Containing("month", now, tokyo)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Contains(start) {
		t.Skipf("a Tokyo month began during the test (%s): the incidents straddle two periods", p.Name)
	}
	if len(list) != 4 {
		t.Fatalf("escalator lists %d incidents, want 4: %+v", len(list), list)
	}
	byName := map[string]Incident{}
	for _, inc := range list {
		byName[inc.Alertname] = inc
	}

	// What the decoder read is what escalator was told and did.
	for _, a := range []alert{acked, fixed, open, plain} {
		inc := byName[a.name]
		if inc.ID == "" || inc.Severity != a.severity || inc.Category != a.category || inc.Summary != a.summary {
			t.Errorf("%s read as %+v, want severity %s, category %s, summary %q", a.name, inc, a.severity, a.category, a.summary)
		}
		if !opened[a.name].has(inc.OpenedAt) {
			t.Errorf("%s opened at %s, not while its firing was posted (%s to %s)", a.name, inc.OpenedAt, opened[a.name].from, opened[a.name].to)
		}
	}
	if inc := byName[acked.name]; inc.Status != "resolved" || inc.AckedBy != "api" || !ackWindow.has(inc.AckedAt) || inc.Automated {
		t.Errorf("acknowledged incident read as %+v, want resolved, acked by api during the ack request, not automated", inc)
	}
	if inc := byName[fixed.name]; inc.Status != "resolved" || !inc.AckedAt.IsZero() || inc.AckedBy != "" || !inc.Automated {
		t.Errorf("fixed incident read as %+v, want resolved, automated, never acknowledged", inc)
	}
	if inc := byName[open.name]; inc.Status != "open" || !inc.ResolvedAt.IsZero() {
		t.Errorf("open incident read as %+v, want open with no resolution time", inc)
	}
	for name, w := range resolved {
		if !w.has(byName[name].ResolvedAt) {
			t.Errorf("%s resolved at %s, not while its resolve was posted (%s to %s)", name, byName[name].ResolvedAt, w.from, w.to)
		}
	}

	f := Compute(list, p, now)
	if f.Count != 4 || f.Resolved != 3 || f.Automated != 1 || f.Critical != 2 {
		t.Errorf("count %d, resolved %d, automated %d, critical %d; want 4, 3, 1, 2", f.Count, f.Resolved, f.Automated, f.Critical)
	}
	wantSev := map[string]int{"critical": 2, "warning": 2}
	wantCat := map[string]int{"database": 1, "latency": 1, "resource": 1, "errors": 1}
	if !maps.Equal(f.BySeverity, wantSev) || !maps.Equal(f.ByCategory, wantCat) {
		t.Errorf("by severity %v, by category %v; want %v, %v", f.BySeverity, f.ByCategory, wantSev, wantCat)
	}
	if math.Abs(f.AutomationRate-1.0/3) > 1e-12 {
		t.Errorf("automation rate %v, want 1/3", f.AutomationRate)
	}
	if want := p.Elapsed(now) / 2; f.MTBF != want {
		t.Errorf("MTBF %s, want the elapsed %s over 2 critical incidents = %s", f.MTBF, p.Elapsed(now), want)
	}
	var shortest, longest time.Duration
	for name, r := range resolved {
		shortest += r.from.Sub(opened[name].to)
		longest += r.to.Sub(opened[name].from)
	}
	if lo, hi := shortest/3, longest/3; f.MTTR < lo || f.MTTR > hi {
		t.Errorf("MTTR %s, want between %s and %s", f.MTTR, lo, hi)
	}
	if len(f.Incidents) != 4 {
		t.Fatalf("%d incidents in the figures, want 4", len(f.Incidents))
	}
	for i := 1; i < len(f.Incidents); i++ {
		if f.Incidents[i].OpenedAt.Before(f.Incidents[i-1].OpenedAt) {
			t.Errorf("incidents not oldest first: %s before %s", f.Incidents[i-1].OpenedAt, f.Incidents[i].OpenedAt)
		}
	}
	if prev := Compute(list, p.Previous(), now); prev.Count != 0 || prev.Critical != 0 {
		t.Errorf("the previous month has %d incidents, want none: %+v", prev.Count, prev)
	}
	t.Logf("MTTR %s, MTBF %s, automation %.3f; whole test %s", f.MTTR, f.MTBF, f.AutomationRate, time.Since(start).Round(time.Millisecond))
}

// A wrong token is ErrUnauthorized, and the error does not carry it.
func TestRealEscalatorRefusesWrongToken(t *testing.T) {
	e := startEscalator(t)
	_, err := (&Client{URL: e.URL, Token: "not-the-token"}).Incidents(context.Background())
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("wrong token: %v, want ErrUnauthorized", err)
	}
	if list, err := (&Client{URL: e.URL + "/", Token: testToken}).Incidents(context.Background()); err != nil || len(list) != 0 {
		t.Fatalf("an empty escalator (base URL with a trailing slash): %v, %v; want no incidents and no error", list, err)
	}
}

// waitIncident polls escalator until the incident of the alert satisfies
// ok: escalator acts on a delivery in the background.
func waitIncident(t *testing.T, ctx context.Context, c *Client, alertname string, ok func(Incident) bool) Incident {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		list, err := c.Incidents(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, inc := range list {
			if inc.Alertname == alertname && ok(inc) {
				return inc
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no incident of %s as wanted within 20s: %+v", alertname, list)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func mustTokyo(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatalf("Asia/Tokyo: %v (install tzdata)", err)
	}
	return loc
}
