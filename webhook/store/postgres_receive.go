package store

import (
	"context"
	"fmt"
	"hash/fnv"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hotel-ops/hotel-ops/webhook/payload"
	"github.com/hotel-ops/hotel-ops/webhook/policy"
)

// Deliveries to the PostgreSQL store are stored in groups: each receiver
// (one, or a few) takes the deliveries waiting for it and stores them in one
// transaction, with one statement per table for the whole group and one
// commit. A lone delivery is stored at once, alone; under load a group
// costs the server what one delivery did. Each delivery is answered only
// after the commit that holds it.
//
// With several receivers, a delivery goes to the receiver of its alert
// group (by the group key's hash). Everything that touches one incident then passes through one
// receiver, in order: the HA peers' copies of a delivery, and the
// group's later deliveries. Taken by two receivers at once, the second
// copy's insert of the same hash waits for the first's commit (that is
// how ON CONFLICT keeps it a duplicate), and the receiver with it
// stands idle: in a storm from an HA pair that was most groups.
const (
	// receivers: groups being stored at once. Fewer, larger groups cost
	// the server less. On two cores, with a group's BEGIN and COMMIT sent
	// with its batches: one gave a storm's handler p99 16.4-16.8 ms and
	// 1,686 deliveries/s from 64 senders, two 17.7-18.7 ms and 1,860/s,
	// four 19.6-23.5 ms and 1,730/s; the storm is the target at risk.
	receivers        = 1
	maxDeliveryGroup = 32 // deliveries per transaction at most
)

type receiveReq struct {
	d    *payload.Delivery
	pol  *policy.File
	now  time.Time
	done chan receiveResult
}

type receiveResult struct {
	res Received
	err error
}

func (s *Postgres) startReceivers() {
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	for _, ch := range s.receives {
		s.runners.Add(1)
		go func() {
			defer s.runners.Done()
			s.receive(ctx, ch)
		}()
	}
}

func (s *Postgres) stopReceivers() {
	select {
	case <-s.closing:
		return // closed before
	default:
	}
	close(s.closing)
	s.stop()
	s.runners.Wait()
}

// Receive implements Store.
func (s *Postgres) Receive(ctx context.Context, d *payload.Delivery, pol *policy.File, now time.Time) (Received, error) {
	r := &receiveReq{d: d, pol: pol, now: now, done: make(chan receiveResult, 1)}
	select {
	case s.receives[receiverOf(d.GroupKey)] <- r:
	case <-s.closing:
		return Received{}, fmt.Errorf("storing the delivery: %w", errClosed)
	case <-ctx.Done():
		return Received{}, fmt.Errorf("storing the delivery: %w", ctx.Err())
	}
	select {
	case out := <-r.done:
		return out.res, out.err
	case <-ctx.Done():
		// It may still be committed: a copy sent again is then a duplicate.
		return Received{}, fmt.Errorf("storing the delivery: %w", ctx.Err())
	}
}

// receiverOf is the receiver of an alert group's deliveries.
func receiverOf(groupKey string) int {
	h := fnv.New32a()
	h.Write([]byte(groupKey))
	return int(h.Sum32() % receivers)
}

// receive stores groups of the deliveries waiting on ch until ctx ends.
func (s *Postgres) receive(ctx context.Context, ch chan *receiveReq) {
	for {
		var group []*receiveReq
		select {
		case r := <-ch:
			group = append(group, r)
		case <-ctx.Done():
			return
		}
	more:
		for len(group) < maxDeliveryGroup {
			select {
			case r := <-ch:
				group = append(group, r)
			default:
				break more
			}
		}
		s.storeGroup(ctx, group)
	}
}

