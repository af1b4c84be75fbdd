package store

import (
	"errors"
	"fmt"
	"time"

	"github.com/hotel-ops/hotel-ops/webhook/payload"
)

// What the state machine (machine.go) and both stores share: names,
// outbox entries and the words of the audit log.

// ReconcilerHashPrefix begins the hash of the deliveries the reconciler
// makes to close an incident whose resolve was missed; such a close is
// recorded as closedByReconciler.
const (
	ReconcilerHashPrefix = "reconciler/"
	closedByReconciler   = "reconciler"
)

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

// notification is an outbox entry for inc; its key makes the send
// idempotent: incident, step and channel.
func notification(inc *Incident, step int, stepName, channel, event string, now time.Time) Notification {
	return Notification{Key: inc.ID + "/" + stepName + "/" + channel, Incident: inc.ID, Step: step,
		Channel: channel, Event: event, NextTry: now, Created: now}
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

const earlyResolveDetail = "resolved before its firing arrived (Alertmanager peers deliver out of order): recorded closed, so a late firing pages no one"

const reopenedDetail = "firing again after the reconciler closed it: escalation goes on"

// deliveryAudit is what the audit log keeps of a delivery itself: that
// it came, when it changed something (a delivery of repeats only, or a
// copy, is counted by the metrics, not logged: in a storm they are most
// deliveries), and what Alertmanager left out of it.
func deliveryAudit(d *payload.Delivery, res Received, now time.Time) []Entry {
	var out []Entry
	if d.Truncated > 0 {
		out = append(out, Entry{Time: now, Action: "truncated", Detail: truncatedDetail(d)})
	}
	if res.Opened+res.Resolved+res.Reopened+res.EarlyResolves > 0 {
		out = append(out, Entry{Time: now, Action: "received", Detail: receivedDetail(d)})
	}
	return out
}

func truncatedDetail(d *payload.Delivery) string {
	return fmt.Sprintf("group %s: Alertmanager left %d alerts out of the delivery (max_alerts): they are not incidents here", d.GroupKey, d.Truncated)
}

func receivedDetail(d *payload.Delivery) string {
	return fmt.Sprintf("group %s, %d alerts", d.GroupKey, len(d.Alerts))
}

func silenceDetail(silenceID string) string {
	if silenceID == SilenceExpired {
		return "Alertmanager silence expired: the incident resolved"
	}
	return "Alertmanager silence " + silenceID + " until the incident resolves"
}
