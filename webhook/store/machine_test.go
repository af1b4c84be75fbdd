package store

import (
	"strings"
	"testing"
	"time"

	"github.com/hotel-ops/hotel-ops/webhook/payload"
)

// The state machine alone, scenario by scenario: each a sequence of
// events on one alert's incident, in the order they arrive, and what
// must follow. The conformance suite (store_test.go) runs the orders
// that matter on both stores.
func TestMachine(t *testing.T) {
	pol := policies(t)
	t0 := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	alert := func(status string) payload.Alert {
		return payload.Alert{Status: status, Fingerprint: "m1", StartsAt: t0,
			Labels: map[string]string{"alertname": "HotelAppDown", "severity": "critical"}}
	}
	firing := func(at time.Duration) Event { return Event{Kind: AlertFiring, Now: t0.Add(at), Alert: alert("firing")} }
	resolved := func(at time.Duration) Event {
		return Event{Kind: AlertResolved, Now: t0.Add(at), Alert: alert("resolved")}
	}
	reconciled := func(at time.Duration) Event { e := resolved(at); e.Reconciler = true; return e }
	step := func(n int, due, at time.Duration) Event {
		return Event{Kind: StepDue, Now: t0.Add(at), Step: n, Due: t0.Add(due)}
	}
	ack := func(at time.Duration) Event { return Event{Kind: Acknowledge, Now: t0.Add(at), By: "alice"} }
	byHand := func(at time.Duration) Event { return Event{Kind: CloseByHand, Now: t0.Add(at), By: "pagerduty:bob"} }

	for _, c := range []struct {
		name   string
		events []Event
		status string   // at the end; "" for no incident
		sent   []string // every notification queued, channel:event
		due    bool     // a step pending at the end
	}{
		{"a critical alert pages at once and escalates to the manager after 15 minutes",
			[]Event{firing(0), step(0, 0, 0), step(1, 15*time.Minute, 15*time.Minute)},
			Open, []string{"pagerduty:trigger", "slack:trigger", "manager:trigger"}, false},
		{"resolved before the manager's step: the channels paged hear the resolve, the manager nothing",
			[]Event{firing(0), step(0, 0, 0), resolved(5 * time.Minute), step(1, 15*time.Minute, 15*time.Minute)},
			Resolved, []string{"pagerduty:trigger", "slack:trigger", "pagerduty:resolve", "slack:resolve"}, false},
		{"acknowledged: no further step, the channels paged hear it",
			[]Event{firing(0), step(0, 0, 0), ack(time.Minute), step(1, 15*time.Minute, 15*time.Minute)},
			Acknowledged, []string{"pagerduty:trigger", "slack:trigger", "pagerduty:acknowledge", "slack:acknowledge"}, false},
		{"one peer's resolve arrives before the other's firing: nothing opens, nobody is paged",
			[]Event{resolved(0), firing(time.Second), resolved(2 * time.Second)},
			Resolved, nil, false},
		{"a firing repeated at every group_interval is a heartbeat",
			[]Event{firing(0), firing(5 * time.Minute), firing(10 * time.Minute)},
			Open, nil, true},
		{"a firing after Alertmanager's resolve is a late copy: it stays resolved",
			[]Event{firing(0), step(0, 0, 0), resolved(time.Minute), firing(2 * time.Minute)},
			Resolved, []string{"pagerduty:trigger", "slack:trigger", "pagerduty:resolve", "slack:resolve"}, false},
		{"closed by the reconciler and firing again: reopened, the channels hear it fires, escalation goes on",
			[]Event{firing(0), step(0, 0, 0), reconciled(5 * time.Minute), firing(6 * time.Minute)},
			Open, []string{"pagerduty:trigger", "slack:trigger", "pagerduty:resolve", "slack:resolve", "pagerduty:trigger", "slack:trigger"}, true},
		{"acknowledged, closed by the reconciler, firing again: back acknowledged, quietly",
			[]Event{firing(0), step(0, 0, 0), ack(time.Minute), reconciled(5 * time.Minute), firing(6 * time.Minute)},
			Acknowledged, []string{"pagerduty:trigger", "slack:trigger", "pagerduty:acknowledge", "slack:acknowledge", "pagerduty:resolve", "slack:resolve"}, false},
		{"resolved by hand in PagerDuty while the alert still fires: it stays resolved",
			[]Event{firing(0), step(0, 0, 0), byHand(time.Minute), firing(5 * time.Minute), step(1, 15*time.Minute, 15*time.Minute)},
			Resolved, []string{"pagerduty:trigger", "slack:trigger", "pagerduty:resolve", "slack:resolve"}, false},
		{"a step timer for a step already taken is stale",
			[]Event{firing(0), step(0, 0, 0), step(0, 0, time.Second)},
			Open, []string{"pagerduty:trigger", "slack:trigger"}, true},
		{"acknowledging twice and a resolved incident change nothing",
			[]Event{firing(0), step(0, 0, 0), resolved(time.Minute), ack(2 * time.Minute), byHand(3 * time.Minute)},
			Resolved, []string{"pagerduty:trigger", "slack:trigger", "pagerduty:resolve", "slack:resolve"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var inc *Incident
			var sent []string
			for _, ev := range c.events {
				before := clone(inc)
				e := Apply(inc, ev, pol)
				if !equalIncidents(before, inc) {
					t.Fatalf("Apply changed the incident it was given")
				}
				for _, n := range e.Notify {
					sent = append(sent, n.Channel+":"+n.Event)
				}
				if !e.Changed && len(e.Notify)+len(e.Audit) > 0 {
					t.Errorf("event %d: effects with nothing written: %+v", ev.Kind, e)
				}
				inc = e.Incident
			}
			status := ""
			if inc != nil {
				status = inc.Status
			}
			if status != c.status {
				t.Errorf("status %q, want %q", status, c.status)
			}
			if strings.Join(sent, " ") != strings.Join(c.sent, " ") {
				t.Errorf("notifications %v\n want %v", sent, c.sent)
			}
			if inc != nil && inc.NextDue.IsZero() == c.due {
				t.Errorf("step pending: %v, want %v", !inc.NextDue.IsZero(), c.due)
			}
		})
	}
}

