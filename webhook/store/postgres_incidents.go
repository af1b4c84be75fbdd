package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// The incidents a transaction changes are locked by their IDs with
// advisory locks (lockIDsSQL, in one order in every transaction), taken
// by every transaction that writes an incident: two replicas storing the
// same new alert then take turns, though neither finds a row to lock.
// Their state rows are locked too, after the IDs and in ID order, and
// read by the same statement: a step locks only the state row
// (postgres_fire.go), so this makes a delivery or an ack wait for a step
// being taken, and read the channels it notified.
const lockStatesSQL = `SELECT s.incident, ` + stateColumns + ` FROM escalator_state s
	WHERE s.incident = ANY($1) ORDER BY s.incident FOR UPDATE`

// stateColumns are an incident's state, in escalator_state s, as
// scanState reads them.
const stateColumns = `s.status, s.severity, s.policy, s.opened_at, s.last_seen, s.next_step, s.due, s.notified,
	s.acked_at, s.acked_by, s.resolved_at, s.closed_by, s.silence_id, s.automated`

// lockKey is the advisory lock key of the incident ID in column col.
func lockKey(col string) string { return `hashtextextended(` + col + `, 7268430217)` }

// lockIDsSQL takes a transaction's advisory lock on each incident ID, in
// one order (of the locks' keys) in every transaction.
var lockIDsSQL = `SELECT count(pg_advisory_xact_lock(k)) FROM (
	SELECT DISTINCT ` + lockKey("id") + ` AS k FROM unnest($1::text[]) AS id ORDER BY 1) AS keys`

// queueLocks queues the statements that lock the incidents among ids
// and read their state.
func queueLocks(b *pgx.Batch, ids []string) {
	b.Queue(indexPlanSQL)
	b.Queue(lockIDsSQL, ids)
	b.Queue(lockStatesSQL, ids)
}

// readLocks reads what queueLocks queued: the existing incidents among
// the IDs, by ID, each as its state alone gives it (stateIncident), which
// is all the state machine reads of an incident that exists.
func readLocks(br pgx.BatchResults) (map[string]*Incident, error) {
	if _, err := br.Exec(); err != nil {
		return nil, fmt.Errorf("setting how incidents are found: %w", err)
	}
	if _, err := br.Exec(); err != nil {
		return nil, fmt.Errorf("locking incidents: %w", err)
	}
	out := map[string]*Incident{}
	rows := rowsOf(br)
	for rows.Next() {
		var id string
		st, err := scanState(rows, &id)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("reading an incident's state: %w", err)
		}
		out[id] = stateIncident(id, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading incidents' state: %w", err)
	}
	return out, nil
}

// lockIncidents locks the existing incidents among ids and reads their
// state.
func lockIncidents(ctx context.Context, tx pgx.Tx, ids []string) (map[string]*Incident, error) {
	b := &pgx.Batch{}
	queueLocks(b, ids)
	br := tx.SendBatch(ctx, b)
	known, err := readLocks(br)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return known, err
}

// scanState reads stateColumns, after the columns in before.
func scanState(row pgx.Row, before ...any) (escState, error) {
	var st escState
	var due, acked, resolved pgtype.Timestamptz
	dest := append(before, &st.Status, &st.Severity, &st.Policy, &st.OpenedAt, &st.LastSeen, &st.NextStep, &due, &st.Notified,
		&acked, &st.AckedBy, &resolved, &st.ClosedBy, &st.SilenceID, &st.Automated)
	if err := row.Scan(dest...); err != nil {
		return st, err
	}
	st.NextDue, st.AckedAt, st.ResolvedAt = due.Time, acked.Time, resolved.Time
	return st, nil
}

// selectIncidents reads what scanIncident scans: the document as it
// opened, and the state.
const selectIncidents = `SELECT i.data, ` + stateColumns + `
	FROM escalator_incidents i JOIN escalator_state s ON s.incident = i.id`

// scanIncident reads a row of selectIncidents.
func scanIncident(row pgx.Row) (*Incident, error) {
	var inc Incident
	st, err := scanState(row, &inc)
	if err != nil {
		return nil, err
	}
	st.set(&inc)
	return &inc, nil
}

// nullTime is t, or NULL when zero.
func nullTime(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

// notifiedJSON is the channels notified, as the notified column keeps them.
func notifiedJSON(chs []string) string {
	if len(chs) == 0 {
		return "[]"
	}
	j, _ := json.Marshal(chs) // strings always encode
	return string(j)
}

// Ack implements Store.
func (s *Postgres) Ack(ctx context.Context, id, by string, now time.Time) (*Incident, error) {
	inc, err := s.byHand(ctx, id, Event{Kind: Acknowledge, Now: now, By: by})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("acknowledging %s: %w", id, err)
	}
	return inc, err
}

