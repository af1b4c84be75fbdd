package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/hotel-ops/hotel-ops/webhook/payload"
	"github.com/hotel-ops/hotel-ops/webhook/policy"
)

// Bolt is the embedded store: one file, written through bbolt. Deliveries
// arriving together share a commit (group commit, bolt_commit.go): each
// is acknowledged only after the fsync that holds it, and many share one.
type Bolt struct {
	db      *bolt.DB
	commits *committer
	claimed claims // due timers that FireDue calls are taking (bolt_fire.go)
}

var (
	bDeliveries = []byte("deliveries") // hash → received time
	bIncidents  = []byte("incidents")  // id → Incident
	bTimers     = []byte("timers")     // due (8 bytes, ns) + id → step; the incident's NextDue finds it
	bOutbox     = []byte("outbox")     // seq → Notification
	bAudit      = []byte("audit")      // seq → Entry
)

// OpenBolt opens (or creates) the store file. A second process on the
// same file is refused: bbolt holds an exclusive lock on it.
func OpenBolt(path string) (*Bolt, error) {
	// The freelist is rebuilt on open rather than written at every
	// commit, and kept as a map: commits write fewer pages (as etcd does).
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("store %s is in use by another escalator process (one process per embedded store; use the PostgreSQL store for several replicas)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("opening store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bDeliveries, bIncidents, bState, bTimers, bOutbox, bAudit} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("initialising store %s: %w", path, err)
	}
	return &Bolt{db: db, commits: newCommitter(db), claimed: claims{keys: map[string]bool{}}}, nil
}

