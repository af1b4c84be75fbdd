package store

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hotel-ops/hotel-ops/webhook/payload"
	"github.com/hotel-ops/hotel-ops/webhook/policy"
)

// The incident state machine. Every decision about an incident is made
// here, once, whichever store keeps the state: Apply takes the incident
// as stored (nil when there is none) and one event, and returns what the
// event changes. A store reads the incident, calls Apply and writes the
// effects in one transaction, and decides nothing itself; so the embedded
// and the PostgreSQL store cannot drift apart, and one table of
// scenarios (machine_test.go, and the conformance suite in store_test.go
// on both stores) covers what either does.
//
// Apply is pure: no clock (the event carries its time), no I/O, and the
// incident passed in is never modified.

// EventKind is what happened.
type EventKind int

const (
	// AlertFiring and AlertResolved are an alert of a delivery from
	// Alertmanager (or, resolved, the reconciler's close).
	AlertFiring EventKind = iota + 1
	AlertResolved
	// StepDue is an escalation step's timer come due.
	StepDue
	// Acknowledge is a person taking the incident: no further steps.
	Acknowledge
	// CloseByHand is a person resolving the incident where the page was
	// read (PagerDuty's resolve), before Alertmanager says so.
	CloseByHand
	// ActionEnded is a run of an auto-recovery action ended, or refused
	// before it began (Verdict, of Action).
	ActionEnded
)

// Event is one thing that happens to one incident.
type Event struct {
	Kind EventKind
	Now  time.Time
	// Alert is the alert of AlertFiring and AlertResolved.
	Alert payload.Alert
	// Reconciler marks an AlertResolved the reconciler made: the alert
	// was in no Alertmanager's view.
	Reconciler bool
	// Truncated is how many alerts Alertmanager left out of the delivery
	// this alert came in (AlertFiring): recorded on an incident it opens.
	Truncated int
	// Step and Due are the step a StepDue timer is for, and when it was due.
	Step int
	Due  time.Time
	// By is who acknowledged or closed (Acknowledge, CloseByHand).
	By string
	// Action and Verdict are the run of ActionEnded: its action's name
	// and how it ended (the Action* verdicts of actions.go).
	Action, Verdict string
}

// Result says what an event did, for the counters of a delivery.
type Result int

const (
	Unchanged Result = iota // nothing changes: a copy of a resolve, a stale timer
	Heartbeat               // an alert seen again: only LastSeen moves
	Opened
	Closed // an open or acknowledged incident resolved
	Reopened
	Stepped
	Acked
	// Recorded is an alert resolved before its firing arrived: kept,
	// closed, so that the late firing from another peer opens nothing.
	Recorded
)

// Timer is the change to an incident's pending step.
type Timer struct {
	Changed  bool
	Old, New time.Time // due times; zero: none
	Step     int       // the step New is for
}

// LastSeenEvery is how precisely an incident records when its alert was
// last delivered firing: a heartbeat less than this after the recorded
// one changes nothing, so that the re-sends of a storm (every
// group_interval, from each Alertmanager peer) cost a read and no write.
// Nothing is decided on LastSeen; it is shown.
const LastSeenEvery = time.Minute

// Effects are what an event changes, for the store to write in one
// transaction.
type Effects struct {
	// Incident is the incident after the event; nil when there is none
	// and none was made (Changed is then false).
	Incident *Incident
	// Create: Incident is new and is inserted. Changed: its state
	// changed and is written (the document, what Alertmanager said of the
	// incident, is written only by Create).
	Create  bool
	Changed bool
	// Timer is the change to its pending step, which the stores index.
	Timer  Timer
	Notify []Notification
	// Actions are the runs of auto-recovery actions a step queues, one
	// per action, written like notifications to the action's queue
	// (actions.go).
	Actions []Notification
	Audit   []Entry
	Result  Result
	// Resolution is what a close tells MTTR (Result Closed).
	Resolution Resolution
	// Fired is the step taken (StepDue), nil when none was; a step whose
	// policy is gone is recorded but is not a step taken.
	Fired *Fired
}

