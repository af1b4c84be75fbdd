package store

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hotel-ops/hotel-ops/webhook/payload"
	"github.com/hotel-ops/hotel-ops/webhook/policy"
)

// The decisions below are the same whichever store keeps the state; each
// store only makes them durable. Keeping them here means the embedded and
// the PostgreSQL store cannot drift apart in what they do.

// opening is a new incident and, when a policy matches, its first timer.
type opening struct {
	inc       *Incident
	due       time.Time
	scheduled bool
	detail    string
}

func newIncident(a payload.Alert, pol *policy.File, now time.Time) opening {
	o := opening{
		inc: &Incident{ID: payload.IncidentID(a.Fingerprint, a.StartsAt), Fingerprint: a.Fingerprint, StartsAt: a.StartsAt,
			Labels: a.Labels, Annotations: a.Annotations, Status: Open, OpenedAt: now, LastSeen: now},
		detail: a.Labels["alertname"] + ": no policy matches: not escalated",
	}
	if p := pol.Match(a.Labels); p != nil {
		o.inc.Policy = p.Name
		_, after, _ := p.StepAt(0)
		o.due, o.scheduled = now.Add(after), true
		o.inc.NextDue = o.due
		o.detail = a.Labels["alertname"] + ": policy " + p.Name
	}
	return o
}

// ReconcilerHashPrefix begins the hash of the deliveries the reconciler
// makes to close an incident whose resolve was missed; such a close is
// recorded as closedByReconciler.
const (
	ReconcilerHashPrefix = "reconciler/"
	closedByReconciler   = "reconciler"
)

// resolve closes inc; it returns false when it was already closed.
func resolve(inc *Incident, d *payload.Delivery, now time.Time) bool {
	if inc.Status == Resolved {
		return false
	}
	inc.Status, inc.ResolvedAt, inc.LastSeen, inc.NextDue = Resolved, now, now, time.Time{}
	if strings.HasPrefix(d.Hash, ReconcilerHashPrefix) {
		inc.ClosedBy = closedByReconciler
	}
	return true
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
func reopen(inc *Incident, pol *policy.File, now time.Time) (notify []Notification, ok bool) {
	if inc.Status != Resolved || inc.ClosedBy != closedByReconciler {
		return nil, false
	}
	inc.Status, inc.ResolvedAt, inc.ClosedBy, inc.LastSeen = Open, time.Time{}, "", now
	if !inc.AckedAt.IsZero() {
		// Someone owns it: no page (PagerDuty would have no way to hear
		// of an acknowledgement made before).
		inc.Status = Acknowledged
		return nil, true
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
		notify = append(notify, notification(inc, -1, stepName, ch, "trigger", now))
	}
	return notify, true
}

// ErrSilenceTaken is SetSilence's answer when the incident already holds
// another silence (or had it expired): another replica silenced it first.
var ErrSilenceTaken = errors.New("the incident holds another silence")

// silenceTaken refuses a new silence for an incident that has one: each
// replica's reconciler may silence the same acknowledgement, and the one
// that loses expires its own rather than leave it in Alertmanager.
func silenceTaken(inc *Incident, silenceID string) error {
	if silenceID != SilenceExpired && inc.SilenceID != "" && inc.SilenceID != silenceID {
		return ErrSilenceTaken
	}
	return nil
}

// resolution is what a resolve of inc at now tells MTTR.
func resolution(inc *Incident, now time.Time) Resolution {
	return Resolution{Severity: inc.Labels["severity"], Duration: now.Sub(inc.OpenedAt)}
}

// acknowledge marks inc acknowledged; false when there is nothing to stop.
func acknowledge(inc *Incident, by string, now time.Time) bool {
	if inc.Status != Open {
		return false // acknowledging twice, or a resolved incident, changes nothing
	}
	inc.Status, inc.AckedAt, inc.AckedBy, inc.NextDue = Acknowledged, now, by, time.Time{}
	return true
}

// firing is what taking one due step does.
type firing struct {
	channels []string
	next     time.Time // the following step's due time
	hasNext  bool
	audit    string
}

// fire takes step of inc, fenced: only the step the incident expects and
// only while it is open. ok is false for a stale timer, which is dropped.
func fire(inc *Incident, step int, pol *policy.File) (f firing, ok bool) {
	if inc == nil || inc.Status != Open || inc.NextStep != step {
		return f, false
	}
	inc.NextDue = time.Time{}
	p := pol.Byname(inc.Policy)
	if p == nil {
		return firing{audit: "policy " + inc.Policy + " no longer exists: escalation stops"}, true
	}
	st, _, exists := p.StepAt(step)
	if !exists {
		return f, false
	}
	for _, ch := range st.Notify {
		if !contains(inc.Notified, ch) {
			inc.Notified = append(inc.Notified, ch)
		}
	}
	inc.NextStep, inc.NextDue = step+1, time.Time{}
	f = firing{channels: st.Notify, audit: fmt.Sprintf("step %d of %s: %s", step, p.Name, strings.Join(st.Notify, ", "))}
	if _, after, more := p.StepAt(step + 1); more {
		f.next, f.hasNext = inc.OpenedAt.Add(after), true
		inc.NextDue = f.next
	}
	return f, true
}

// stepNotification is the trigger step of inc, due at due, sends to channel.
func stepNotification(inc *Incident, step int, channel string, due, now time.Time) Notification {
	n := notification(inc, step, fmt.Sprint(step), channel, "trigger", now)
	n.Due = due
	return n
}

// notification is an outbox entry for inc; its key makes the send
// idempotent: incident, step and channel.
func notification(inc *Incident, step int, stepName, channel, event string, now time.Time) Notification {
	return Notification{Key: inc.ID + "/" + stepName + "/" + channel, Incident: inc.ID, Step: step,
		Channel: channel, Event: event, NextTry: now, Created: now}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func notifiedDetail(n Notification) string {
	return fmt.Sprintf("%s %s (%s)", n.Channel, n.Event, n.Key)
}

func failedDetail(n Notification, err error) string {
	return fmt.Sprintf("%s %s after %d attempts: %v", n.Channel, n.Event, n.Attempts+1, err)
}

func resolvedDetail(inc *Incident) string {
	if inc.ClosedBy == closedByReconciler {
		return "closed by the reconciler: the alert is in no Alertmanager's view"
	}
	return "resolved notification from Alertmanager"
}

const reopenedDetail = "firing again after the reconciler closed it: escalation goes on"

func receivedDetail(d *payload.Delivery) string {
	return fmt.Sprintf("group %s, %d alerts", d.GroupKey, len(d.Alerts))
}

func silenceDetail(silenceID string) string {
	if silenceID == SilenceExpired {
		return "Alertmanager silence expired: the incident resolved"
	}
	return "Alertmanager silence " + silenceID + " until the incident resolves"
}