// Close commits the writes under way and closes the file.
func (s *Bolt) Close() error {
	s.commits.close()
	return s.db.Close()
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

func putJSON(b *bolt.Bucket, k []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(k, data)
}

func audit(tx *bolt.Tx, now time.Time, incident, action, detail string) error {
	data, err := json.Marshal(Entry{Time: now, Incident: incident, Action: action, Detail: detail})
	if err != nil {
		return err
	}
	return putAudit(tx, data)
}

// putAudit appends an encoded entry; its sequence number is its key.
func putAudit(tx *bolt.Tx, entry []byte) error {
	b := tx.Bucket(bAudit)
	n, _ := b.NextSequence()
	return b.Put(seqKey(n), entry)
}

// prepared is an alert's new incident, encoded before the write
// transaction: bbolt has one writer, so the less it does the more
// deliveries it commits per second, while encoding runs on every core.
type prepared struct {
	opening
	data, state, audit []byte
}

func prepare(d *payload.Delivery, pol *policy.File, now time.Time) ([]*prepared, error) {
	out := make([]*prepared, len(d.Alerts))
	for i, a := range d.Alerts {
		if a.Resolved() {
			continue
		}
		p := &prepared{opening: newIncident(a, pol, now)}
		var err error
		if p.data, err = json.Marshal(p.inc); err != nil {
			return nil, err
		}
		if p.state, err = json.Marshal(stateOf(p.inc)); err != nil {
			return nil, err
		}
		if p.audit, err = json.Marshal(Entry{Time: now, Incident: p.inc.ID, Action: "opened", Detail: p.detail}); err != nil {
			return nil, err
		}
		out[i] = p
	}
	return out, nil
}

func enqueue(tx *bolt.Tx, n Notification) error {
	b := tx.Bucket(bOutbox)
	n.Seq, _ = b.NextSequence()
	return putJSON(b, seqKey(n.Seq), n)
}

func schedule(tx *bolt.Tx, id string, due time.Time, step int) error {
	v := make([]byte, 4)
	binary.BigEndian.PutUint32(v, uint32(step))
	return tx.Bucket(bTimers).Put(timerKey(due, id), v)
}

// unschedule drops the incident's pending timer, due at due (zero: none).
func unschedule(tx *bolt.Tx, id string, due time.Time) error {
	if due.IsZero() {
		return nil
	}
	return tx.Bucket(bTimers).Delete(timerKey(due, id))
}

// Receive implements Store.
func (s *Bolt) Receive(ctx context.Context, d *payload.Delivery, pol *policy.File, now time.Time) (Received, error) {
	pre, err := prepare(d, pol, now)
	if err != nil {
		return Received{}, err
	}
	var res Received
	err = s.commits.write(ctx, func(tx *bolt.Tx) error {
		res = Received{} // a group commit may run the function again
		deliveries := tx.Bucket(bDeliveries)
		if deliveries.Get([]byte(d.Hash)) != nil {
			res.Duplicate = true
			return audit(tx, now, "", "deduplicated", "group "+d.GroupKey)
		}
		if err := deliveries.Put([]byte(d.Hash), seqKey(uint64(now.UnixNano()))); err != nil {
			return err
		}
		incidents := tx.Bucket(bIncidents)
		for i, a := range d.Alerts {
			id := payload.IncidentID(a.Fingerprint, a.StartsAt)
			if p := pre[i]; p != nil && incidents.Get([]byte(id)) == nil {
				if err := incidents.Put([]byte(id), p.data); err != nil {
					return err
				}
				if err := tx.Bucket(bState).Put([]byte(id), p.state); err != nil {
					return err
				}
				if p.scheduled {
					if err := schedule(tx, id, p.due, 0); err != nil {
						return err
					}
				}
				res.Opened++
				res.Severities = append(res.Severities, a.Labels["severity"])
				if err := putAudit(tx, p.audit); err != nil {
					return err
				}
				continue
			}
			inc, err := loadIncident(tx, id)
			if err != nil {
				return err
			}
			switch {
			case inc == nil:
				continue // resolved before we heard it fire: nothing to close
			case a.Resolved():
				due := inc.NextDue
				if !resolve(inc, d, now) {
					continue
				}
				if err := unschedule(tx, id, due); err != nil {
					return err
				}
				for _, ch := range inc.Notified {
					if err := enqueue(tx, notification(inc, -1, "resolve", ch, "resolve", now)); err != nil {
						return err
					}
				}
				res.Resolved++
				res.Resolutions = append(res.Resolutions, resolution(inc, now))
				if err := audit(tx, now, id, "resolved", resolvedDetail(inc)); err != nil {
					return err
				}
			case inc.Status == Resolved:
				outs, ok := reopen(inc, pol, now)
				if !ok {
					inc.LastSeen = now
					break
				}
				if !inc.NextDue.IsZero() {
					if err := schedule(tx, id, inc.NextDue, inc.NextStep); err != nil {
						return err
					}
				}
				for _, n := range outs {
					if err := enqueue(tx, n); err != nil {
						return err
					}
				}
				res.Reopened++
				if err := audit(tx, now, id, "reopened", reopenedDetail); err != nil {
					return err
				}
			default:
				inc.LastSeen = now // a repeat: a heartbeat
			}
			if err := saveIncident(tx, inc); err != nil {
				return err
			}
		}
		return audit(tx, now, "", "received", receivedDetail(d))
	})
	if err != nil {
		// After ctx ended, fn may still be running: res is not read.
		return Received{}, fmt.Errorf("storing the delivery: %w", err)
	}
	return res, nil
}

// NextDue implements Store.
func (s *Bolt) NextDue(ctx context.Context) (time.Time, error) {
	var t time.Time
	err := s.db.View(func(tx *bolt.Tx) error {
		if k, _ := tx.Bucket(bTimers).Cursor().First(); k != nil {
			t = time.Unix(0, int64(binary.BigEndian.Uint64(k[:8])))
		}
		return nil
	})
	return t, err
}

// Claim implements Store.
func (s *Bolt) Claim(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Notification, error) {
	var out []Notification
	err := s.db.Update(func(tx *bolt.Tx) error {
		out = out[:0]
		b := tx.Bucket(bOutbox)
		c := b.Cursor()
		var claimed []Notification
		// Only the oldest notification of an incident to a channel is
		// taken: a resolve never overtakes its trigger.
		queued := map[[2]string]bool{}
		for k, v := c.First(); k != nil && len(claimed) < limit; k, v = c.Next() {
			var n Notification
			if err := json.Unmarshal(v, &n); err != nil {
				return err
			}
			n.Seq = binary.BigEndian.Uint64(k) // the key is the sequence
			pair := [2]string{n.Incident, n.Channel}
			if queued[pair] {
				continue
			}
			queued[pair] = true
			if n.NextTry.After(now) {
				continue
			}
			claimed = append(claimed, n)
		}
		for _, n := range claimed {
			leased := n
			leased.NextTry = now.Add(lease) // another worker skips it until the lease ends
			if err := putJSON(b, seqKey(n.Seq), leased); err != nil {
				return err
			}
		}
		out = claimed
		return nil
	})
	return out, err
}

// Settle implements Store.
func (s *Bolt) Settle(ctx context.Context, outcomes []Outcome) error {
	return s.commits.write(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bOutbox)
		for _, o := range outcomes {
			if err := settle(tx, b, o); err != nil {
				return err
			}
		}
		return nil
	})
}