// Apply is the state machine: cur is the stored incident (nil: none);
// pol the policies in force.
func Apply(cur *Incident, ev Event, pol *policy.File) Effects {
	var inc *Incident
	if cur != nil {
		c := *cur
		c.Notified = slices.Clone(cur.Notified)
		inc = &c
	}
	var e Effects
	switch ev.Kind {
	case AlertFiring:
		e = firingAlert(inc, ev, pol)
	case AlertResolved:
		e = resolvedAlert(inc, ev)
	case StepDue:
		e = stepDue(inc, ev, pol)
	case Acknowledge:
		e = acknowledged(inc, ev)
	case CloseByHand:
		e = closedByHand(inc, ev)
	case ActionEnded:
		e = actionEnded(inc, ev)
	}
	if e.Incident != nil && cur != nil && (cur.NextDue != e.Incident.NextDue || cur.NextStep != e.Incident.NextStep) {
		e.Timer = Timer{Changed: true, Old: cur.NextDue, New: e.Incident.NextDue, Step: e.Incident.NextStep}
	}
	if e.Create && !e.Incident.NextDue.IsZero() {
		e.Timer = Timer{Changed: true, New: e.Incident.NextDue, Step: e.Incident.NextStep}
	}
	return e
}

func (e *Effects) log(now time.Time, id, action, detail string) {
	e.Audit = append(e.Audit, Entry{Time: now, Incident: id, Action: action, Detail: detail})
}

// firingAlert: a new alert opens an incident with its first step; one we
// know is a heartbeat, or, closed by the reconciler, reopened.
func firingAlert(inc *Incident, ev Event, pol *policy.File) Effects {
	if inc == nil {
		return open(ev, pol)
	}
	e := Effects{Incident: inc, Result: Heartbeat}
	if inc.Status == Resolved && inc.ClosedBy == closedByReconciler {
		e.Changed = true
		reopen(&e, inc, ev, pol)
		return e
	}
	// A repeat (Alertmanager re-sends a group at every
	// group_interval), or a late copy of a firing whose resolve was
	// heard already: it only says the alert was seen.
	if ev.Now.Sub(inc.LastSeen) >= LastSeenEvery {
		inc.LastSeen, e.Changed = ev.Now, true
	}
	return e
}

func open(ev Event, pol *policy.File) Effects {
	a := ev.Alert
	inc := &Incident{ID: payload.IncidentID(a.Fingerprint, a.StartsAt), Fingerprint: a.Fingerprint, StartsAt: a.StartsAt,
		Labels: a.Labels, Annotations: a.Annotations, Status: Open, OpenedAt: ev.Now, LastSeen: ev.Now, Truncated: ev.Truncated}
	detail := a.Labels["alertname"] + ": no policy matches: not escalated"
	if p := pol.Match(a.Labels); p != nil {
		inc.Policy = p.Name
		_, after, _ := p.StepAt(0)
		inc.NextDue = ev.Now.Add(after)
		detail = a.Labels["alertname"] + ": policy " + p.Name
	}
	e := Effects{Incident: inc, Create: true, Changed: true, Result: Opened}
	e.log(ev.Now, inc.ID, "opened", detail)
	return e
}

// reopen opens inc again when the reconciler closed it and Alertmanager
// now delivers its alert firing: the alert had only dropped out of every
// Alertmanager's view for a while (Alertmanagers restarted, Prometheus
// late to send again). Escalation goes on where it stopped, with its
// next step due when the policy says or at once if that is past, and the
// channels told of the resolve are told it fires again; an acknowledged
// incident comes back acknowledged, quietly. An incident Alertmanager
// itself resolved is not reopened: a firing notification after that is
// a late copy from another peer, and a new firing has a new start.
func reopen(e *Effects, inc *Incident, ev Event, pol *policy.File) {
	now := ev.Now
	inc.Status, inc.ResolvedAt, inc.ClosedBy, inc.LastSeen = Open, time.Time{}, "", now
	e.Result = Reopened
	e.log(now, inc.ID, "reopened", reopenedDetail)
	if !inc.AckedAt.IsZero() {
		// Someone owns it: no page (PagerDuty would have no way to hear
		// of an acknowledgement made before).
		inc.Status = Acknowledged
		return
	}
	if p := pol.Byname(inc.Policy); p != nil {
		if _, after, more := p.StepAt(inc.NextStep); more {
			inc.NextDue = inc.OpenedAt.Add(after)
			if inc.NextDue.Before(now) {
				inc.NextDue = now
			}
		}
	}
	stepName := fmt.Sprintf("reopened@%d", now.Unix())
	for _, ch := range inc.Notified {
		e.Notify = append(e.Notify, notification(inc, -1, stepName, ch, "trigger", now))
	}
}