// Resolve implements Store.
func (s *Postgres) Resolve(ctx context.Context, id, by string, now time.Time) (*Incident, error) {
	inc, err := s.byHand(ctx, id, Event{Kind: CloseByHand, Now: now, By: by})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("resolving %s: %w", id, err)
	}
	return inc, err
}

// byHand applies a person's event to the incident, under its locks.
func (s *Postgres) byHand(ctx context.Context, id string, ev Event) (*Incident, error) {
	var inc *Incident
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := lockIncidents(ctx, tx, []string{id}); err != nil {
			return err
		}
		// Whole: the answer is the incident as it now is.
		cur, err := scanIncident(tx.QueryRow(ctx, selectIncidents+` WHERE i.id = $1`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		e := Apply(cur, ev, nil)
		inc = e.Incident
		var w writes
		w.add(e)
		b := &pgx.Batch{}
		if err := w.queue(b); err != nil {
			return err
		}
		return runBatch(ctx, tx, b)
	})
	return inc, err
}

// SetSilence implements Store.
func (s *Postgres) SetSilence(ctx context.Context, id, silenceID string, now time.Time) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		known, err := lockIncidents(ctx, tx, []string{id})
		if err != nil {
			return err
		}
		inc := known[id]
		if inc == nil {
			return ErrNotFound
		}
		if err := silenceTaken(inc, silenceID); err != nil {
			return err
		}
		inc.SilenceID = silenceID
		var w writes
		w.changed.put(inc)
		w.log(now, id, "silenced", silenceDetail(silenceID))
		b := &pgx.Batch{}
		if err := w.queue(b); err != nil {
			return err
		}
		return runBatch(ctx, tx, b)
	})
	if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrSilenceTaken) {
		return fmt.Errorf("recording the silence of %s: %w", id, err)
	}
	return err
}

// Incident implements Store.
func (s *Postgres) Incident(ctx context.Context, id string) (*Incident, error) {
	inc, err := scanIncident(s.pool.QueryRow(ctx, selectIncidents+` WHERE i.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("reading incident %s: %w", id, err)
	}
	return inc, nil
}

// Incidents implements Store: open ones first, then the most recent.
func (s *Postgres) Incidents(ctx context.Context, limit int) ([]Incident, error) {
	return s.listIncidents(ctx, selectIncidents+` ORDER BY (s.status = 'resolved'), s.opened_at DESC LIMIT $1`, limit)
}

// UnsettledAfter implements Store. It walks the state's primary key from
// after, so that a reconciler's pass reads the narrow table once, a page
// at a time, and the documents only of the incidents it returns.
func (s *Postgres) UnsettledAfter(ctx context.Context, after string, limit int) ([]Incident, error) {
	return s.listIncidents(ctx, selectIncidents+` WHERE s.incident > $1
		AND (s.status <> 'resolved' OR s.silence_id NOT IN ('', $2))
		ORDER BY s.incident LIMIT $3`, after, SilenceExpired, limit)
}

func (s *Postgres) listIncidents(ctx context.Context, sql string, args ...any) ([]Incident, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("listing incidents: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Incident, error) {
		inc, err := scanIncident(r)
		if err != nil {
			return Incident{}, err
		}
		return *inc, nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing incidents: %w", err)
	}
	return out, nil
}

// Audit implements Store: newest first, for one incident or all.
func (s *Postgres) Audit(ctx context.Context, incident string, limit int) ([]Entry, error) {
	rows, err := s.pool.Query(ctx, `SELECT seq, time, incident, action, detail FROM escalator_audit
		WHERE $1 = '' OR incident = $1 ORDER BY seq DESC LIMIT $2`, incident, limit)
	if err != nil {
		return nil, fmt.Errorf("reading the audit log: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Entry, error) {
		var e Entry
		err := r.Scan(&e.Seq, &e.Time, &e.Incident, &e.Action, &e.Detail)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("reading the audit log: %w", err)
	}
	return out, nil
}

// Prune implements Store.
func (s *Postgres) Prune(ctx context.Context, before time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM escalator_deliveries WHERE received < $1`, before)
	if err != nil {
		return 0, fmt.Errorf("pruning deliveries: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// Pending implements Store.
func (s *Postgres) Pending(ctx context.Context) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM escalator_state WHERE due IS NOT NULL`).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting pending steps: %w", err)
	}
	return n, nil
}

// OpenBySeverity implements Store.
func (s *Postgres) OpenBySeverity(ctx context.Context) (map[string]int, error) {
	rows, err := s.pool.Query(ctx, `SELECT severity, count(*) FROM escalator_state WHERE status <> 'resolved' GROUP BY severity`)
	if err != nil {
		return nil, fmt.Errorf("counting incidents: %w", err)
	}
	out := map[string]int{}
	var sev string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&sev, &n}, func() error { out[sev] = n; return nil })
	if err != nil {
		return nil, fmt.Errorf("counting incidents: %w", err)
	}
	return out, nil
}
