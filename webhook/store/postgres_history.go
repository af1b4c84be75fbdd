package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// PruneHistory implements Store: in transactions of historyChunk rows,
// so that pruning a long history holds few locks at a time.
func (s *Postgres) PruneHistory(ctx context.Context, before time.Time) (incidents, entries int, err error) {
	incidents, err = inChunks(ctx, func() (n int, err error) {
		err = s.inTx(ctx, func(tx pgx.Tx) error {
			n = 0 // inTx may run this again
			// An incident resolved before the time opened before it: the
			// index on (resolved, opened_at) finds the candidates. SKIP
			// LOCKED, and only those whose ID lock it gets at once
			// (postgres_incidents.go): it never waits for a delivery or an
			// ack, and one another transaction holds is left for the next
			// pass.
			rows, err := tx.Query(ctx, `SELECT incident FROM escalator_state
				WHERE (status = 'resolved') AND opened_at < $1 AND resolved_at < $1
					AND pg_try_advisory_xact_lock(`+lockKey("incident")+`)
				LIMIT $2 FOR UPDATE SKIP LOCKED`, before, historyChunk)
			if err != nil {
				return err
			}
			ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil || len(ids) == 0 {
				return err
			}
			b := &pgx.Batch{}
			b.Queue(`DELETE FROM escalator_state WHERE incident = ANY($1)`, ids)
			b.Queue(`DELETE FROM escalator_incidents WHERE id = ANY($1)`, ids)
			br := tx.SendBatch(ctx, b)
			if _, err := br.Exec(); err != nil {
				br.Close()
				return err
			}
			tag, err := br.Exec()
			if cerr := br.Close(); err == nil {
				err = cerr
			}
			n = int(tag.RowsAffected())
			return err
		})
		return n, err
	})
	if err != nil {
		return incidents, 0, fmt.Errorf("pruning resolved incidents: %w", err)
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM escalator_action_runs WHERE started < $1`, before); err != nil {
		return incidents, 0, fmt.Errorf("pruning action runs: %w", err)
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM escalator_once WHERE at < $1`, before); err != nil {
		return incidents, 0, fmt.Errorf("pruning claimed keys: %w", err)
	}
	entries, err = inChunks(ctx, func() (int, error) {
		// The oldest entries by sequence, those among them written
		// before the time: an index walk of historyChunk rows at most,
		// however long the log.
		tag, err := s.pool.Exec(ctx, `DELETE FROM escalator_audit WHERE seq IN (
			SELECT seq FROM escalator_audit ORDER BY seq LIMIT $2) AND time < $1`, before, historyChunk)
		return int(tag.RowsAffected()), err
	})
	if err != nil {
		return incidents, entries, fmt.Errorf("pruning the audit log: %w", err)
	}
	return incidents, entries, ctx.Err()
}