// resolvedAlert closes the incident and tells the channels that heard of
// it. A resolve with no incident is an alert whose firing we have not
// heard (two Alertmanager peers deliver out of order, or the firing was
// lost): it is recorded, closed, so that the firing arriving after it is
// a heartbeat of a closed incident and pages no one.
func resolvedAlert(inc *Incident, ev Event) Effects {
	if inc == nil {
		a := ev.Alert
		inc = &Incident{ID: payload.IncidentID(a.Fingerprint, a.StartsAt), Fingerprint: a.Fingerprint, StartsAt: a.StartsAt,
			Labels: a.Labels, Annotations: a.Annotations, Status: Resolved, OpenedAt: ev.Now, LastSeen: ev.Now, ResolvedAt: ev.Now}
		e := Effects{Incident: inc, Create: true, Changed: true, Result: Recorded}
		e.log(ev.Now, inc.ID, "resolved", earlyResolveDetail)
		return e
	}
	if inc.Status == Resolved {
		return Effects{Incident: inc} // a copy of a resolve: nothing changes
	}
	e := Effects{Incident: inc, Changed: true, Result: Closed}
	closeIncident(&e, inc, ev.Now)
	if ev.Reconciler {
		inc.ClosedBy = closedByReconciler
	}
	e.log(ev.Now, inc.ID, "resolved", resolvedDetail(inc))
	return e
}

// closeIncident resolves inc: no further steps, and its channels hear it.
func closeIncident(e *Effects, inc *Incident, now time.Time) {
	inc.Status, inc.ResolvedAt, inc.LastSeen, inc.NextDue = Resolved, now, now, time.Time{}
	for _, ch := range inc.Notified {
		e.Notify = append(e.Notify, notification(inc, -1, "resolve", ch, "resolve", now))
	}
	e.Resolution = Resolution{Severity: inc.Labels["severity"], Duration: now.Sub(inc.OpenedAt),
		Automated: inc.Automated && inc.AckedAt.IsZero()}
}

// closedByHand: a person resolved the incident where the page was read.
// The alert may still fire in Alertmanager; its later deliveries are
// heartbeats of a closed incident (only the reconciler's closes reopen).
func closedByHand(inc *Incident, ev Event) Effects {
	if inc == nil || inc.Status == Resolved {
		return Effects{Incident: inc}
	}
	e := Effects{Incident: inc, Changed: true, Result: Closed}
	closeIncident(&e, inc, ev.Now)
	inc.ClosedBy = ev.By
	e.log(ev.Now, inc.ID, "resolved", "by "+ev.By)
	return e
}

// acknowledged stops the escalation; the channels notified hear it.
// Acknowledging twice, or a resolved incident, changes nothing.
func acknowledged(inc *Incident, ev Event) Effects {
	if inc == nil || inc.Status != Open {
		return Effects{Incident: inc}
	}
	inc.Status, inc.AckedAt, inc.AckedBy, inc.NextDue = Acknowledged, ev.Now, ev.By, time.Time{}
	e := Effects{Incident: inc, Changed: true, Result: Acked}
	for _, ch := range inc.Notified {
		e.Notify = append(e.Notify, notification(inc, -1, "ack", ch, "acknowledge", ev.Now))
	}
	e.log(ev.Now, inc.ID, "acknowledged", "by "+ev.By)
	return e
}

