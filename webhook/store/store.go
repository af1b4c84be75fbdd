// Package store keeps escalator's state durably: incidents, pending
// escalation steps (timers), an outbox of notifications and an audit log.
// Every change a delivery, a due step or an acknowledgement makes is
// written in one transaction (which concurrent deliveries may share), never
// in part, so after a crash every due step fires and none twice.
package store

import (
	"context"
	"time"

	"github.com/hotel-ops/hotel-ops/webhook/payload"
	"github.com/hotel-ops/hotel-ops/webhook/policy"
)

// Incident is one alert occurrence: a fingerprint and a start.
type Incident struct {
	ID          string            `json:"id"`
	Fingerprint string            `json:"fingerprint"`
	StartsAt    time.Time         `json:"startsAt"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	Policy      string            `json:"policy,omitempty"`
	Status      string            `json:"status"` // open, acknowledged, resolved
	OpenedAt    time.Time         `json:"openedAt"`
	LastSeen    time.Time         `json:"lastSeen"`
	AckedAt     time.Time         `json:"ackedAt,omitzero"`
	AckedBy     string            `json:"ackedBy,omitempty"`
	ResolvedAt  time.Time         `json:"resolvedAt,omitzero"`
	NextStep    int               `json:"nextStep"`         // fencing: a timer for another step is stale
	NextDue     time.Time         `json:"nextDue,omitzero"` // when step NextStep is due; zero: none pending
	Notified    []string          `json:"notified,omitempty"`
	// SilenceID is the Alertmanager silence made when it was acknowledged;
	// SilenceExpired once that silence was expired at the resolve.
	SilenceID string `json:"silenceId,omitempty"`
	// ClosedBy is "reconciler" for an incident the reconciler closed (its
	// alert was in no Alertmanager's view), and such an incident whose
	// alert fires again is reopened; or the person who resolved it by
	// hand (from PagerDuty). Empty when Alertmanager resolved it.
	ClosedBy string `json:"closedBy,omitempty"`
	// Truncated is how many alerts Alertmanager left out of the delivery
	// that opened the incident (its group outgrew max_alerts).
	Truncated int `json:"truncated,omitzero"`
	// Automated is set once an auto-recovery action succeeded for the
	// incident: resolved with no acknowledgement, automation fixed it.
	Automated bool `json:"automated,omitzero"`
}

// SilenceExpired marks an incident whose silence was expired.
const SilenceExpired = "expired"

// Silenced reports whether the incident holds an Alertmanager silence
// not yet expired.
func (inc *Incident) Silenced() bool {
	return inc.SilenceID != "" && inc.SilenceID != SilenceExpired
}

// Unsettled reports whether Alertmanager may still have work for the
// incident: it is not resolved, or it holds a silence not yet expired.
func (inc *Incident) Unsettled() bool {
	return inc.Status != Resolved || inc.Silenced()
}

// Incident states.
const (
	Open         = "open"
	Acknowledged = "acknowledged"
	Resolved     = "resolved"
)

// Notification is an outbox entry: one message to one channel.
type Notification struct {
	Seq      uint64    `json:"seq"`
	Key      string    `json:"key"` // idempotency key: incident/step/channel
	Incident string    `json:"incident"`
	Step     int       `json:"step"`
	Channel  string    `json:"channel"`
	Event    string    `json:"event"` // trigger, acknowledge, resolve
	Attempts int       `json:"attempts"`
	NextTry  time.Time `json:"nextTry"`
	Created  time.Time `json:"created"`
	// Due is when the step that queued it was due (zero for resolves and
	// acknowledgements): the escalation lag runs from it to the send.
	Due time.Time `json:"due,omitzero"`
	// Started is when an action's run began (actions.go); zero for
	// notifications and runs not begun. Asked is when a run that needs
	// approval asked for it, ApprovedBy who gave it.
	Started    time.Time `json:"started,omitzero"`
	Asked      time.Time `json:"asked,omitzero"`
	ApprovedBy string    `json:"approvedBy,omitempty"`
	// Subject is the incident as the claim found it, when the store
	// reads it with the claim (PostgreSQL); nil otherwise, or when the
	// incident is gone. Never stored.
	Subject *Incident `json:"-"`
}

// Outcome is a claimed notification's send: Err nil (sent), or failed
// with a retry time (zero: give up), at Now.
type Outcome struct {
	N       Notification
	Err     error
	RetryAt time.Time
	Now     time.Time
}

// Entry is one audit log line: a decision and why.
type Entry struct {
	Seq      uint64    `json:"seq"`
	Time     time.Time `json:"time"`
	Incident string    `json:"incident,omitempty"`
	Action   string    `json:"action"` // received, deduplicated, opened, escalated, notified, notify_failed, acknowledged, resolved
	Detail   string    `json:"detail,omitempty"`
}

// Received is what a delivery changed.
type Received struct {
	Duplicate        bool
	Opened, Resolved int
	Reopened         int // closed by the reconciler, firing again
	// EarlyResolves are alerts resolved before their firing arrived.
	EarlyResolves int
	Resolutions   []Resolution // per resolved incident, for MTTR
	Severities    []string     // of opened incidents
}

// Resolution is how long an incident of a severity was open: MTTR and
// MTBF are read per severity (the spec counts critical failures).
type Resolution struct {
	Severity string
	Duration time.Duration
	// Automated: an action succeeded and nobody acknowledged it (the
	// automation rate of the monthly report).
	Automated bool
}

// Fired is one escalation step taken.
type Fired struct {
	Incident string
	Step     int
	Lag      time.Duration // from due time to now
	Policy   string
}

// Store is the durable state. The embedded store (Embedded) is the default;
// a PostgreSQL store for several replicas implements the same methods.
type Store interface {
	// Receive records a delivery: deduplicates it, opens incidents with
	// their first timer, heartbeats repeats, closes resolved ones.
	Receive(ctx context.Context, d *payload.Delivery, pol *policy.File, now time.Time) (Received, error)
	// FireDue takes up to limit due steps: queues their notifications,
	// advances the incident and schedules the next step.
	FireDue(ctx context.Context, pol *policy.File, now time.Time, limit int) ([]Fired, error)
	// NextDue is the earliest pending timer, zero when none.
	NextDue(ctx context.Context) (time.Time, error)
	// Claim leases up to limit notifications of the channel ("": of
	// every channel) whose time has come, the oldest of each incident
	// only, for lease: until it is settled or the lease ends, no other
	// claim takes it. The embedded store holds leases in memory, so a
	// restarted process takes again at once what was in flight.
	Claim(ctx context.Context, channel string, now time.Time, lease time.Duration, limit int) ([]Notification, error)
	// Channels lists the channels that have notifications queued.
	Channels(ctx context.Context) ([]string, error)
	// Settle records what became of claimed notifications, in one
	// transaction: each sent, or failed with a retry time (zero: give up).
	Settle(ctx context.Context, outcomes []Outcome) error
	// BeginAction decides, in one transaction, whether a claimed run of
	// an action (a notification of queue ActionQueue(name)) runs now: if
	// so it records that it started, counted for the cooldown and budget;
	// any other verdict ends the run, recorded in the audit.
	BeginAction(ctx context.Context, n Notification, lim ActionLimits, now time.Time) (ActionStart, error)
	// FinishAction records how a run ended (or that it was refused before
	// beginning) and takes it off its queue: an action is never retried.
	FinishAction(ctx context.Context, n Notification, o ActionOutcome) error
	// ResetAction closes the action's breaker: a person looked at why
	// its runs failed (recorded in the audit, by whom).
	ResetAction(ctx context.Context, action, by string, now time.Time) error
	// ApproveAction gives the approval a run of the action for the
	// incident waits for; ErrNotFound when none waits.
	ApproveAction(ctx context.Context, incident, action, by string, now time.Time) error
	// ClaimOnce records key, once: true for the first caller, false for
	// every later one, across restarts and replicas (a daily report sent
	// by one replica only). Keys are kept as long as the history.
	ClaimOnce(ctx context.Context, key string, now time.Time) (bool, error)
	// Record adds an entry to the audit log (a diagnosis, say): what the
	// engine learned that no decision of the state machine wrote.
	Record(ctx context.Context, e Entry) error
	// Ack acknowledges an incident: no further steps.
	Ack(ctx context.Context, id, by string, now time.Time) (*Incident, error)
	// Resolve closes an incident by hand (a person resolved it where the
	// page was read): no further steps, and its channels hear it.
	Resolve(ctx context.Context, id, by string, now time.Time) (*Incident, error)
	// SetSilence records the incident's Alertmanager silence.
	SetSilence(ctx context.Context, id, silenceID string, now time.Time) error
	Incident(ctx context.Context, id string) (*Incident, error)
	Incidents(ctx context.Context, limit int) ([]Incident, error)
	// UnsettledAfter lists up to limit Unsettled incidents whose IDs
	// follow after, in ID order: the reconciler pages through all of them,
	// however many are open.
	UnsettledAfter(ctx context.Context, after string, limit int) ([]Incident, error)
	Audit(ctx context.Context, incident string, limit int) ([]Entry, error)
	// Prune forgets deliveries received before the time: their hashes only
	// serve to recognise copies, which arrive within minutes (a copy that
	// comes later is a heartbeat, harmless).
	Prune(ctx context.Context, before time.Time) (int, error)
	// PruneHistory removes incidents resolved before the time, with
	// their escalation state, and audit entries written before it. Open
	// and acknowledged incidents are kept however old.
	PruneHistory(ctx context.Context, before time.Time) (incidents, entries int, err error)
	// Counts for metrics: pending timers, open incidents by severity.
	Pending(ctx context.Context) (int, error)
	OpenBySeverity(ctx context.Context) (map[string]int, error)
	Close() error
}

// Parallel is a store on which several FireDue calls at once take
// different due steps, each in its own transaction: the engine runs
// FireWorkers of them.
type Parallel interface {
	FireWorkers() int
}

// ErrNotFound is an unknown incident.
var ErrNotFound = errNotFound{}

type errNotFound struct{}

func (errNotFound) Error() string { return "no such incident" }
