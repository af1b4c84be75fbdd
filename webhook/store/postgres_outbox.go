package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// Claim implements Store: leased rows are invisible to other replicas
// until the lease ends, and rows another replica is claiming are skipped.
func (s *Postgres) Claim(ctx context.Context, channel string, now time.Time, lease time.Duration, limit int) ([]Notification, error) {
	// Only the oldest notification of an incident to a channel is taken:
	// a resolve never overtakes its trigger (PagerDuty would drop a
	// resolve for an incident it does not know yet, then open it).
	var out []Notification
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(claimPlanSQL)
		b.Queue(claimSQL, now, now.Add(lease), limit, channel)
		br := tx.SendBatch(ctx, b)
		defer br.Close()
		if _, err := br.Exec(); err != nil {
			return err
		}
		rows := rowsOf(br)
		for rows.Next() {
			n := Notification{NextTry: now}
			var due, started, asked pgtype.Timestamptz
			var approvedBy pgtype.Text
			if err := rows.Scan(&n.Seq, &n.Key, &n.Incident, &n.Step, &n.Channel, &n.Event, &n.Attempts, &n.Created, &due, &started, &asked, &approvedBy); err != nil {
				rows.Close()
				return err
			}
			if due.Valid {
				n.Due = due.Time
			}
			n.Started, n.Asked, n.ApprovedBy = started.Time, asked.Time, approvedBy.String
			out = append(out, n)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("claiming notifications: %w", err)
	}
	sortBySeq(out)
	return out, nil
}

// claimSQL takes the due notifications of a channel ($4; empty for all),
// each its incident's oldest to its channel, in queue order; planned as
// claimPlanSQL says (postgres_plans.go). The rows are chosen once (an
// array, computed before the update) and then updated by primary key: as
// "WHERE seq IN (subquery)", the plan a connection made at its first
// claim, while the outbox was nearly empty, ran the whole choice again for
// every row of the outbox, and claims in a storm took up to 11 s. And
// p.channel and p.seq appear only in expressions (an empty string
// appended, 0 added): the older notifications of a candidate are found
// by its incident, through the queue's index, the only one left usable.
// Planned for an empty outbox, the plan took the primary key for seq (or
// the channel's index) and walked the queue before the candidate, dead
// rows included, for each candidate: 2.5 ms a claim in a storm, more than
// all of PostgreSQL's other work.
const claimSQL = `UPDATE escalator_outbox SET next_try = $2
		WHERE seq = ANY (ARRAY(SELECT o.seq FROM escalator_outbox o WHERE o.next_try <= $1 AND ($4 = '' OR o.channel = $4)
			AND NOT EXISTS (SELECT 1 FROM escalator_outbox p WHERE p.incident = o.incident AND p.channel || '' = o.channel AND p.seq + 0 < o.seq)
			ORDER BY o.seq LIMIT $3 FOR UPDATE SKIP LOCKED))
		RETURNING seq, key, incident, step, channel, event, attempts, created, due, started, asked, approved_by`

// Settle implements Store: one transaction, a statement per kind of
// outcome, however many.
func (s *Postgres) Settle(ctx context.Context, outcomes []Outcome) error {
	var gone, retried []int64
	var retryAt []time.Time
	var w writes
	for _, o := range outcomes {
		n := o.N
		switch {
		case o.Err == nil:
			gone = append(gone, int64(n.Seq))
			w.log(o.Now, n.Incident, "notified", notifiedDetail(n))
		case o.RetryAt.IsZero():
			gone = append(gone, int64(n.Seq))
			w.log(o.Now, n.Incident, "notify_failed", failedDetail(n, o.Err))
		default:
			retried, retryAt = append(retried, int64(n.Seq)), append(retryAt, o.RetryAt)
		}
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		if len(gone) > 0 {
			b.Queue(`DELETE FROM escalator_outbox WHERE seq = ANY($1)`, gone)
		}
		if len(retried) > 0 {
			b.Queue(`UPDATE escalator_outbox o SET attempts = attempts + 1, next_try = x.t
				FROM unnest($1::bigint[], $2::timestamptz[]) AS x(seq, t) WHERE o.seq = x.seq`, retried, retryAt)
		}
		if err := w.queue(b); err != nil {
			return err
		}
		return runBatch(ctx, tx, b)
	})
	if err != nil {
		return fmt.Errorf("settling %d notifications: %w", len(outcomes), err)
	}
	return nil
}

// Channels implements Store.
func (s *Postgres) Channels(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT channel FROM escalator_outbox ORDER BY 1`)
	if err != nil {
		return nil, fmt.Errorf("listing queued channels: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("listing queued channels: %w", err)
	}
	return out, nil
}
