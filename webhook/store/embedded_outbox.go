package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hotel-ops/hotel-ops/webhook/store/kv"
)

// The embedded store's outbox: a queue per channel (a bucket in
// bQueues), each keyed by a sequence shared by all, so that one channel's
// sender reads only its own queue and a channel whose receiver is down
// costs the others nothing.
//
// A claim is held in memory, not written: the file belongs to one
// process (package kv locks it), so after a crash or a kill nothing is in
// flight, and the sends that were are taken again at once when the
// process starts, not after a lease runs out. Claiming then costs no
// commit; only the outcome is written.
var (
	bQueues = []byte("queues") // channel → (seq → encoded notification)
	// bOldOutbox is the single queue of earlier versions, moved into
	// bQueues when the file is opened.
	bOldOutbox = []byte("outbox")
)

// inFlight are the notifications claimed and not yet settled.
type inFlight struct {
	mu    sync.Mutex
	until map[uint64]time.Time // seq → when the claim lapses (a sender that never settles)
}

// A queued notification is encoded as its next try (8 bytes, Unix ns),
// the length of its incident's ID (2 bytes), the ID, then the
// notification as JSON: a claim reads only the head of the entries it
// passes over.
func encodeNote(n Notification) ([]byte, error) {
	data, err := marshal(n)
	if err != nil {
		return nil, err
	}
	if len(n.Incident) > 0xffff {
		return nil, fmt.Errorf("incident ID of %d bytes", len(n.Incident))
	}
	v := make([]byte, 10, 10+len(n.Incident)+len(data))
	binary.BigEndian.PutUint64(v, uint64(n.NextTry.UnixNano()))
	binary.BigEndian.PutUint16(v[8:], uint16(len(n.Incident)))
	v = append(v, n.Incident...)
	return append(v, data...), nil
}

var errCorruptNote = errors.New("corrupt outbox entry")

// noteHead reads an entry's next try and incident.
func noteHead(v []byte) (next int64, incident string, err error) {
	if len(v) < 10 || len(v) < 10+int(binary.BigEndian.Uint16(v[8:])) {
		return 0, "", errCorruptNote
	}
	l := int(binary.BigEndian.Uint16(v[8:]))
	return int64(binary.BigEndian.Uint64(v)), string(v[10 : 10+l]), nil
}

func decodeNote(seq uint64, v []byte) (Notification, error) {
	var n Notification
	if len(v) < 10 {
		return n, errCorruptNote
	}
	l := int(binary.BigEndian.Uint16(v[8:]))
	if err := unmarshal(v[10+l:], &n); err != nil {
		return n, fmt.Errorf("%w %d: %v", errCorruptNote, seq, err)
	}
	n.Seq = seq
	return n, nil
}

// enqueue adds n to its channel's queue.
func enqueue(tx *kv.Tx, n Notification) error {
	v, err := encodeNote(n)
	if err != nil {
		return err
	}
	return enqueueEncoded(tx, n.Channel, v)
}

func enqueueEncoded(tx *kv.Tx, channel string, v []byte) error {
	queues := tx.Bucket(bQueues)
	q, err := queues.CreateBucketIfNotExists([]byte(channel))
	if err != nil {
		return fmt.Errorf("queue of %s: %w", channel, err)
	}
	seq, _ := queues.NextSequence()
	return q.Put(seqKey(seq), v)
}

// moveOldOutbox moves the single queue of a file of an earlier version
// into the queues, keeping each entry's sequence.
func moveOldOutbox(tx *kv.Tx) error {
	old := tx.Bucket(bOldOutbox)
	if old == nil {
		return nil
	}
	queues := tx.Bucket(bQueues)
	err := old.ForEach(func(k, v []byte) error {
		var n Notification
		if err := unmarshal(v, &n); err != nil {
			return fmt.Errorf("outbox entry %x: %w", k, err)
		}
		enc, err := encodeNote(n)
		if err != nil {
			return err
		}
		q, err := queues.CreateBucketIfNotExists([]byte(n.Channel))
		if err != nil {
			return err
		}
		return q.Put(k, enc)
	})
	if err != nil {
		return err
	}
	if queues.Sequence() < old.Sequence() {
		if err := queues.SetSequence(old.Sequence()); err != nil {
			return err
		}
	}
	return tx.DeleteBucket(bOldOutbox)
}

