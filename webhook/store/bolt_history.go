package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// historyChunk bounds the records one transaction removes, so that
// pruning a long history does not hold the writer lock for long.
const historyChunk = 1000

// PruneHistory implements Store.
func (s *Bolt) PruneHistory(ctx context.Context, before time.Time) (incidents, entries int, err error) {
	chunk := func(prune func(*bolt.Tx, time.Time) (int, error)) func() (int, error) {
		return func() (n int, err error) {
			err = s.db.Update(func(tx *bolt.Tx) error {
				n, err = prune(tx, before)
				return err
			})
			return n, err
		}
	}
	if incidents, err = inChunks(ctx, chunk(pruneIncidents)); err != nil {
		return incidents, 0, fmt.Errorf("pruning resolved incidents: %w", err)
	}
	if entries, err = inChunks(ctx, chunk(pruneAudit)); err != nil {
		return incidents, entries, fmt.Errorf("pruning the audit log: %w", err)
	}
	return incidents, entries, ctx.Err()
}

// inChunks runs prune, one chunk at a time, until a chunk is not full
// or ctx ends, and returns how many records it removed.
func inChunks(ctx context.Context, prune func() (int, error)) (int, error) {
	total := 0
	for {
		n, err := prune()
		total += n
		if err != nil || n < historyChunk || ctx.Err() != nil {
			return total, err
		}
	}
}

// pruneIncidents removes up to historyChunk incidents resolved before
// the time, with their state records. IDs begin with the alert's start
// in hex Unix seconds (payload.IncidentID), and an incident resolved
// before the time started before it: only the keys below that prefix
// are read.
func pruneIncidents(tx *bolt.Tx, before time.Time) (int, error) {
	bound := fmt.Sprintf("%09x", uint64(before.Unix()))
	var gone [][]byte
	c := tx.Bucket(bIncidents).Cursor()
	for k, v := c.First(); k != nil && string(k) < bound && len(gone) < historyChunk; k, v = c.Next() {
		var inc struct {
			Status     string    `json:"status"`
			ResolvedAt time.Time `json:"resolvedAt"`
		}
		if err := json.Unmarshal(v, &inc); err != nil {
			return 0, fmt.Errorf("incident %s: %w", k, err)
		}
		if inc.Status == Resolved && inc.ResolvedAt.Before(before) {
			gone = append(gone, append([]byte(nil), k...))
		}
	}
	// Deleted after the walk: a bbolt cursor may skip a key after a
	// delete.
	for _, k := range gone {
		if err := tx.Bucket(bIncidents).Delete(k); err != nil {
			return 0, err
		}
		if err := tx.Bucket(bState).Delete(k); err != nil {
			return 0, err
		}
	}
	return len(gone), nil
}

// pruneAudit removes up to historyChunk of the oldest audit entries
// written before the time. Entries are keyed in the order they were
// written, so the walk stops at the first newer one.
func pruneAudit(tx *bolt.Tx, before time.Time) (int, error) {
	var gone [][]byte
	c := tx.Bucket(bAudit).Cursor()
	for k, v := c.First(); k != nil && len(gone) < historyChunk; k, v = c.Next() {
		var e struct {
			Time time.Time `json:"time"`
		}
		if err := json.Unmarshal(v, &e); err != nil {
			return 0, fmt.Errorf("audit entry: %w", err)
		}
		if !e.Time.Before(before) {
			break
		}
		gone = append(gone, append([]byte(nil), k...))
	}
	for _, k := range gone {
		if err := tx.Bucket(bAudit).Delete(k); err != nil {
			return 0, err
		}
	}
	return len(gone), nil
}
