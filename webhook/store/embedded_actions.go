package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/hotel-ops/hotel-ops/webhook/store/kv"
)

// bActionRuns records every run begun: action, 0, start (8 bytes, ns),
// target → incident. One action's runs are contiguous and in time
// order, so a begin reads only the runs within its cooldown or budget
// window.
var bActionRuns = []byte("action_runs")

func runKey(action string, started time.Time, target string) []byte {
	k := make([]byte, 0, len(action)+9+len(target))
	k = append(k, action...)
	k = append(k, 0)
	k = binary.BigEndian.AppendUint64(k, uint64(started.UnixNano()))
	return append(k, target...)
}

// BeginAction implements Store.
func (s *Embedded) BeginAction(ctx context.Context, n Notification, lim ActionLimits, now time.Time) (ActionStart, error) {
	var res ActionStart
	name := ActionName(n.Channel)
	err := s.commits.write(ctx, func(tx *kv.Tx) error {
		res = ActionStart{}
		q := tx.Bucket(bQueues).Bucket([]byte(n.Channel))
		var v []byte
		if q != nil {
			v = q.Get(seqKey(n.Seq))
		}
		f := actionFacts{Queued: v != nil}
		var cur Notification
		if v != nil {
			var err error
			if cur, err = decodeNote(n.Seq, v); err != nil {
				return err
			}
			f.Started, f.Asked, f.ApprovedBy = cur.Started, cur.Asked, cur.ApprovedBy
			inc, err := loadState(tx, n.Incident)
			if err != nil {
				return err
			}
			if inc != nil {
				f.Status = inc.Status
			}
			if err := runFacts(tx, name, lim, now, &f); err != nil {
				return err
			}
		}
		res = decideAction(f, lim, now)
		runs := tx.Bucket(bActionRuns)
		switch res.Verdict {
		case ActionGone:
			return nil
		case ActionAwaiting:
			if !cur.Asked.IsZero() {
				return nil // asked already: it waits on
			}
			cur.Asked, cur.NextTry = now, now.Add(lim.Approval)
			enc, err := encodeNote(cur)
			if err != nil {
				return err
			}
			if err := q.Put(seqKey(n.Seq), enc); err != nil {
				return err
			}
			return audit(tx, now, n.Incident, actionAuditName(res.Verdict), actionDetail(n, res.Detail))
		case ActionStarted:
			cur.Started = now
			enc, err := encodeNote(cur)
			if err != nil {
				return err
			}
			if err := q.Put(seqKey(n.Seq), enc); err != nil {
				return err
			}
			if err := putJSON(runs, runKey(name, now, lim.Target), runRecord{Incident: n.Incident, Key: n.Key}); err != nil {
				return err
			}
		case ActionRefired:
			mark := runRecord{Incident: n.Incident, Key: n.Key, Outcome: markRefired, Finished: now}
			if err := putJSON(runs, runKey(name, now, lim.Target), mark); err != nil {
				return err
			}
			fallthrough
		default:
			if err := q.Delete(seqKey(n.Seq)); err != nil {
				return err
			}
		}
		if err := audit(tx, now, n.Incident, actionAuditName(res.Verdict), actionDetail(n, res.Detail)); err != nil {
			return err
		}
		if res.Run() {
			return nil
		}
		return endedRun(tx, n, res.Verdict, now)
	})
	if err != nil {
		s.unclaim(n.Seq)
		return ActionStart{}, fmt.Errorf("beginning action %s: %w", n.Key, err)
	}
	if !res.Run() {
		s.unclaim(n.Seq)
	}
	return res, nil
}

// endedRun applies the end of a run to its incident.
func endedRun(tx *kv.Tx, n Notification, verdict string, now time.Time) error {
	cur, err := loadState(tx, n.Incident)
	if err != nil || cur == nil {
		return err
	}
	return write(tx, Apply(cur, ended(n, verdict, now), nil))
}

// runFacts reads the action's record of runs, newest first: the
// target's latest run, the runs within the budget window, and the latest
// outcomes the breaker counts. Runs are few (a budget bounds them), so
// the walk is short.
func runFacts(tx *kv.Tx, action string, lim ActionLimits, now time.Time, f *actionFacts) error {
	prefix := append([]byte(action), 0)
	c := tx.Bucket(bActionRuns).Cursor()
	k, _ := c.Seek(append([]byte(action), 1))
	var v []byte
	if k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Prev() {
		if len(k) < len(prefix)+8 {
			continue
		}
		var r runRecord
		if err := unmarshal(v, &r); err != nil {
			return fmt.Errorf("corrupt run of %s: %w", action, err)
		}
		r.Started = time.Unix(0, int64(binary.BigEndian.Uint64(k[len(prefix):]))).UTC()
		target := string(k[len(prefix)+8:])
		if isRun(r.Outcome) && lim.BudgetMax > 0 && now.Sub(r.Started) < lim.BudgetWindow {
			f.RunsInWindow++
		}
		if r.Outcome != "" && len(f.Recent) < lim.BreakerFailures {
			f.Recent = append(f.Recent, r.Outcome)
		}
		if isRun(r.Outcome) && target == lim.Target && f.Last.Started.IsZero() {
			f.Last = r
		}
	}
	return nil
}

