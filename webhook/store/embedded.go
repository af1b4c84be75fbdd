package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hotel-ops/hotel-ops/webhook/store/kv"

	"github.com/hotel-ops/hotel-ops/webhook/payload"
	"github.com/hotel-ops/hotel-ops/webhook/policy"
)

// Embedded is the embedded store: one directory, written through package
// kv (held in memory, a journal on disk). Deliveries arriving together
// share a commit (group commit, embedded_commit.go): each is acknowledged
// only after the fsync that holds it, and many share one.
type Embedded struct {
	db      *kv.DB
	commits *committer
	claimed claims   // due timers that FireDue calls are taking (embedded_fire.go)
	flight  inFlight // notifications claimed and not settled (embedded_outbox.go)

	migratedFrom string // the earlier version's file this open copied, kept there
}

var (
	bDeliveries = []byte("deliveries") // hash → received time
	bIncidents  = []byte("incidents")  // id → Incident
	bTimers     = []byte("timers")     // due (8 bytes, ns) + id → step; the incident's NextDue finds it
	bAudit      = []byte("audit")      // seq → Entry
)

// OpenEmbedded opens (or creates) the store in the directory path. A
// file of bbolt's there (an earlier version's store) is first copied
// into a directory, and kept beside it as path.bbolt. A second process on
// the same store is refused.
func OpenEmbedded(path string) (*Embedded, error) {
	oldFile, err := migrateBolt(path)
	if err != nil {
		return nil, err
	}
	db, err := kv.Open(path, nil)
	if errors.Is(err, kv.ErrLocked) {
		return nil, fmt.Errorf("store %s is in use by another escalator process (one process per embedded store; use the PostgreSQL store for several replicas)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("opening store %s: %w", path, err)
	}
	err = db.Update(func(tx *kv.Tx) error {
		for _, b := range [][]byte{bDeliveries, bIncidents, bState, bTimers, bQueues, bAudit, bActionRuns, bOnce} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if err := moveOldOutbox(tx); err != nil {
			return err
		}
		return migrateStates(tx)
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("initialising store %s: %w", path, err)
	}
	return &Embedded{db: db, commits: newCommitter(db), claimed: claims{keys: map[string]bool{}},
		flight: inFlight{until: map[uint64]time.Time{}}, migratedFrom: oldFile}, nil
}

// MigratedFrom is the earlier version's store file that opening copied
// into the directory (kept at that path, the way back); "" when the store
// was a directory already, or new.
func (s *Embedded) MigratedFrom() string { return s.migratedFrom }

// Close commits the writes under way and closes the store.
func (s *Embedded) Close() error {
	s.commits.close()
	return s.db.Close()
}

// deliveryKey is a delivery's hash as the deliveries bucket keys it: its
// bytes rather than its hex, so that twice as many fit a page (the keys
// are random: each delivery writes a page of its own). Other hashes (the
// reconciler's) are kept as they are. A copy stored under the other form
// by an earlier version is not recognised: it is a heartbeat, harmless.
func deliveryKey(hash string) []byte {
	if b, err := hex.DecodeString(hash); err == nil && len(hash) == 64 {
		return b
	}
	return []byte(hash)
}

func timerKey(due time.Time, id string) []byte {
	k := make([]byte, 8, 8+len(id))
	binary.BigEndian.PutUint64(k, uint64(due.UnixNano()))
	return append(k, id...)
}

func seqKey(n uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, n)
	return k
}

func putJSON(b *kv.Bucket, k []byte, v any) error {
	data, err := marshal(v)
	if err != nil {
		return err
	}
	return b.Put(k, data)
}

func audit(tx *kv.Tx, now time.Time, incident, action, detail string) error {
	data, err := marshal(Entry{Time: now, Incident: incident, Action: action, Detail: detail})
	if err != nil {
		return err
	}
	return putAudit(tx, data)
}

// putAudit appends an encoded entry; its sequence number is its key.
func putAudit(tx *kv.Tx, entry []byte) error {
	b := tx.Bucket(bAudit)
	n, _ := b.NextSequence()
	return b.Put(seqKey(n), entry)
}

// prepared is an alert's event, decided and encoded before the write
// transaction from the incident's state as a read transaction saw it:
// the store has one writer, so the less it does the more deliveries it
// commits per second, while deciding and encoding run on every core.
// Apply is pure, so what it decides here is what it would decide inside,
// as long as the state is still raw; when it is not (another delivery
// wrote it meanwhile), the writer decides again.
type prepared struct {
	raw   []byte // the state read; nil: no incident
	e     Effects
	doc   []byte // the new incident's document (e.Create)
	state []byte // the state to write; nil: unchanged
	notes []encodedNote
	audit [][]byte
}

func prepare(d *payload.Delivery, raws [][]byte, pol *policy.File, now time.Time) ([]*prepared, error) {
	out := make([]*prepared, len(d.Alerts))
	for i, a := range d.Alerts {
		p := &prepared{raw: raws[i]}
		var cur *Incident
		if p.raw != nil {
			id := payload.IncidentID(a.Fingerprint, a.StartsAt)
			st, err := decodeState(id, p.raw)
			if err != nil {
				return nil, err
			}
			cur = stateIncident(id, st)
		}
		p.e = Apply(cur, alertEvent(d, a, now), pol)
		if err := p.encode(); err != nil {
			return nil, err
		}
		out[i] = p
	}
	return out, nil
}

// encode encodes what p.e writes.
func (p *prepared) encode() (err error) {
	e := p.e
	if e.Create {
		if p.doc, err = marshal(e.Incident); err != nil {
			return err
		}
	}
	if e.Changed {
		if p.state, err = marshal(stateOf(e.Incident)); err != nil {
			return err
		}
	}
	for _, n := range slices.Concat(e.Notify, e.Actions) {
		v, err := encodeNote(n)
		if err != nil {
			return err
		}
		p.notes = append(p.notes, encodedNote{n.Channel, v})
	}
	for _, a := range e.Audit {
		b, err := marshal(a)
		if err != nil {
			return err
		}
		p.audit = append(p.audit, b)
	}
	return nil
}

// writePrepared writes what p decided, in tx.
func writePrepared(tx *kv.Tx, p *prepared) error {
	e := p.e
	if e.Incident != nil {
		id := []byte(e.Incident.ID)
		if p.doc != nil {
			if err := tx.Bucket(bIncidents).Put(id, p.doc); err != nil {
				return err
			}
		}
		if p.state != nil {
			if err := tx.Bucket(bState).Put(id, p.state); err != nil {
				return err
			}
		}
		if e.Timer.Changed {
			if err := retime(tx, e.Incident.ID, e.Timer); err != nil {
				return err
			}
		}
	}
	for _, n := range p.notes {
		if err := enqueueEncoded(tx, n.channel, n.v); err != nil {
			return err
		}
	}
	for _, a := range p.audit {
		if err := putAudit(tx, a); err != nil {
			return err
		}
	}
	return nil
}

func schedule(tx *kv.Tx, id string, due time.Time, step int) error {
	v := make([]byte, 4)
	binary.BigEndian.PutUint32(v, uint32(step))
	return tx.Bucket(bTimers).Put(timerKey(due, id), v)
}

// unschedule drops the incident's pending timer, due at due (zero: none).
func unschedule(tx *kv.Tx, id string, due time.Time) error {
	if due.IsZero() {
		return nil
	}
	return tx.Bucket(bTimers).Delete(timerKey(due, id))
}

// write applies what the state machine decided, in tx: encoded here,
// then written as a prepared event is, so that there is one way to
// write effects.
func write(tx *kv.Tx, e Effects) error {
	p := &prepared{e: e}
	if err := p.encode(); err != nil {
		return err
	}
	return writePrepared(tx, p)
}

// retime moves the incident's timer as t says.
func retime(tx *kv.Tx, id string, t Timer) error {
	if err := unschedule(tx, id, t.Old); err != nil {
		return err
	}
	if t.New.IsZero() {
		return nil
	}
	return schedule(tx, id, t.New, t.Step)
}

// Receive implements Store.
func (s *Embedded) Receive(ctx context.Context, d *payload.Delivery, pol *policy.File, now time.Time) (Received, error) {
	// A copy already stored (the other Alertmanager peer's, or a repeat)
	// is answered from a read: no commit, so an HA pair costs the writer
	// one delivery, not two. A copy of one not yet committed is caught
	// inside the transaction. The same read takes the states the
	// delivery's alerts are decided on (prepare).
	var known bool
	raws := make([][]byte, len(d.Alerts))
	if err := s.db.View(func(tx *kv.Tx) error {
		if known = tx.Bucket(bDeliveries).Get(deliveryKey(d.Hash)) != nil; known {
			return nil
		}
		states := tx.Bucket(bState)
		for i, a := range d.Alerts {
			if v := states.Get([]byte(payload.IncidentID(a.Fingerprint, a.StartsAt))); v != nil {
				raws[i] = bytes.Clone(v)
			}
		}
		return nil
	}); err != nil {
		return Received{}, fmt.Errorf("reading deliveries: %w", err)
	}
	if known {
		return Received{Duplicate: true}, nil
	}
	pre, err := prepare(d, raws, pol, now)
	if err != nil {
		return Received{}, err
	}
	var res Received
	err = s.commits.write(ctx, func(tx *kv.Tx) error {
		res = Received{} // a group commit may run the function again
		deliveries := tx.Bucket(bDeliveries)
		if deliveries.Get(deliveryKey(d.Hash)) != nil {
			res.Duplicate = true
			return nil
		}
		if err := deliveries.Put(deliveryKey(d.Hash), seqKey(uint64(now.UnixNano()))); err != nil {
			return err
		}
		states := tx.Bucket(bState)
		for i, a := range d.Alerts {
			id := payload.IncidentID(a.Fingerprint, a.StartsAt)
			if p := pre[i]; bytes.Equal(states.Get([]byte(id)), p.raw) {
				if err := writePrepared(tx, p); err != nil {
					return err
				}
				res.Tally(p.e)
				continue
			}
			// Written since it was read (by another delivery, a step, an
			// acknowledgement, or an earlier alert of this one).
			cur, err := loadState(tx, id)
			if err != nil {
				return err
			}
			e := Apply(cur, alertEvent(d, a, now), pol)
			if err := write(tx, e); err != nil {
				return err
			}
			res.Tally(e)
		}
		for _, a := range deliveryAudit(d, res, now) {
			if err := audit(tx, a.Time, a.Incident, a.Action, a.Detail); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// After ctx ended, fn may still be running: res is not read.
		return Received{}, fmt.Errorf("storing the delivery: %w", err)
	}
	return res, nil
}

// NextDue implements Store.
func (s *Embedded) NextDue(ctx context.Context) (time.Time, error) {
	var t time.Time
	err := s.db.View(func(tx *kv.Tx) error {
		if k, _ := tx.Bucket(bTimers).Cursor().First(); k != nil {
			t = time.Unix(0, int64(binary.BigEndian.Uint64(k[:8])))
		}
		return nil
	})
	return t, err
}

// Ack implements Store.
func (s *Embedded) Ack(ctx context.Context, id, by string, now time.Time) (*Incident, error) {
	return s.byHand(id, Event{Kind: Acknowledge, Now: now, By: by})
}

// Resolve implements Store.
func (s *Embedded) Resolve(ctx context.Context, id, by string, now time.Time) (*Incident, error) {
	return s.byHand(id, Event{Kind: CloseByHand, Now: now, By: by})
}

// byHand applies a person's event to the incident.
func (s *Embedded) byHand(id string, ev Event) (*Incident, error) {
	var inc *Incident
	err := s.db.Update(func(tx *kv.Tx) error {
		cur, err := loadIncident(tx, id)
		if err != nil {
			return err
		}
		if cur == nil {
			return ErrNotFound
		}
		e := Apply(cur, ev, nil)
		inc = e.Incident
		return write(tx, e)
	})
	return inc, err
}

// SetSilence implements Store.
func (s *Embedded) SetSilence(ctx context.Context, id, silenceID string, now time.Time) error {
	return s.db.Update(func(tx *kv.Tx) error {
		inc, err := loadIncident(tx, id)
		if err != nil {
			return err
		}
		if inc == nil {
			return ErrNotFound
		}
		if err := silenceTaken(inc, silenceID); err != nil {
			return err
		}
		inc.SilenceID = silenceID
		if err := saveState(tx, inc); err != nil {
			return err
		}
		return audit(tx, now, id, "silenced", silenceDetail(silenceID))
	})
}

// Incident implements Store.
func (s *Embedded) Incident(ctx context.Context, id string) (*Incident, error) {
	var inc *Incident
	err := s.db.View(func(tx *kv.Tx) error {
		var err error
		inc, err = loadIncident(tx, id)
		return err
	})
	if err == nil && inc == nil {
		err = ErrNotFound
	}
	return inc, err
}

// Incidents implements Store: open ones first, then the most recent.
func (s *Embedded) Incidents(ctx context.Context, limit int) ([]Incident, error) {
	var all []Incident
	err := s.db.View(func(tx *kv.Tx) error {
		return tx.Bucket(bIncidents).ForEach(func(k, v []byte) error {
			inc, err := decodeIncident(tx, k, v)
			all = append(all, inc)
			return err
		})
	})
	sortIncidents(all)
	if len(all) > limit {
		all = all[:limit]
	}
	return all, err
}

// UnsettledAfter implements Store.
func (s *Embedded) UnsettledAfter(ctx context.Context, after string, limit int) ([]Incident, error) {
	var out []Incident
	err := s.db.View(func(tx *kv.Tx) error {
		c := tx.Bucket(bIncidents).Cursor()
		k, v := c.Seek([]byte(after))
		if k != nil && string(k) == after {
			k, v = c.Next()
		}
		for ; k != nil && len(out) < limit; k, v = c.Next() {
			inc, err := decodeIncident(tx, k, v)
			if err != nil {
				return err
			}
			if inc.Unsettled() {
				out = append(out, inc)
			}
		}
		return nil
	})
	return out, err
}

// Audit implements Store: newest first, for one incident or all.
func (s *Embedded) Audit(ctx context.Context, incident string, limit int) ([]Entry, error) {
	var out []Entry
	err := s.db.View(func(tx *kv.Tx) error {
		c := tx.Bucket(bAudit).Cursor()
		for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
			var e Entry
			if err := unmarshal(v, &e); err != nil {
				return err
			}
			e.Seq = binary.BigEndian.Uint64(k)
			if incident == "" || e.Incident == incident {
				out = append(out, e)
			}
		}
		return nil
	})
	return out, err
}

// Prune implements Store.
func (s *Embedded) Prune(ctx context.Context, before time.Time) (int, error) {
	n := 0
	err := s.db.Update(func(tx *kv.Tx) error {
		n = 0
		c := tx.Bucket(bDeliveries).Cursor()
		for k, v := c.First(); k != nil; {
			if len(v) == 8 && int64(binary.BigEndian.Uint64(v)) < before.UnixNano() {
				key := append([]byte(nil), k...)
				if err := c.Delete(); err != nil {
					return err
				}
				n++
				k, v = c.Seek(key) // the first key after the deleted one
				continue
			}
			k, v = c.Next()
		}
		return nil
	})
	return n, err
}

// Pending implements Store.
func (s *Embedded) Pending(ctx context.Context) (int, error) {
	n := 0
	err := s.db.View(func(tx *kv.Tx) error {
		n = tx.Bucket(bTimers).Stats().KeyN
		return nil
	})
	return n, err
}

// OpenBySeverity implements Store.
func (s *Embedded) OpenBySeverity(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	err := s.db.View(func(tx *kv.Tx) error {
		return tx.Bucket(bState).ForEach(func(k, v []byte) error {
			st, err := decodeState(string(k), v)
			if err == nil && st.Status != Resolved {
				out[st.Severity]++
			}
			return err
		})
	})
	return out, err
}