// storeGroup stores the group in one transaction. When that fails, each
// delivery is tried alone, so that one that cannot be stored does not
// fail the others.
func (s *Postgres) storeGroup(ctx context.Context, group []*receiveReq) {
	var res []Received
	err := s.inPipeTx(ctx, func(tx *pipeTx) error {
		var err error
		res, err = receiveGroup(ctx, tx, group)
		return err
	})
	if err != nil && len(group) > 1 && ctx.Err() == nil {
		for _, r := range group {
			s.storeGroup(ctx, []*receiveReq{r})
		}
		return
	}
	for i, r := range group {
		if err != nil {
			r.done <- receiveResult{err: fmt.Errorf("storing the delivery: %w", err)}
			continue
		}
		r.done <- receiveResult{res: res[i]}
	}
}

// receiveGroup records the deliveries, in order, in tx: three round
// trips (begin and record the deliveries; lock and read the incidents of
// those that were new; write and commit) whatever the group's size. A delivery
// whose hash is already stored, by another replica or earlier in the
// group, is a duplicate, and its incidents are neither locked nor read:
// in a storm from an HA pair that is every other copy.
//
// Every incident the new deliveries name is locked first, whether it
// exists or not, with an advisory lock on its ID: two replicas storing
// the same alert at once then take turns, and the second reads what the
// first wrote. Without it both could find no incident, and the first's
// open and the second's resolve of one alert would pass each other.
func receiveGroup(ctx context.Context, tx *pipeTx, group []*receiveReq) ([]Received, error) {
	res := make([]Received, len(group))
	received := map[string]time.Time{}
	for _, r := range group {
		if _, ok := received[r.d.Hash]; !ok {
			received[r.d.Hash] = r.now
		}
	}
	// Keys in one order in every transaction: two replicas' groups then
	// wait for each other instead of deadlocking.
	hashes := make([]string, 0, len(received))
	for h := range received {
		hashes = append(hashes, h)
	}
	sort.Strings(hashes)
	times := make([]time.Time, len(hashes))
	for i, h := range hashes {
		times[i] = received[h]
	}
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO escalator_deliveries (hash, received)
		SELECT * FROM unnest($1::text[], $2::timestamptz[]) ON CONFLICT DO NOTHING RETURNING hash`, hashes, times)
	br, err := tx.send(ctx, b)
	if err != nil {
		return nil, fmt.Errorf("recording the deliveries: %w", err)
	}
	fresh := map[string]bool{}
	var hash string
	_, err = pgx.ForEachRow(rowsOf(br), []any{&hash}, func() error { fresh[hash] = true; return nil })
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("recording the deliveries: %w", err)
	}
	var ids []string
	for _, r := range group {
		if fresh[r.d.Hash] {
			for _, a := range r.d.Alerts {
				ids = append(ids, payload.IncidentID(a.Fingerprint, a.StartsAt))
			}
		}
	}
	known := map[string]*Incident{}
	if len(ids) > 0 {
		b := &pgx.Batch{}
		queueLocks(b, ids)
		br, err := tx.send(ctx, b)
		if err != nil {
			return nil, fmt.Errorf("locking incidents: %w", err)
		}
		known, err = readLocks(br)
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, err
		}
	}

	var w writes
	for i, r := range group {
		d, now := r.d, r.now
		if !fresh[d.Hash] {
			// Another peer's copy, or a repeat: committed before us, or
			// we waited on its row until it committed.
			res[i].Duplicate = true
			continue
		}
		delete(fresh, d.Hash) // a second copy in this group is a duplicate
		for _, a := range d.Alerts {
			id := payload.IncidentID(a.Fingerprint, a.StartsAt)
			e := Apply(known[id], alertEvent(d, a, now), r.pol)
			if e.Incident != nil {
				known[id] = e.Incident // the next event on it in this group sees this one
			}
			w.add(e)
			res[i].Tally(e)
		}
		w.audit = append(w.audit, deliveryAudit(d, res[i], now)...)
	}
	b = &pgx.Batch{}
	if err := w.queue(b); err != nil {
		return nil, err
	}
	if err := tx.commit(ctx, b); err != nil {
		return nil, err
	}
	return res, nil
}
