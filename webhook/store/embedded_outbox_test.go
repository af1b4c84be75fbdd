package store

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hotel-ops/hotel-ops/webhook/store/kv"
)

// A file of an earlier version (bbolt's) kept one queue for every
// channel; opening it copies it into a store directory, keeps the file as
// .bbolt, and moves each entry to its channel's queue, with its sequence;
// new entries follow the old ones.
func TestOpenMigratesOldOutbox(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket(bOldOutbox)
		if err != nil {
			return err
		}
		for _, n := range []Notification{
			{Key: "i1/0/pagerduty", Incident: "i1", Channel: "pagerduty", Event: "trigger", NextTry: t0},
			{Key: "i1/0/slack", Incident: "i1", Channel: "slack", Event: "trigger", NextTry: t0},
		} {
			seq, _ := b.NextSequence()
			data, _ := json.Marshal(n)
			if err := b.Put(seqKey(seq), data); err != nil {
				return err
			}
		}
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s, err := OpenEmbedded(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if chs, _ := s.Channels(ctx); len(chs) != 2 || chs[0] != "pagerduty" || chs[1] != "slack" {
		t.Fatalf("channels queued: %v", chs)
	}
	err = s.db.Update(func(tx *kv.Tx) error {
		return enqueue(tx, Notification{Key: "i2/0/slack", Incident: "i2", Channel: "slack", Event: "trigger", NextTry: t0})
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Claim(ctx, "", t0, time.Minute, 10)
	if err != nil || len(out) != 3 {
		t.Fatalf("claim: %+v %v", out, err)
	}
	for i, want := range []string{"i1/0/pagerduty", "i1/0/slack", "i2/0/slack"} {
		if out[i].Key != want || out[i].Seq != uint64(i+1) {
			t.Errorf("entry %d: %s seq %d, want %s seq %d", i, out[i].Key, out[i].Seq, want, i+1)
		}
	}
}
