package store

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hotel-ops/hotel-ops/webhook/store/kv"

	"github.com/hotel-ops/hotel-ops/webhook/payload"
)

// Files of earlier versions are migrated when opened: one whose incident
// kept its state in the document alone (the first version), and one whose
// state record held the escalation fields only, the acknowledgement and
// silence being in the document. After the migration each reads, steps,
// resolves and prunes as a new file does.
func TestEmbeddedMigratesOldStates(t *testing.T) {
	s, path := openEmbedded(t)
	pol := policies(t)
	t0 := time.Date(2026, 11, 28, 6, 0, 0, 0, time.UTC)
	if _, err := s.Receive(ctx, delivery(t, "g", "firing", "HotelAppDown/noState", "HotelAppDown/acked"), pol, t0); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	noState, acked := payload.IncidentID("noState", start), payload.IncidentID("acked", start)
	ackedAt := t0.Add(time.Minute)
	err := s.db.Update(func(tx *kv.Tx) error {
		// The first version: no state record; the document says all.
		if err := tx.Bucket(bState).Delete([]byte(noState)); err != nil {
			return err
		}
		// The second: the document holds the acknowledgement and the
		// silence, the state record its escalation fields only.
		inc, err := loadIncident(tx, acked)
		if err != nil {
			return err
		}
		inc.Status, inc.AckedAt, inc.AckedBy, inc.SilenceID, inc.NextDue = Acknowledged, ackedAt, "api", "silence-1", time.Time{}
		if err := putJSON(tx.Bucket(bIncidents), []byte(acked), inc); err != nil {
			return err
		}
		old, _ := json.Marshal(map[string]any{"status": Acknowledged, "nextStep": 0, "lastSeen": t0})
		if err := tx.Bucket(bState).Put([]byte(acked), old); err != nil {
			return err
		}
		for _, k := range [][]byte{timerKey(t0, acked)} {
			if err := tx.Bucket(bTimers).Delete(k); err != nil {
				return err
			}
		}
		return tx.DeleteBucket(bMeta)
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = OpenEmbedded(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	inc, err := s.Incident(ctx, acked)
	if err != nil || inc.Status != Acknowledged || !inc.AckedAt.Equal(ackedAt) || inc.AckedBy != "api" || inc.SilenceID != "silence-1" || inc.Labels["alertname"] != "HotelAppDown" {
		t.Fatalf("acknowledged incident after the migration: %+v %v", inc, err)
	}
	if bySev, err := s.OpenBySeverity(ctx); err != nil || bySev["critical"] != 2 {
		t.Fatalf("open by severity after the migration: %v %v", bySev, err)
	}
	if fired, err := s.FireDue(ctx, pol, t0, 10); err != nil || len(fired) != 1 || fired[0].Incident != noState {
		t.Fatalf("step 0 after the migration: %+v %v", fired, err)
	}
	inc, err = s.Incident(ctx, noState)
	if err != nil || inc.NextStep != 1 || !inc.NextDue.Equal(t0.Add(15*time.Minute)) || strings.Join(inc.Notified, " ") != "pagerduty slack" {
		t.Fatalf("after step 0: %+v %v", inc, err)
	}
	t1 := t0.Add(2 * time.Minute)
	res, err := s.Receive(ctx, delivery(t, "g", "resolved", "HotelAppDown/noState", "HotelAppDown/acked"), pol, t1)
	if err != nil || res.Resolved != 2 || len(res.Resolutions) != 2 || res.Resolutions[0].Severity != "critical" {
		t.Fatalf("resolve after the migration: %+v %v", res, err)
	}
	inc, err = s.Incident(ctx, acked)
	if err != nil || inc.Status != Resolved || !inc.ResolvedAt.Equal(t1) || !inc.AckedAt.Equal(ackedAt) || inc.SilenceID != "silence-1" {
		t.Fatalf("acknowledged incident resolved: %+v %v", inc, err)
	}
	if n, _, err := s.PruneHistory(ctx, t1.Add(time.Second)); err != nil || n != 2 {
		t.Fatalf("pruned %d incidents (%v), want both", n, err)
	}
}

// After the opening an incident's document is never written again: every
// later event writes its state only.
func TestEmbeddedWritesDocumentOnce(t *testing.T) {
	s, _ := openEmbedded(t)
	pol := policies(t)
	t0 := time.Date(2026, 11, 28, 6, 0, 0, 0, time.UTC)
	id := payload.IncidentID("once", time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC))
	doc := func() string {
		var v []byte
		_ = s.db.View(func(tx *kv.Tx) error { v = append(v, tx.Bucket(bIncidents).Get([]byte(id))...); return nil })
		return string(v)
	}
	if _, err := s.Receive(ctx, delivery(t, "g", "firing", "HotelAppDown/once"), pol, t0); err != nil {
		t.Fatal(err)
	}
	opened := doc()
	if _, err := s.Receive(ctx, delivery(t, "g2", "firing", "HotelAppDown/once"), pol, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FireDue(ctx, pol, t0.Add(time.Second), 10); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Ack(ctx, id, "api", t0.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSilence(ctx, id, "silence-1", t0.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Receive(ctx, delivery(t, "g", "resolved", "HotelAppDown/once"), pol, t0.Add(3*time.Second)); err != nil {
		t.Fatal(err)
	}
	if now := doc(); now != opened {
		t.Errorf("the document changed after the opening:\n%s\n%s", opened, now)
	}
	inc, err := s.Incident(ctx, id)
	if err != nil || inc.Status != Resolved || inc.AckedBy != "api" || inc.SilenceID != "silence-1" || len(inc.Notified) == 0 {
		t.Fatalf("incident at the end: %+v %v", inc, err)
	}
}
