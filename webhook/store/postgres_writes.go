package store

import (
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// writes are the changes of a transaction, written as arrays: one
// statement per table however many alerts or steps. Each incident is
// written once, as it is after the transaction's last event on it.
type writes struct {
	created latest // new incidents: the document and the state
	changed latest // incidents whose state changed: the state row alone
	outbox  []Notification
	audit   []Entry
}

// latest is a set of incidents, each as last put.
type latest struct {
	list []*Incident
	at   map[string]int
}

func (l *latest) put(inc *Incident) {
	if i, ok := l.at[inc.ID]; ok {
		l.list[i] = inc
		return
	}
	if l.at == nil {
		l.at = map[string]int{}
	}
	l.at[inc.ID] = len(l.list)
	l.list = append(l.list, inc)
}

func (l *latest) has(id string) bool { _, ok := l.at[id]; return ok }

func (w *writes) log(now time.Time, incident, action, detail string) {
	w.audit = append(w.audit, Entry{Time: now, Incident: incident, Action: action, Detail: detail})
}

// add records what the state machine decided. A new incident is
// inserted as it is at the end of the transaction; any other change
// (a heartbeat, a step, an acknowledgement, a resolve) is to the state
// row: the document never changes after the opening.
func (w *writes) add(e Effects) {
	if inc := e.Incident; inc != nil {
		switch {
		case e.Create || w.created.has(inc.ID):
			w.created.put(inc)
		case e.Changed || e.Timer.Changed:
			w.changed.put(inc)
		}
	}
	w.outbox = append(w.outbox, e.Notify...)
	w.outbox = append(w.outbox, e.Actions...)
	w.audit = append(w.audit, e.Audit...)
}

// states are the state columns of a list of incidents, as arrays.
type states struct {
	ids, statuses, severities, policies, notified, ackedBy, closedBy, silences []string
	opened, seen                                                               []time.Time
	dues, acked, resolved                                                      []pgtype.Timestamptz
	steps                                                                      []int32
	automated                                                                  []bool
}

func statesOf(list []*Incident) states {
	var a states
	for _, inc := range list {
		a.ids = append(a.ids, inc.ID)
		a.statuses = append(a.statuses, inc.Status)
		a.severities = append(a.severities, inc.Labels["severity"])
		a.policies = append(a.policies, inc.Policy)
		a.notified = append(a.notified, notifiedJSON(inc.Notified))
		a.ackedBy = append(a.ackedBy, inc.AckedBy)
		a.closedBy = append(a.closedBy, inc.ClosedBy)
		a.silences = append(a.silences, inc.SilenceID)
		a.opened = append(a.opened, inc.OpenedAt)
		a.seen = append(a.seen, inc.LastSeen)
		a.dues = append(a.dues, nullTime(inc.NextDue))
		a.acked = append(a.acked, nullTime(inc.AckedAt))
		a.resolved = append(a.resolved, nullTime(inc.ResolvedAt))
		a.steps = append(a.steps, int32(inc.NextStep))
		a.automated = append(a.automated, inc.Automated)
	}
	return a
}

// changedSQL writes the state of incidents that exist. Policy, severity
// and opening time never change.
const changedSQL = `UPDATE escalator_state s SET status = x.status, last_seen = x.seen, next_step = x.step, due = x.due,
		notified = x.notified, acked_at = x.acked, acked_by = x.acked_by, resolved_at = x.resolved,
		closed_by = x.closed_by, silence_id = x.silence, automated = x.automated
	FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::int[], $5::timestamptz[], $6::jsonb[],
		$7::timestamptz[], $8::text[], $9::timestamptz[], $10::text[], $11::text[], $12::boolean[])
		AS x(id, status, seen, step, due, notified, acked, acked_by, resolved, closed_by, silence, automated)
	WHERE s.incident = x.id`

// changedArgs are changedSQL's arguments.
func (a states) changedArgs() []any {
	return []any{a.ids, a.statuses, a.seen, a.steps, a.dues, a.notified, a.acked, a.ackedBy, a.resolved, a.closedBy, a.silences, a.automated}
}

// queue adds the writes to b: one statement per table that has any.
func (w *writes) queue(b *pgx.Batch) error {
	if err := w.queueCreated(b); err != nil {
		return err
	}
	if len(w.changed.list) > 0 {
		a := statesOf(w.changed.list)
		b.Queue(changedSQL, a.changedArgs()...)
	}
	if n := len(w.outbox); n > 0 {
		keys, incs, chans, events := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		steps, times, dues := make([]int32, n), make([]time.Time, n), make([]pgtype.Timestamptz, n)
		for i, o := range w.outbox {
			keys[i], incs[i], chans[i], events[i], steps[i], times[i], dues[i] = o.Key, o.Incident, o.Channel, o.Event, int32(o.Step), o.NextTry, nullTime(o.Due)
		}
		b.Queue(`INSERT INTO escalator_outbox (key, incident, step, channel, event, next_try, created, due)
			SELECT k, i, s, c, e, t, t, d FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[]) AS x(k, i, s, c, e, t, d)
			ON CONFLICT (key) DO NOTHING`, keys, incs, steps, chans, events, times, dues)
	}
	if n := len(w.audit); n > 0 {
		times, incs, actions, details := make([]time.Time, n), make([]string, n), make([]string, n), make([]string, n)
		for i, e := range w.audit {
			times[i], incs[i], actions[i], details[i] = e.Time, e.Incident, e.Action, e.Detail
		}
		b.Queue(`INSERT INTO escalator_audit (time, incident, action, detail)
			SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[])`, times, incs, actions, details)
	}
	return nil
}

// queueCreated queues the statement that inserts the new incidents: the
// document and the state row of each. ON CONFLICT: the transaction holds
// the incidents' advisory locks (postgres_receive.go), so no other can
// have inserted one meanwhile; should it happen, the rows already there
// stand.
func (w *writes) queueCreated(b *pgx.Batch) error {
	if len(w.created.list) == 0 {
		return nil
	}
	data := make([]string, len(w.created.list))
	for i, inc := range w.created.list {
		j, err := json.Marshal(inc)
		if err != nil {
			return err
		}
		data[i] = string(j)
	}
	a := statesOf(w.created.list)
	b.Queue(`WITH x AS (
			SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::jsonb[], $4::text[], $5::text[], $6::text[], $7::timestamptz[],
				$8::int[], $9::timestamptz[], $10::jsonb[], $11::timestamptz[], $12::text[], $13::timestamptz[], $14::text[], $15::text[])
				AS x(id, opened_at, data, status, severity, policy, seen, step, due, notified, acked, acked_by, resolved, closed_by, silence)),
		ins AS (
			INSERT INTO escalator_incidents (id, opened_at, data)
			SELECT id, opened_at, data FROM x ON CONFLICT (id) DO NOTHING RETURNING id)
		INSERT INTO escalator_state (incident, status, severity, policy, opened_at, last_seen, next_step, due, notified,
			acked_at, acked_by, resolved_at, closed_by, silence_id)
		SELECT x.id, status, severity, policy, opened_at, seen, step, due, notified, acked, acked_by, resolved, closed_by, silence
		FROM x JOIN ins USING (id)`,
		a.ids, a.opened, data, a.statuses, a.severities, a.policies, a.seen, a.steps, a.dues, a.notified, a.acked, a.ackedBy, a.resolved, a.closedBy, a.silences)
	return nil
}
