package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"runtime"
	"sync"
	"time"

	"github.com/hotel-ops/hotel-ops/webhook/store/kv"

	"github.com/hotel-ops/hotel-ops/webhook/policy"
)

// dueStep is one due timer on its way through FireDue.
type dueStep struct {
	key  []byte
	id   string
	at   time.Time
	step int
	raw  []byte // the incident's state as read
	p    prepared
	err  error
}

// encodedNote is a notification encoded for its channel's queue.
type encodedNote struct {
	channel string
	v       []byte
}

// claims are the timers that FireDue calls under way have read and not
// yet written: another call reads past them. The embedded store belongs to
// one process (package kv locks its directory), so a map is enough.
type claims struct {
	mu   sync.Mutex
	keys map[string]bool
}

// FireWorkers implements Parallel: two calls at once, so that one decodes,
// steps and encodes its batch (on every core) while the other holds the
// single writer to store its own. After a restart with 100,000 steps due
// that is most of the work.
func (s *Embedded) FireWorkers() int { return 2 }

// FireDue implements Store, in three parts. It reads up to limit due
// timers (skipping those another call has claimed) in a read transaction,
// and steps each in memory, one goroutine per CPU, outside the writer.
// Then, in a write transaction, it checks each against what is stored
// now: a timer gone (taken, acknowledged, resolved) is skipped, and a
// state written meanwhile is stepped again as it now is; so a step fires
// once, from the state it was taken on.
func (s *Embedded) FireDue(ctx context.Context, pol *policy.File, now time.Time, limit int) ([]Fired, error) {
	due, err := s.readDue(now, limit)
	defer s.release(due)
	if err != nil {
		return nil, err
	}
	parallel(len(due), func(i int) { due[i].prepare(pol, now) })
	return s.applyDue(ctx, due, pol, now)
}

// readDue claims and reads up to limit due timers and the states they step.
func (s *Embedded) readDue(now time.Time, limit int) ([]*dueStep, error) {
	// The claims are held while the read transaction starts and scans: a
	// call that released its claims has committed, so a read that starts
	// after the release sees its timers gone, and one that starts before
	// still sees them claimed.
	s.claimed.mu.Lock()
	defer s.claimed.mu.Unlock()
	var due []*dueStep
	err := s.db.View(func(tx *kv.Tx) error {
		end := timerKey(now, "\xff")
		c := tx.Bucket(bTimers).Cursor()
		for k, v := c.First(); k != nil && bytes.Compare(k, end) <= 0 && len(due) < limit; k, v = c.Next() {
			if s.claimed.keys[string(k)] {
				continue
			}
			d := &dueStep{key: append([]byte(nil), k...), id: string(k[8:]), step: int(binary.BigEndian.Uint32(v)),
				at: time.Unix(0, int64(binary.BigEndian.Uint64(k[:8])))}
			d.raw = bytes.Clone(stateBytes(tx, d.id))
			due = append(due, d)
		}
		return nil
	})
	for _, d := range due {
		s.claimed.keys[string(d.key)] = true
	}
	return due, err
}

// release gives back the claims of readDue.
func (s *Embedded) release(due []*dueStep) {
	s.claimed.mu.Lock()
	defer s.claimed.mu.Unlock()
	for _, d := range due {
		delete(s.claimed.keys, string(d.key))
	}
}

// stateBytes is what a step is taken on: the incident's state.
func stateBytes(tx *kv.Tx, id string) []byte {
	return tx.Bucket(bState).Get([]byte(id))
}

// applyDue writes the prepared steps in one transaction, each checked
// against what is stored now.
func (s *Embedded) applyDue(ctx context.Context, due []*dueStep, pol *policy.File, now time.Time) ([]Fired, error) {
	var fired []Fired
	// Through the group commit: in a storm, steps come due as fast as
	// deliveries open incidents, and a commit of their own each would
	// take the writer from the deliveries for an fsync apiece.
	err := s.commits.write(ctx, func(tx *kv.Tx) error {
		fired = fired[:0]
		timers := tx.Bucket(bTimers)
		for _, d := range due {
			if v := timers.Get(d.key); v == nil || int(binary.BigEndian.Uint32(v)) != d.step {
				continue // taken, or removed by an acknowledgement or a resolve, since it was read
			}
			if raw := stateBytes(tx, d.id); !bytes.Equal(raw, d.raw) {
				d.raw = bytes.Clone(raw) // written since it was read: step it as it is now
				d.prepare(pol, now)
			}
			if d.err != nil {
				return d.err
			}
			if err := timers.Delete(d.key); err != nil {
				return err
			}
			e := d.p.e
			if !e.Changed {
				continue // stale: the timer is gone, nothing else changes
			}
			if err := writePrepared(tx, &d.p); err != nil {
				return err
			}
			if e.Fired != nil {
				fired = append(fired, *e.Fired)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err // after ctx ended the function may still run: fired is not read
	}
	return fired, nil
}

// prepare decodes the incident, takes the step and encodes what changes.
// It may run again on the same step, with the state read anew.
func (d *dueStep) prepare(pol *policy.File, now time.Time) {
	d.p, d.err = prepared{}, nil
	var inc *Incident
	if d.raw != nil { // nil: the incident is gone, a stale timer
		st, err := decodeState(d.id, d.raw)
		if err != nil {
			d.err = err
			return
		}
		inc = stateIncident(d.id, st)
	}
	d.p.e = Apply(inc, Event{Kind: StepDue, Now: now, Step: d.step, Due: d.at}, pol)
	if d.p.e.Changed {
		d.err = d.p.encode()
	}
}

// parallel runs f(0..n-1) on one goroutine per CPU.
func parallel(n int, f func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				f(i)
			}
		}()
	}
	wg.Wait()
}
