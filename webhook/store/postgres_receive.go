package store

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hotel-ops/hotel-ops/webhook/payload"
	"github.com/hotel-ops/hotel-ops/webhook/policy"
)

// Deliveries to the PostgreSQL store are stored in groups: each of a few
// receivers takes the deliveries waiting and stores them in one
// transaction, with one statement per table for the whole group and one
// commit. A lone delivery is stored at once, alone; under load a group
// costs the server what one delivery did. Each delivery is answered only
// after the commit that holds it.
const (
	// receivers: groups being stored at once. Two gave 1,630-2,230
	// deliveries/s on two cores where four gave 1,500-1,650 and eight
	// 1,330-1,450: fewer, larger groups cost the server less.
	receivers        = 2
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
	for i := 0; i < receivers; i++ {
		s.runners.Add(1)
		go func() {
			defer s.runners.Done()
			s.receive(ctx)
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
	case s.receives <- r:
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

// receive stores groups of waiting deliveries until ctx ends.
func (s *Postgres) receive(ctx context.Context) {
	for {
		var group []*receiveReq
		select {
		case r := <-s.receives:
			group = append(group, r)
		case <-ctx.Done():
			return
		}
	more:
		for len(group) < maxDeliveryGroup {
			select {
			case r := <-s.receives:
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
	err := s.inTx(ctx, func(tx pgx.Tx) error {
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
// trips (record the deliveries and lock their incidents; write; commit)
// whatever the group's size. A delivery whose hash is already stored, by
// another replica or earlier in the group, is a duplicate.
func receiveGroup(ctx context.Context, tx pgx.Tx, group []*receiveReq) ([]Received, error) {
	res := make([]Received, len(group))
	received := map[string]time.Time{}
	var ids []string
	for _, r := range group {
		if _, ok := received[r.d.Hash]; !ok {
			received[r.d.Hash] = r.now
		}
		for _, a := range r.d.Alerts {
			ids = append(ids, payload.IncidentID(a.Fingerprint, a.StartsAt))
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
	b1 := &pgx.Batch{}
	b1.Queue(`INSERT INTO escalator_deliveries (hash, received)
		SELECT * FROM unnest($1::text[], $2::timestamptz[]) ON CONFLICT DO NOTHING RETURNING hash`, hashes, times)
	queueLocks(b1, ids)
	br := tx.SendBatch(ctx, b1)
	fresh := map[string]bool{}
	var hash string
	_, err := pgx.ForEachRow(rowsOf(br), []any{&hash}, func() error { fresh[hash] = true; return nil })
	if err != nil {
		br.Close()
		return nil, fmt.Errorf("recording the deliveries: %w", err)
	}
	known, err := readLocks(br)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}

	var w writes
	opened := map[string]*opening{} // opened in this group, by incident
	var openings []string
	openedBy := map[string]int{} // incident → the delivery that opened it
	written := map[string]bool{}
	closed := func(i int, inc *Incident, now time.Time) {
		res[i].Resolved++
		res[i].Resolutions = append(res[i].Resolutions, resolution(inc, now))
		w.log(now, inc.ID, "resolved", resolvedDetail(inc))
	}
	for i, r := range group {
		d, now := r.d, r.now
		if !fresh[d.Hash] {
			// Another peer's copy, or a repeat: committed before us, or
			// we waited on its row until it committed.
			res[i].Duplicate = true
			w.log(now, "", "deduplicated", "group "+d.GroupKey)
			continue
		}
		delete(fresh, d.Hash) // a second copy in this group is a duplicate
		for _, a := range d.Alerts {
			id := payload.IncidentID(a.Fingerprint, a.StartsAt)
			if o := opened[id]; o != nil {
				// Opened earlier in this group, not yet written: it is
				// written as the group leaves it.
				if !a.Resolved() {
					o.inc.LastSeen = now
				} else if resolve(o.inc, d, now) {
					o.scheduled = false
					closed(i, o.inc, now)
				}
				continue
			}
			inc := known[id]
			switch {
			case inc == nil && !a.Resolved():
				o := newIncident(a, r.pol, now)
				opened[id], openedBy[id] = &o, i
				openings = append(openings, id)
				continue
			case inc == nil:
				continue // resolved before we heard it fire: nothing to close
			case a.Resolved():
				if !resolve(inc, d, now) {
					continue
				}
				w.unschedule = append(w.unschedule, inc.ID)
				for _, ch := range inc.Notified {
					w.outbox = append(w.outbox, notification(inc, -1, "resolve", ch, "resolve", now))
				}
				closed(i, inc, now)
			case inc.Status == Resolved:
				outs, ok := reopen(inc, r.pol, now)
				if !ok {
					inc.LastSeen = now
					break
				}
				w.stepped = append(w.stepped, inc) // its next step and due time
				w.outbox = append(w.outbox, outs...)
				res[i].Reopened++
				w.log(now, inc.ID, "reopened", reopenedDetail)
			default:
				inc.LastSeen = now // a repeat: a heartbeat
			}
			if !written[id] {
				written[id] = true
				w.incidents = append(w.incidents, inc)
			}
		}
		w.log(now, "", "received", receivedDetail(d))
	}

	b := &pgx.Batch{}
	if len(openings) > 0 {
		sort.Strings(openings) // one order of keys, as above
		list := make([]opening, len(openings))
		for j, id := range openings {
			list[j] = *opened[id]
		}
		if err := queueOpenings(b, list); err != nil {
			return nil, err
		}
	}
	if err := w.queue(b); err != nil {
		return nil, err
	}
	if b.Len() == 0 {
		return res, nil
	}
	br = tx.SendBatch(ctx, b)
	defer br.Close()
	if len(openings) > 0 {
		// The openings' statement is queued first: it returns the IDs it
		// opened. One another replica opened first is a repeat for us (an
		// alert in two Alertmanager groups at once); should this group
		// also have resolved it, Alertmanager's resolve of the other
		// replica's incident, or the reconciler, closes it.
		var id string
		_, err := pgx.ForEachRow(rowsOf(br), []any{&id}, func() error {
			i := openedBy[id]
			res[i].Opened++
			res[i].Severities = append(res[i].Severities, opened[id].inc.Labels["severity"])
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("opening incidents: %w", err)
		}
	}
	rest := b.Len()
	if len(openings) > 0 {
		rest--
	}
	for i := 0; i < rest; i++ {
		if _, err := br.Exec(); err != nil {
			return nil, err
		}
	}
	return res, br.Close()
}

// rowsOf is the batch's next result as rows; pgx returns rows even on
// an error, which then ends ForEachRow with it.
func rowsOf(br pgx.BatchResults) pgx.Rows {
	rows, _ := br.Query()
	return rows
}
