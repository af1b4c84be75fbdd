package store

import (
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hotel-ops/hotel-ops/webhook/payload"
)

// An incident stored before escalation state had records of its own
// (state in its document only) is stepped, read and acknowledged as
// before, and gets a record from its first step on.
func TestBoltIncidentWithoutStateRecord(t *testing.T) {
	s, _ := openBolt(t)
	pol := policies(t)
	t0 := time.Date(2026, 11, 28, 6, 0, 0, 0, time.UTC)
	if _, err := s.Receive(ctx, delivery(t, "g", "firing", "HotelAppDown/old"), pol, t0); err != nil {
		t.Fatal(err)
	}
	id := payload.IncidentID("old", time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC))
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bState).Delete([]byte(id)) }); err != nil {
		t.Fatal(err)
	}
	if fired, err := s.FireDue(ctx, pol, t0, 10); err != nil || len(fired) != 1 {
		t.Fatalf("step 0 of an incident without a state record: %+v %v", fired, err)
	}
	inc, err := s.Incident(ctx, id)
	if err != nil || inc.NextStep != 1 || !inc.NextDue.Equal(t0.Add(15*time.Minute)) || strings.Join(inc.Notified, " ") != "pagerduty slack" {
		t.Fatalf("after step 0: %+v %v", inc, err)
	}
	if inc, err := s.Ack(ctx, id, "api", t0.Add(time.Minute)); err != nil || inc.Status != Acknowledged {
		t.Fatalf("ack: %+v %v", inc, err)
	}
	if n, _ := s.Pending(ctx); n != 0 {
		t.Errorf("%d timers pending after the ack", n)
	}
}