// Keys of the notifications make sends idempotent: a step's trigger to a
// channel has one key however often it is decided.
func TestMachineKeys(t *testing.T) {
	pol := policies(t)
	t0 := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	a := payload.Alert{Status: "firing", Fingerprint: "k1", StartsAt: t0, Labels: map[string]string{"alertname": "HotelAppDown", "severity": "critical"}}
	opened := Apply(nil, Event{Kind: AlertFiring, Now: t0, Alert: a, Truncated: 7}, pol)
	if opened.Incident.Truncated != 7 || !opened.Timer.Changed || !opened.Timer.New.Equal(t0) {
		t.Fatalf("opened: %+v", opened)
	}
	first := Apply(opened.Incident, Event{Kind: StepDue, Now: t0, Step: 0, Due: t0}, pol)
	again := Apply(opened.Incident, Event{Kind: StepDue, Now: t0.Add(time.Minute), Step: 0, Due: t0}, pol)
	for i := range first.Notify {
		if first.Notify[i].Key != again.Notify[i].Key {
			t.Errorf("keys differ: %s, %s", first.Notify[i].Key, again.Notify[i].Key)
		}
	}
	if first.Fired == nil || first.Fired.Step != 0 || !first.Timer.New.Equal(t0.Add(15*time.Minute)) || first.Timer.Step != 1 {
		t.Errorf("step 0: %+v", first)
	}
}

func clone(inc *Incident) *Incident {
	if inc == nil {
		return nil
	}
	c := *inc
	c.Notified = append([]string(nil), inc.Notified...)
	return &c
}

func equalIncidents(a, b *Incident) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Status == b.Status && a.NextStep == b.NextStep && a.NextDue.Equal(b.NextDue) &&
		strings.Join(a.Notified, ",") == strings.Join(b.Notified, ",") && a.LastSeen.Equal(b.LastSeen) && a.ClosedBy == b.ClosedBy
}

// A storm's re-sends (each group every group_interval, from each peer)
// write an incident's state at most once a minute: LastSeen moves only
// when the recorded one is a minute old, and no other heartbeat writes.
func TestMachineHeartbeatsWriteOnceAMinute(t *testing.T) {
	pol := policies(t)
	t0 := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	a := payload.Alert{Status: "firing", Fingerprint: "h1", StartsAt: t0,
		Labels: map[string]string{"alertname": "HotelAppDown", "severity": "critical"}}
	inc := Apply(nil, Event{Kind: AlertFiring, Now: t0, Alert: a}, pol).Incident
	writes := 0
	for at := 10 * time.Second; at <= 3*time.Minute; at += 10 * time.Second {
		e := Apply(inc, Event{Kind: AlertFiring, Now: t0.Add(at), Alert: a}, pol)
		if e.Result != Heartbeat {
			t.Fatalf("at %v: result %d, want a heartbeat", at, e.Result)
		}
		if e.Changed {
			writes++
			if !e.Incident.LastSeen.Equal(t0.Add(at)) {
				t.Errorf("at %v: written with LastSeen %v", at, e.Incident.LastSeen)
			}
		} else if !e.Incident.LastSeen.Equal(inc.LastSeen) {
			t.Errorf("at %v: LastSeen moved to %v without a write", at, e.Incident.LastSeen)
		}
		if got := t0.Add(at).Sub(e.Incident.LastSeen); got >= LastSeenEvery {
			t.Errorf("at %v: LastSeen %v behind", at, got)
		}
		inc = e.Incident
	}
	if writes != 3 {
		t.Errorf("%d writes in 18 heartbeats over 3 minutes, want 3 (one a minute)", writes)
	}
}
