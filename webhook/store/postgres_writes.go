package store

import (
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// steppedSQL writes the escalations' state after a step.
const steppedSQL = `UPDATE escalator_escalations e SET next_step = x.step, due = x.due, notified = x.notified
	FROM unnest($1::text[], $2::int[], $3::timestamptz[], $4::jsonb[]) AS x(id, step, due, notified)
	WHERE e.incident = x.id`

// writes are the changes of a transaction, written as arrays: one
// statement per table however many alerts or steps. Each incident is
// written once, as it is after the transaction's last event on it.
type writes struct {
	created   latest // new incidents, inserted with their escalations
	seen      latest // heartbeats: only the document's lastSeen moves
	incidents latest // documents written whole
	stepped   latest // escalations whose step or due time changed
	outbox    []Notification
	audit     []Entry
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

// queue adds the writes to b: one statement per table that has any.
func (w *writes) queue(b *pgx.Batch) error {
	if err := w.queueCreated(b); err != nil {
		return err
	}
	if n := len(w.seen.list); n > 0 {
		// Before the documents written whole, which hold the latest
		// lastSeen of any incident in both.
		ids, seen := make([]string, n), make([]string, n)
		for i, inc := range w.seen.list {
			ids[i], seen[i] = inc.ID, inc.LastSeen.UTC().Format(time.RFC3339Nano)
		}
		b.Queue(`UPDATE escalator_incidents i SET data = jsonb_set(i.data, '{lastSeen}', to_jsonb(x.seen))
			FROM unnest($1::text[], $2::text[]) AS x(id, seen)
			WHERE i.id = x.id`, ids, seen)
	}
	if n := len(w.incidents.list); n > 0 {
		ids, statuses, data := make([]string, n), make([]string, n), make([]string, n)
		for i, inc := range w.incidents.list {
			j, err := json.Marshal(inc)
			if err != nil {
				return err
			}
			ids[i], statuses[i], data[i] = inc.ID, inc.Status, string(j)
		}
		b.Queue(`UPDATE escalator_incidents i SET status = x.status, data = x.data
			FROM unnest($1::text[], $2::text[], $3::jsonb[]) AS x(id, status, data)
			WHERE i.id = x.id`, ids, statuses, data)
	}
	if n := len(w.stepped.list); n > 0 {
		ids, notified := make([]string, n), make([]string, n)
		steps, dues := make([]int32, n), make([]pgtype.Timestamptz, n)
		for i, inc := range w.stepped.list {
			ids[i], steps[i], dues[i], notified[i] = inc.ID, int32(inc.NextStep), nullTime(inc.NextDue), notifiedJSON(inc.Notified)
		}
		b.Queue(steppedSQL, ids, steps, dues, notified)
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

// add records what the state machine decided. A new incident is
// inserted as it is at the end. Otherwise its escalation row is written
// when its step or due time changed (a step, an acknowledgement, a
// resolve), and its document when anything but the escalation state
// changed; a heartbeat sets the document's lastSeen alone (without
// encoding and sending the document); a step writes the narrow row only.
func (w *writes) add(e Effects) {
	if inc := e.Incident; inc != nil {
		switch {
		case e.Create || w.created.has(inc.ID):
			w.created.put(inc)
		case e.Write == WriteAll || e.Result == Heartbeat && w.incidents.has(inc.ID):
			w.incidents.put(inc)
			if e.Timer.Changed {
				w.stepped.put(inc)
			}
		case e.Result == Heartbeat:
			w.seen.put(inc)
		case e.Timer.Changed:
			w.stepped.put(inc)
		}
	}
	w.outbox = append(w.outbox, e.Notify...)
	w.audit = append(w.audit, e.Audit...)
}

// queueCreated queues the statement that inserts the new incidents, with
// an escalation row for each that has a policy. ON CONFLICT: the
// transaction holds the incidents' advisory locks (postgres_receive.go),
// so no other can have inserted one meanwhile; should it happen, the
// row already there stands.
func (w *writes) queueCreated(b *pgx.Batch) error {
	n := len(w.created.list)
	if n == 0 {
		return nil
	}
	ids, statuses, sevs, data, pols, notified := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	opened, dues, steps := make([]time.Time, n), make([]pgtype.Timestamptz, n), make([]int32, n)
	for i, inc := range w.created.list {
		j, err := json.Marshal(inc)
		if err != nil {
			return err
		}
		ids[i], statuses[i], sevs[i], data[i], pols[i] = inc.ID, inc.Status, inc.Labels["severity"], string(j), inc.Policy
		opened[i], dues[i], steps[i], notified[i] = inc.OpenedAt, nullTime(inc.NextDue), int32(inc.NextStep), notifiedJSON(inc.Notified)
	}
	b.Queue(`WITH x AS (
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::jsonb[], $6::text[], $7::timestamptz[], $8::int[], $9::jsonb[])
				AS x(id, status, severity, opened_at, data, policy, due, step, notified)),
		ins AS (
			INSERT INTO escalator_incidents (id, status, severity, opened_at, data)
			SELECT id, status, severity, opened_at, data FROM x ON CONFLICT (id) DO NOTHING RETURNING id)
		INSERT INTO escalator_escalations (incident, policy, opened_at, next_step, due, notified)
		SELECT x.id, x.policy, x.opened_at, x.step, x.due, x.notified FROM x JOIN ins USING (id) WHERE x.policy <> ''`,
		ids, statuses, sevs, opened, data, pols, dues, steps, notified)
	return nil
}
