package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// Claim implements Store: leased rows are invisible to other replicas
// until the lease ends, and rows another replica is claiming are skipped.
// Each notification comes with its incident as the claim found it
// (Subject), read by the same statement: a sender needs it for every
// send, and claims take one or two notifications at a time in a storm.
func (s *Postgres) Claim(ctx context.Context, channel string, now time.Time, lease time.Duration, limit int) ([]Notification, error) {
	// Only the oldest notification of an incident to a channel is taken:
	// a resolve never overtakes its trigger (PagerDuty would drop a
	// resolve for an incident it does not know yet, then open it).
	var out []Notification
	err := s.inPipeline(ctx, func(b *pgx.Batch) error {
		b.Queue(claimPlanSQL)
		b.Queue(claimSQL, now, now.Add(lease), limit, channel)
		return nil
	}, func(br pgx.BatchResults) error {
		out = out[:0]
		if _, err := br.Exec(); err != nil {
			return err
		}
		rows := rowsOf(br)
		defer rows.Close()
		for rows.Next() {
			n, err := scanClaimed(rows, now)
			if err != nil {
				return err
			}
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

// claimedColumns are the notification's columns of a claimSQL row; the
// incident's (selectIncidents') follow, NULL when it is gone.
const claimedColumns = 12

// scanClaimed reads a row of claimSQL.
func scanClaimed(rows pgx.Rows, now time.Time) (Notification, error) {
	n := Notification{NextTry: now}
	var due, started, asked pgtype.Timestamptz
	var approvedBy pgtype.Text
	dest := make([]any, len(rows.FieldDescriptions()))
	copy(dest, []any{&n.Seq, &n.Key, &n.Incident, &n.Step, &n.Channel, &n.Event, &n.Attempts, &n.Created, &due, &started, &asked, &approvedBy})
	if err := rows.Scan(dest...); err != nil {
		return n, err
	}
	if due.Valid {
		n.Due = due.Time
	}
	n.Started, n.Asked, n.ApprovedBy = started.Time, asked.Time, approvedBy.String
	if raw := rows.RawValues(); raw[claimedColumns] == nil || raw[claimedColumns+1] == nil {
		return n, nil // pruned: the sender reads it (and finds none)
	}
	// The document is decoded here, not by the scan: a scan error would
	// end the claim's rows, whose leases are committed, and hold back
	// every notification of the claim at each claim. Undecodable, it is
	// left to the send, which reads it again and fails alone.
	var data []byte
	st, err := scanState(skipping{rows, claimedColumns}, &data)
	if err != nil {
		return n, err
	}
	var inc Incident
	if json.Unmarshal(data, &inc) != nil {
		return n, nil
	}
	st.set(&inc)
	n.Subject = &inc
	return n, nil
}

// skipping is a row whose first n columns a scan leaves alone.
type skipping struct {
	pgx.Row
	n int
}

func (r skipping) Scan(dest ...any) error {
	return r.Row.Scan(append(make([]any, r.n), dest...)...)
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
//
// The incidents, with their state rows, are joined by primary key (every
// plan of a claim finds rows through an index), left joined: a
// notification whose incident was pruned is still claimed, and fails at
// its send.
const claimSQL = `WITH claimed AS (UPDATE escalator_outbox SET next_try = $2
		WHERE seq = ANY (ARRAY(SELECT o.seq FROM escalator_outbox o WHERE o.next_try <= $1 AND ($4 = '' OR o.channel = $4)
			AND NOT EXISTS (SELECT 1 FROM escalator_outbox p WHERE p.incident = o.incident AND p.channel || '' = o.channel AND p.seq + 0 < o.seq)
			ORDER BY o.seq LIMIT $3 FOR UPDATE SKIP LOCKED))
		RETURNING seq, key, incident, step, channel, event, attempts, created, due, started, asked, approved_by)
	SELECT c.*, i.data, ` + stateColumns + `
	FROM claimed c LEFT JOIN (escalator_incidents i JOIN escalator_state s ON s.incident = i.id) ON i.id = c.incident`

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
	err := s.inPipeline(ctx, func(b *pgx.Batch) error {
		if len(gone) > 0 {
			b.Queue(`DELETE FROM escalator_outbox WHERE seq = ANY($1)`, gone)
		}
		if len(retried) > 0 {
			b.Queue(`UPDATE escalator_outbox o SET attempts = attempts + 1, next_try = x.t
				FROM unnest($1::bigint[], $2::timestamptz[]) AS x(seq, t) WHERE o.seq = x.seq`, retried, retryAt)
		}
		return w.queue(b)
	}, nil)
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
