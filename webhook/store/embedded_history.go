package store

import (
	"context"
	"fmt"
	"time"

	"github.com/hotel-ops/hotel-ops/webhook/store/kv"
)

// PruneHistory implements Store.
func (s *Embedded) PruneHistory(ctx context.Context, before time.Time) (incidents, entries int, err error) {
	// Incidents: every one is read, a chunk per transaction, each chunk
	// going on from where the last stopped. (Their IDs begin with the
	// alert's start, but that is the sender's clock: one far in the
	// future must not keep an incident for ever.)
	var from []byte
	for {
		var n int
		err := s.db.Update(func(tx *kv.Tx) error {
			var err error
			n, from, err = pruneIncidents(tx, before, from)
			return err
		})
		incidents += n
		if err != nil {
			return incidents, 0, fmt.Errorf("pruning resolved incidents: %w", err)
		}
		if from == nil || ctx.Err() != nil {
			break
		}
	}
	if err := s.db.Update(func(tx *kv.Tx) error { return pruneActionRuns(tx, before) }); err != nil {
		return incidents, 0, fmt.Errorf("pruning action runs: %w", err)
	}
	entries, err = inChunks(ctx, func() (n int, err error) {
		err = s.db.Update(func(tx *kv.Tx) error {
			n, err = pruneAudit(tx, before)
			return err
		})
		return n, err
	})
	if err != nil {
		return incidents, entries, fmt.Errorf("pruning the audit log: %w", err)
	}
	return incidents, entries, ctx.Err()
}

// pruneIncidents reads up to historyChunk incidents from the key from
// (the first when nil) and removes those resolved before the time, with
// their state records. next is where the following chunk starts, nil
// after the last incident.
func pruneIncidents(tx *kv.Tx, before time.Time, from []byte) (n int, next []byte, err error) {
	var gone [][]byte
	c := tx.Bucket(bState).Cursor()
	k, v := c.First()
	if from != nil {
		k, v = c.Seek(from)
	}
	for read := 0; k != nil && read < historyChunk; k, v = c.Next() {
		read++
		st, err := decodeState(string(k), v)
		if err != nil {
			return 0, nil, err
		}
		if st.Status == Resolved && st.ResolvedAt.Before(before) {
			gone = append(gone, append([]byte(nil), k...))
		}
	}
	if k != nil {
		next = append([]byte(nil), k...)
	}
	// Deleted after the walk, which then reads one version throughout.
	for _, k := range gone {
		if err := tx.Bucket(bIncidents).Delete(k); err != nil {
			return 0, nil, err
		}
		if err := tx.Bucket(bState).Delete(k); err != nil {
			return 0, nil, err
		}
	}
	return len(gone), next, nil
}

// pruneAudit removes up to historyChunk of the oldest audit entries
// written before the time. Entries are keyed in the order they were
// written, so the walk stops at the first newer one.
func pruneAudit(tx *kv.Tx, before time.Time) (int, error) {
	var gone [][]byte
	c := tx.Bucket(bAudit).Cursor()
	for k, v := c.First(); k != nil && len(gone) < historyChunk; k, v = c.Next() {
		var e struct {
			Time time.Time `json:"time"`
		}
		if err := unmarshal(v, &e); err != nil {
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
