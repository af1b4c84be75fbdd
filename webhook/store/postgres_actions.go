package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// lockActionSQL serialises the transactions that read and write one
// action's runs, so that two replicas beginning runs of it at once count
// each other's for the cooldown, the budget and the breaker.
const lockActionSQL = `SELECT pg_advisory_xact_lock(hashtextextended('action:' || $1, 7268430217))`

// BeginAction implements Store.
func (s *Postgres) BeginAction(ctx context.Context, n Notification, lim ActionLimits, now time.Time) (ActionStart, error) {
	name := ActionName(n.Channel)
	var res ActionStart
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		res = ActionStart{}
		if _, err := tx.Exec(ctx, lockActionSQL, name); err != nil {
			return err
		}
		f := actionFacts{}
		var started, asked pgtype.Timestamptz
		var approvedBy pgtype.Text
		err := tx.QueryRow(ctx, `SELECT started, asked, approved_by FROM escalator_outbox WHERE seq = $1 FOR UPDATE`, int64(n.Seq)).Scan(&started, &asked, &approvedBy)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return err
		default:
			f.Queued, f.Started, f.Asked, f.ApprovedBy = true, started.Time, asked.Time, approvedBy.String
			known, err := lockIncidents(ctx, tx, []string{n.Incident})
			if err != nil {
				return err
			}
			if inc := known[n.Incident]; inc != nil {
				f.Status = inc.Status
			}
			if err := pgRunFacts(ctx, tx, name, lim, now, &f); err != nil {
				return err
			}
		}
		res = decideAction(f, lim, now)
		b := &pgx.Batch{}
		switch res.Verdict {
		case ActionGone:
			return nil
		case ActionAwaiting:
			if f.Asked.IsZero() {
				b.Queue(`UPDATE escalator_outbox SET asked = $2, next_try = $3 WHERE seq = $1`, int64(n.Seq), now, now.Add(lim.Approval))
				var w writes
				w.log(now, n.Incident, actionAuditName(res.Verdict), actionDetail(n, res.Detail))
				if err := w.queue(b); err != nil {
					return err
				}
			}
			return runBatch(ctx, tx, b)
		case ActionStarted:
			b.Queue(`UPDATE escalator_outbox SET started = $2 WHERE seq = $1`, int64(n.Seq), now)
			b.Queue(`INSERT INTO escalator_action_runs (action, started, target, incident, run_key) VALUES ($1, $2, $3, $4, $5)`,
				name, now, lim.Target, n.Incident, n.Key)
		case ActionRefired:
			b.Queue(`INSERT INTO escalator_action_runs (action, started, target, incident, run_key, outcome, finished) VALUES ($1, $2, $3, $4, $5, $6, $2)`,
				name, now, lim.Target, n.Incident, n.Key, markRefired)
			fallthrough
		default:
			b.Queue(`DELETE FROM escalator_outbox WHERE seq = $1`, int64(n.Seq))
		}
		var w writes
		w.log(now, n.Incident, actionAuditName(res.Verdict), actionDetail(n, res.Detail))
		if !res.Run() {
			if err := pgEnded(ctx, tx, &w, n, res.Verdict, now); err != nil {
				return err
			}
		}
		if err := w.queue(b); err != nil {
			return err
		}
		return runBatch(ctx, tx, b)
	})
	if err != nil {
		return ActionStart{}, fmt.Errorf("beginning action %s: %w", n.Key, err)
	}
	return res, nil
}