// Claim implements Store. Only the oldest notification of an incident to
// a channel is taken: a resolve never overtakes its trigger.
func (s *Embedded) Claim(ctx context.Context, channel string, now time.Time, lease time.Duration, limit int) ([]Notification, error) {
	s.flight.mu.Lock()
	defer s.flight.mu.Unlock()
	var out []Notification
	err := s.db.View(func(tx *kv.Tx) error {
		queues := tx.Bucket(bQueues)
		if channel != "" {
			q := queues.Bucket([]byte(channel))
			if q == nil {
				return nil
			}
			var err error
			out, err = s.claimQueue(q, now, limit)
			return err
		}
		return queues.ForEachBucket(func(name []byte) error {
			got, err := s.claimQueue(queues.Bucket(name), now, limit)
			out = append(out, got...)
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("claiming notifications: %w", err)
	}
	sortBySeq(out)
	if len(out) > limit {
		out = out[:limit]
	}
	for _, n := range out {
		s.flight.until[n.Seq] = now.Add(lease)
	}
	return out, nil
}

// claimQueue reads up to limit notifications of one queue that are due
// and not in flight, each its incident's oldest. s.flight.mu is held.
func (s *Embedded) claimQueue(q *kv.Bucket, now time.Time, limit int) ([]Notification, error) {
	var out []Notification
	seen := map[string]bool{}
	c := q.Cursor()
	for k, v := c.First(); k != nil && len(out) < limit; k, v = c.Next() {
		next, incident, err := noteHead(v)
		if err != nil {
			return nil, err
		}
		if seen[incident] {
			continue // an older one of the incident comes first
		}
		seen[incident] = true
		seq := binary.BigEndian.Uint64(k)
		if until, ok := s.flight.until[seq]; ok && until.After(now) {
			continue
		}
		if next > now.UnixNano() {
			continue
		}
		n, err := decodeNote(seq, v)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// Settle implements Store. The claims are released once the outcomes
// are committed (or failed to be): a claim never sees a sent
// notification still queued.
func (s *Embedded) Settle(ctx context.Context, outcomes []Outcome) error {
	defer func() {
		s.flight.mu.Lock()
		for _, o := range outcomes {
			delete(s.flight.until, o.N.Seq)
		}
		s.flight.mu.Unlock()
	}()
	return s.commits.write(ctx, func(tx *kv.Tx) error {
		for _, o := range outcomes {
			if err := settle(tx, o); err != nil {
				return err
			}
		}
		return nil
	})
}

func settle(tx *kv.Tx, o Outcome) error {
	n := o.N
	q := tx.Bucket(bQueues).Bucket([]byte(n.Channel))
	if q == nil {
		return nil // settled before
	}
	switch {
	case o.Err == nil:
		if err := q.Delete(seqKey(n.Seq)); err != nil {
			return err
		}
		return audit(tx, o.Now, n.Incident, "notified", notifiedDetail(n))
	case o.RetryAt.IsZero():
		if err := q.Delete(seqKey(n.Seq)); err != nil {
			return err
		}
		return audit(tx, o.Now, n.Incident, "notify_failed", failedDetail(n, o.Err))
	default:
		n.Attempts++
		n.NextTry = o.RetryAt
		v, err := encodeNote(n)
		if err != nil {
			return err
		}
		return q.Put(seqKey(n.Seq), v)
	}
}

// Channels implements Store.
func (s *Embedded) Channels(ctx context.Context) ([]string, error) {
	var out []string
	err := s.db.View(func(tx *kv.Tx) error {
		queues := tx.Bucket(bQueues)
		return queues.ForEachBucket(func(name []byte) error {
			if k, _ := queues.Bucket(name).Cursor().First(); k != nil {
				out = append(out, string(name))
			}
			return nil
		})
	})
	slices.Sort(out)
	return out, err
}