func settle(tx *bolt.Tx, b *bolt.Bucket, o Outcome) error {
	n := o.N
	switch {
	case o.Err == nil:
		if err := b.Delete(seqKey(n.Seq)); err != nil {
			return err
		}
		return audit(tx, o.Now, n.Incident, "notified", notifiedDetail(n))
	case o.RetryAt.IsZero():
		if err := b.Delete(seqKey(n.Seq)); err != nil {
			return err
		}
		return audit(tx, o.Now, n.Incident, "notify_failed", failedDetail(n, o.Err))
	default:
		n.Attempts++
		n.NextTry = o.RetryAt
		return putJSON(b, seqKey(n.Seq), n)
	}
}

// Ack implements Store.
func (s *Bolt) Ack(ctx context.Context, id, by string, now time.Time) (*Incident, error) {
	var inc *Incident
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		inc, err = loadIncident(tx, id)
		if err != nil {
			return err
		}
		if inc == nil {
			return ErrNotFound
		}
		due := inc.NextDue
		if !acknowledge(inc, by, now) {
			return nil
		}
		if err := unschedule(tx, id, due); err != nil {
			return err
		}
		for _, ch := range inc.Notified {
			if err := enqueue(tx, notification(inc, -1, "ack", ch, "acknowledge", now)); err != nil {
				return err
			}
		}
		if err := saveIncident(tx, inc); err != nil {
			return err
		}
		return audit(tx, now, id, "acknowledged", "by "+by)
	})
	return inc, err
}

// SetSilence implements Store.
func (s *Bolt) SetSilence(ctx context.Context, id, silenceID string, now time.Time) error {
	return s.db.Update(func(tx *bolt.Tx) error {
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
		if err := saveIncident(tx, inc); err != nil {
			return err
		}
		return audit(tx, now, id, "silenced", silenceDetail(silenceID))
	})
}

// Incident implements Store.
func (s *Bolt) Incident(ctx context.Context, id string) (*Incident, error) {
	var inc *Incident
	err := s.db.View(func(tx *bolt.Tx) error {
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
func (s *Bolt) Incidents(ctx context.Context, limit int) ([]Incident, error) {
	var all []Incident
	err := s.db.View(func(tx *bolt.Tx) error {
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
func (s *Bolt) UnsettledAfter(ctx context.Context, after string, limit int) ([]Incident, error) {
	var out []Incident
	err := s.db.View(func(tx *bolt.Tx) error {
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
func (s *Bolt) Audit(ctx context.Context, incident string, limit int) ([]Entry, error) {
	var out []Entry
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bAudit).Cursor()
		for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
			var e Entry
			if err := json.Unmarshal(v, &e); err != nil {
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
func (s *Bolt) Prune(ctx context.Context, before time.Time) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
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
func (s *Bolt) Pending(ctx context.Context) (int, error) {
	n := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bTimers).Stats().KeyN
		return nil
	})
	return n, err
}

// OpenBySeverity implements Store.
func (s *Bolt) OpenBySeverity(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bIncidents).ForEach(func(_, v []byte) error {
			var inc Incident
			if err := json.Unmarshal(v, &inc); err != nil {
				return err
			}
			if inc.Status != Resolved {
				out[inc.Labels["severity"]]++
			}
			return nil
		})
	})
	return out, err
}