// pgRunFacts reads the action's record of runs, newest first (as
// runFacts does, for the embedded store).
func pgRunFacts(ctx context.Context, tx pgx.Tx, action string, lim ActionLimits, now time.Time, f *actionFacts) error {
	var last runRecord
	var finished pgtype.Timestamptz
	var outcome pgtype.Text
	err := tx.QueryRow(ctx, `SELECT started, outcome, finished FROM escalator_action_runs
		WHERE action = $1 AND target = $2 AND coalesce(outcome, '') NOT IN ('refired', 'reset')
		ORDER BY started DESC LIMIT 1`, action, lim.Target).Scan(&last.Started, &outcome, &finished)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return err
	default:
		last.Outcome, last.Finished = outcome.String, finished.Time
		f.Last = last
	}
	if lim.BudgetMax > 0 {
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM escalator_action_runs
			WHERE action = $1 AND started > $2 AND coalesce(outcome, '') NOT IN ('refired', 'reset')`,
			action, now.Add(-lim.BudgetWindow)).Scan(&f.RunsInWindow); err != nil {
			return err
		}
	}
	if lim.BreakerFailures > 0 {
		rows, err := tx.Query(ctx, `SELECT outcome FROM escalator_action_runs
			WHERE action = $1 AND outcome IS NOT NULL ORDER BY started DESC LIMIT $2`, action, lim.BreakerFailures)
		if err != nil {
			return err
		}
		if f.Recent, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return err
		}
	}
	return nil
}

// pgEnded applies the end of a run to its incident, whose lock the
// transaction holds.
func pgEnded(ctx context.Context, tx pgx.Tx, w *writes, n Notification, verdict string, now time.Time) error {
	known, err := lockIncidents(ctx, tx, []string{n.Incident})
	if err != nil {
		return err
	}
	if cur := known[n.Incident]; cur != nil {
		w.add(Apply(cur, ended(n, verdict, now), nil))
	}
	return nil
}

// FinishAction implements Store.
func (s *Postgres) FinishAction(ctx context.Context, n Notification, o ActionOutcome) error {
	name := ActionName(n.Channel)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, lockActionSQL, name); err != nil {
			return err
		}
		var started pgtype.Timestamptz
		err := tx.QueryRow(ctx, `DELETE FROM escalator_outbox WHERE seq = $1 RETURNING started`, int64(n.Seq)).Scan(&started)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // finished before
		}
		if err != nil {
			return err
		}
		b := &pgx.Batch{}
		if started.Valid {
			b.Queue(`UPDATE escalator_action_runs SET outcome = $3, finished = $4 WHERE action = $1 AND run_key = $2 AND started = $5`,
				name, n.Key, o.Verdict, o.Now, started.Time)
		}
		var w writes
		w.log(o.Now, n.Incident, actionAuditName(o.Verdict), actionDetail(n, o.Detail))
		if err := pgEnded(ctx, tx, &w, n, o.Verdict, o.Now); err != nil {
			return err
		}
		if err := w.queue(b); err != nil {
			return err
		}
		return runBatch(ctx, tx, b)
	})
	if err != nil {
		return fmt.Errorf("finishing action %s: %w", n.Key, err)
	}
	return nil
}

// ApproveAction implements Store.
func (s *Postgres) ApproveAction(ctx context.Context, incident, action, by string, now time.Time) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var key string
		err := tx.QueryRow(ctx, `UPDATE escalator_outbox SET approved_by = $3, next_try = $4
			WHERE seq = (SELECT seq FROM escalator_outbox WHERE incident = $1 AND channel = $2
				AND asked IS NOT NULL AND approved_by IS NULL AND started IS NULL ORDER BY seq LIMIT 1 FOR UPDATE)
			RETURNING key`, incident, ActionQueue(action), by, now).Scan(&key)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		var w writes
		w.log(now, incident, "action_approved", actionDetail(Notification{Channel: ActionQueue(action), Key: key}, "approved by "+by))
		b := &pgx.Batch{}
		if err := w.queue(b); err != nil {
			return err
		}
		return runBatch(ctx, tx, b)
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("approving %s for %s: %w", action, incident, err)
	}
	return err
}

// ClaimOnce implements Store.
func (s *Postgres) ClaimOnce(ctx context.Context, key string, now time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `INSERT INTO escalator_once (key, at) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`, key, now)
	if err != nil {
		return false, fmt.Errorf("claiming %s: %w", key, err)
	}
	return tag.RowsAffected() == 1, nil
}

// Record implements Store.
func (s *Postgres) Record(ctx context.Context, e Entry) error {
	if _, err := s.pool.Exec(ctx, `INSERT INTO escalator_audit (time, incident, action, detail) VALUES ($1, $2, $3, $4)`,
		e.Time, e.Incident, e.Action, e.Detail); err != nil {
		return fmt.Errorf("recording %s of %s: %w", e.Action, e.Incident, err)
	}
	return nil
}

// ResetAction implements Store.
func (s *Postgres) ResetAction(ctx context.Context, action, by string, now time.Time) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, lockActionSQL, action); err != nil {
			return err
		}
		var w writes
		w.log(now, "", actionAuditName(markReset), action+": breaker reset by "+by)
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO escalator_action_runs (action, started, target, incident, run_key, outcome, finished) VALUES ($1, $2, '', '', $3, $4, $2)`,
			action, now, by, markReset)
		if err := w.queue(b); err != nil {
			return err
		}
		return runBatch(ctx, tx, b)
	})
	if err != nil {
		return fmt.Errorf("resetting the breaker of %s: %w", action, err)
	}
	return nil
}