// stepDue takes the step, fenced: only the step the incident expects and
// only while it is open. A stale timer changes nothing but is dropped
// (Timer.Changed with no new due time). The incident may be only its
// escalation state (ID, Status, Policy, OpenedAt, NextStep, Notified):
// that is all a step reads.
func stepDue(inc *Incident, ev Event, pol *policy.File) Effects {
	if inc == nil || inc.Status != Open || inc.NextStep != ev.Step {
		return Effects{Incident: inc, Timer: Timer{Changed: true, Old: ev.Due}}
	}
	e := Effects{Incident: inc, Changed: true, Result: Stepped}
	inc.NextDue = time.Time{}
	p := pol.Byname(inc.Policy)
	if p == nil {
		e.log(ev.Now, inc.ID, "escalated", "policy "+inc.Policy+" no longer exists: escalation stops")
		return e
	}
	st, _, exists := p.StepAt(ev.Step)
	if !exists {
		// The policy lost the step: escalation stops there.
		e.log(ev.Now, inc.ID, "escalated", fmt.Sprintf("policy %s has no step %d any more: escalation stops", p.Name, ev.Step))
		return e
	}
	for _, ch := range st.Notify {
		if !slices.Contains(inc.Notified, ch) {
			inc.Notified = append(inc.Notified, ch)
		}
		n := notification(inc, ev.Step, fmt.Sprint(ev.Step), ch, "trigger", ev.Now)
		n.Due = ev.Due
		e.Notify = append(e.Notify, n)
	}
	for _, name := range st.Actions {
		n := notification(inc, ev.Step, fmt.Sprint(ev.Step), ActionQueue(name), "run", ev.Now)
		n.Due = ev.Due
		e.Actions = append(e.Actions, n)
	}
	inc.NextStep = ev.Step + 1
	if _, after, more := p.StepAt(ev.Step + 1); more {
		inc.NextDue = inc.OpenedAt.Add(after)
	}
	e.Fired = &Fired{Incident: inc.ID, Step: ev.Step, Lag: ev.Now.Sub(ev.Due), Policy: p.Name}
	e.log(ev.Now, inc.ID, "escalated", fmt.Sprintf("step %d of %s: %s", ev.Step, p.Name, stepTargets(st)))
	return e
}

// actionEnded: a run that succeeded marks the incident as automation's
// to fix; one that failed, or that automation would not run (its
// breaker open, the fix not holding, its budget spent, its approval not
// given in time, its labels refused), pages the next person now rather
// than at the step's time: automation is not going to fix it. A dry run,
// a run skipped because the incident was closed first, or a cooldown,
// changes nothing: people are paged at the policy's times.
func actionEnded(inc *Incident, ev Event) Effects {
	e := Effects{Incident: inc}
	if inc == nil {
		return e
	}
	switch ev.Verdict {
	case ActionSucceeded:
		if !inc.Automated {
			inc.Automated, e.Changed = true, true
		}
	case ActionFailed, ActionUnknown, ActionBreaker, ActionRefired, ActionBudget, ActionRefused, ActionApprovalTimeout:
		if inc.Status == Open && inc.NextDue.After(ev.Now) {
			inc.NextDue, e.Changed = ev.Now, true
			e.log(ev.Now, inc.ID, "escalated", fmt.Sprintf("action %s: %s, so step %d is taken now", ev.Action, ev.Verdict, inc.NextStep))
		}
	}
	return e
}

// stepTargets names what a step notifies and runs.
func stepTargets(st policy.Step) string {
	var all []string
	all = append(all, st.Notify...)
	for _, a := range st.Actions {
		all = append(all, "action "+a)
	}
	return strings.Join(all, ", ")
}

// Tally adds what an alert's event did to the delivery's counters.
func (r *Received) Tally(e Effects) {
	switch e.Result {
	case Opened:
		r.Opened++
		r.Severities = append(r.Severities, e.Incident.Labels["severity"])
	case Closed:
		r.Resolved++
		r.Resolutions = append(r.Resolutions, e.Resolution)
	case Reopened:
		r.Reopened++
	case Recorded:
		r.EarlyResolves++
	}
}

// alertEvent is the event of one alert of a delivery.
func alertEvent(d *payload.Delivery, a payload.Alert, now time.Time) Event {
	ev := Event{Kind: AlertFiring, Now: now, Alert: a, Truncated: d.Truncated}
	if a.Resolved() {
		ev.Kind, ev.Reconciler = AlertResolved, strings.HasPrefix(d.Hash, ReconcilerHashPrefix)
	}
	return ev
}