// FinishAction implements Store.
func (s *Embedded) FinishAction(ctx context.Context, n Notification, o ActionOutcome) error {
	defer s.unclaim(n.Seq)
	name := ActionName(n.Channel)
	err := s.commits.write(ctx, func(tx *kv.Tx) error {
		q := tx.Bucket(bQueues).Bucket([]byte(n.Channel))
		var v []byte
		if q != nil {
			v = q.Get(seqKey(n.Seq))
		}
		if v == nil {
			return nil // finished before
		}
		cur, err := decodeNote(n.Seq, v)
		if err != nil {
			return err
		}
		if !cur.Started.IsZero() {
			if err := finishRun(tx, name, cur, o); err != nil {
				return err
			}
		}
		if err := q.Delete(seqKey(n.Seq)); err != nil {
			return err
		}
		if err := audit(tx, o.Now, n.Incident, actionAuditName(o.Verdict), actionDetail(n, o.Detail)); err != nil {
			return err
		}
		return endedRun(tx, n, o.Verdict, o.Now)
	})
	if err != nil {
		return fmt.Errorf("finishing action %s: %w", n.Key, err)
	}
	return nil
}

// finishRun records the outcome on the run n began.
func finishRun(tx *kv.Tx, action string, n Notification, o ActionOutcome) error {
	runs := tx.Bucket(bActionRuns)
	at := runKey(action, n.Started, "")
	c := runs.Cursor()
	for k, v := c.Seek(at); k != nil && bytes.HasPrefix(k, at); k, v = c.Next() {
		var r runRecord
		if err := unmarshal(v, &r); err != nil {
			return fmt.Errorf("corrupt run of %s: %w", action, err)
		}
		if r.Key == n.Key {
			r.Outcome, r.Finished = o.Verdict, o.Now
			return putJSON(runs, append([]byte(nil), k...), r)
		}
	}
	return nil
}

// ApproveAction implements Store.
func (s *Embedded) ApproveAction(ctx context.Context, incident, action, by string, now time.Time) error {
	found := false
	err := s.commits.write(ctx, func(tx *kv.Tx) error {
		found = false
		q := tx.Bucket(bQueues).Bucket([]byte(ActionQueue(action)))
		if q == nil {
			return nil
		}
		c := q.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			_, inc, err := noteHead(v)
			if err != nil {
				return err
			}
			if inc != incident {
				continue
			}
			n, err := decodeNote(binary.BigEndian.Uint64(k), v)
			if err != nil {
				return err
			}
			if n.Asked.IsZero() || n.ApprovedBy != "" || !n.Started.IsZero() {
				continue
			}
			n.ApprovedBy, n.NextTry = by, now
			enc, err := encodeNote(n)
			if err != nil {
				return err
			}
			if err := q.Put(append([]byte(nil), k...), enc); err != nil {
				return err
			}
			found = true
			return audit(tx, now, incident, "action_approved", actionDetail(n, "approved by "+by))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("approving %s for %s: %w", action, incident, err)
	}
	if !found {
		return ErrNotFound
	}
	return nil
}

// bOnce holds ClaimOnce's keys: key → when (8 bytes, ns).
var bOnce = []byte("once")

// ClaimOnce implements Store.
func (s *Embedded) ClaimOnce(ctx context.Context, key string, now time.Time) (bool, error) {
	first := false
	err := s.commits.write(ctx, func(tx *kv.Tx) error {
		b := tx.Bucket(bOnce)
		if first = b.Get([]byte(key)) == nil; !first {
			return nil
		}
		return b.Put([]byte(key), seqKey(uint64(now.UnixNano())))
	})
	if err != nil {
		return false, fmt.Errorf("claiming %s: %w", key, err)
	}
	return first, nil
}

// Record implements Store.
func (s *Embedded) Record(ctx context.Context, e Entry) error {
	return s.commits.write(ctx, func(tx *kv.Tx) error { return audit(tx, e.Time, e.Incident, e.Action, e.Detail) })
}

// ResetAction implements Store.
func (s *Embedded) ResetAction(ctx context.Context, action, by string, now time.Time) error {
	return s.commits.write(ctx, func(tx *kv.Tx) error {
		if err := putJSON(tx.Bucket(bActionRuns), runKey(action, now, ""), runRecord{Outcome: markReset, Finished: now, Key: by}); err != nil {
			return err
		}
		return audit(tx, now, "", actionAuditName(markReset), action+": breaker reset by "+by)
	})
}

// unclaim ends the in-memory claim of a queued entry.
func (s *Embedded) unclaim(seq uint64) {
	s.flight.mu.Lock()
	delete(s.flight.until, seq)
	s.flight.mu.Unlock()
}

// pruneActionRuns removes the runs begun before the time (a run matters
// to its cooldown and budget window only, and the audit keeps its
// story), and ClaimOnce's keys claimed before it.
func pruneActionRuns(tx *kv.Tx, before time.Time) error {
	var old [][]byte
	err := tx.Bucket(bOnce).ForEach(func(k, v []byte) error {
		if len(v) == 8 && int64(binary.BigEndian.Uint64(v)) < before.UnixNano() {
			old = append(old, append([]byte(nil), k...))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range old {
		if err := tx.Bucket(bOnce).Delete(k); err != nil {
			return err
		}
	}
	var gone [][]byte
	err = tx.Bucket(bActionRuns).ForEach(func(k, _ []byte) error {
		i := bytes.IndexByte(k, 0)
		if i >= 0 && len(k) >= i+9 && int64(binary.BigEndian.Uint64(k[i+1:])) < before.UnixNano() {
			gone = append(gone, append([]byte(nil), k...))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range gone {
		if err := tx.Bucket(bActionRuns).Delete(k); err != nil {
			return err
		}
	}
	return nil
}
