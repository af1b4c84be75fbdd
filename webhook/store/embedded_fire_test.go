package store

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotel-ops/hotel-ops/webhook/store/kv"

	"github.com/hotel-ops/hotel-ops/webhook/payload"
	"github.com/hotel-ops/hotel-ops/webhook/policy"
)

var firingAt = time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC) // delivery()'s startsAt

// openFiring opens n incidents of the system-down policy, whose first
// step is due at once.
func openFiring(t *testing.T, s Store, n int) []string {
	t.Helper()
	var ids []string
	for i := 0; i < n; i++ {
		fp := fmt.Sprintf("fire%d", i)
		if _, err := s.Receive(ctx, delivery(t, "g"+fp, "firing", "HotelAppDown/"+fp), policies(t), firingAt); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, payload.IncidentID(fp, firingAt))
	}
	return ids
}

// readOne reads and prepares the one due step, as FireDue does before it
// writes.
func readOne(t *testing.T, s *Embedded, pol *policy.File) []*dueStep {
	t.Helper()
	due, err := s.readDue(firingAt, 10)
	t.Cleanup(func() { s.release(due) })
	if err != nil || len(due) != 1 {
		t.Fatalf("read %d due: %v", len(due), err)
	}
	parallel(len(due), func(i int) { due[i].prepare(pol, firingAt) })
	return due
}

// A step read and prepared outside the writer, then acknowledged before it
// is written, does not fire.
func TestEmbeddedStepAcknowledgedWhilePrepared(t *testing.T) {
	s, _ := openEmbedded(t)
	pol := policies(t)
	id := openFiring(t, s, 1)[0]
	due := readOne(t, s, pol)
	if _, err := s.Ack(ctx, id, "api", firingAt); err != nil {
		t.Fatal(err)
	}
	fired, err := s.applyDue(ctx, due, pol, firingAt)
	if err != nil || len(fired) != 0 {
		t.Fatalf("fired after the acknowledgement: %+v %v", fired, err)
	}
	if out, _ := s.Claim(ctx, "", firingAt, time.Minute, 100); len(out) != 0 {
		t.Errorf("notifications queued after the acknowledgement: %+v", out)
	}
	if inc, _ := s.Incident(ctx, id); inc.Status != Acknowledged || inc.NextStep != 0 {
		t.Errorf("incident %+v", inc)
	}
}

// A timer removed between the read and the write (by whatever removed
// it) is not fired, even when its state is unchanged.
func TestEmbeddedStepWhoseTimerWentAway(t *testing.T) {
	s, _ := openEmbedded(t)
	pol := policies(t)
	openFiring(t, s, 1)
	due := readOne(t, s, pol)
	if err := s.db.Update(func(tx *kv.Tx) error { return tx.Bucket(bTimers).Delete(due[0].key) }); err != nil {
		t.Fatal(err)
	}
	if fired, err := s.applyDue(ctx, due, pol, firingAt); err != nil || len(fired) != 0 {
		t.Fatalf("fired without its timer: %+v %v", fired, err)
	}
}

// A state written between the read and the write is stepped as it is
// when written, not as it was read.
func TestEmbeddedStepTakesTheStateAsWritten(t *testing.T) {
	s, _ := openEmbedded(t)
	pol := policies(t)
	id := openFiring(t, s, 1)[0]
	due := readOne(t, s, pol)
	err := s.db.Update(func(tx *kv.Tx) error {
		inc, err := loadIncident(tx, id)
		if err != nil {
			return err
		}
		inc.Notified = []string{"earlier"}
		return saveState(tx, inc)
	})
	if err != nil {
		t.Fatal(err)
	}
	if fired, err := s.applyDue(ctx, due, pol, firingAt); err != nil || len(fired) != 1 {
		t.Fatalf("fired %+v: %v", fired, err)
	}
	inc, _ := s.Incident(ctx, id)
	if got := strings.Join(inc.Notified, " "); got != "earlier pagerduty slack" || inc.NextStep != 1 {
		t.Errorf("stepped from the state as read: notified %q, next step %d", got, inc.NextStep)
	}
}

// FireDue calls at once take different steps, and every step once.
func TestEmbeddedFireDueAtOnce(t *testing.T) {
	s, _ := openEmbedded(t)
	pol := policies(t)
	ids := openFiring(t, s, 600)
	a, err := s.readDue(firingAt, 400)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.readDue(firingAt, 400)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 400 || len(b) != 200 {
		t.Errorf("two reads took %d and %d of 600 due steps", len(a), len(b))
	}
	for _, d := range b {
		if slices.ContainsFunc(a, func(e *dueStep) bool { return e.id == d.id }) {
			t.Fatalf("%s read by both", d.id)
		}
	}
	s.release(a)
	s.release(b)

	// And through FireDue, as the engine's two workers call it, until
	// nothing is due even at the second step's time.
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, at := range []time.Time{firingAt, firingAt.Add(time.Hour)} {
				for {
					fired, err := s.FireDue(ctx, pol, at, 50)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					for _, f := range fired {
						seen[fmt.Sprint(f.Incident, "/", f.Step)]++
					}
					mu.Unlock()
					if len(fired) == 0 {
						break
					}
				}
			}
		}()
	}
	wg.Wait()
	if n, _ := s.Pending(ctx); n != 0 {
		t.Errorf("%d steps still pending", n)
	}
	for _, id := range ids {
		for step := 0; step < 2; step++ {
			if c := seen[fmt.Sprint(id, "/", step)]; c != 1 {
				t.Errorf("%s step %d fired %d times", id, step, c)
			}
		}
	}
}
