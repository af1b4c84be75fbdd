package store

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hotel-ops/hotel-ops/webhook/store/kv"
)

// writeBoltStore writes a store file as the versions before package kv
// did: bbolt's buckets, a stored delivery and a sequence, and a bucket in
// a bucket (a channel's queue).
func writeBoltStore(t *testing.T, path, hash string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bDeliveries, bIncidents, bState, bTimers, bQueues, bAudit, bActionRuns, bOnce} {
			if _, err := tx.CreateBucket(b); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bDeliveries).Put(deliveryKey(hash), seqKey(1)); err != nil {
			return err
		}
		q, err := tx.Bucket(bQueues).CreateBucket([]byte("slack"))
		if err != nil {
			return err
		}
		if err := q.SetSequence(41); err != nil {
			return err
		}
		return tx.Bucket(bAudit).SetSequence(7)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A copy stopped half-way (the file already renamed .bbolt, a partial
// directory beside it) is begun again from the .bbolt file when the store
// is next opened, and what the file held is all there: a delivery it had
// stored is a duplicate, sequences go on from where they were.
func TestOpenResumesInterruptedMigration(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "escalator.db")
	d := delivery(t, "g", "firing", "HotelAppDown/a")
	writeBoltStore(t, path+".bbolt", d.Hash)
	if err := os.MkdirAll(filepath.Join(path+".migrating", "junk"), 0o700); err != nil {
		t.Fatal(err)
	}
	s, err := OpenEmbedded(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if st, err := os.Stat(path); err != nil || !st.IsDir() {
		t.Fatalf("store path after the migration: %v %v", st, err)
	}
	if _, err := os.Stat(path + ".migrating"); !os.IsNotExist(err) {
		t.Errorf("the partial copy is still there: %v", err)
	}
	if _, err := os.Stat(path + ".bbolt"); err != nil {
		t.Errorf("the old file is not kept: %v", err)
	}
	if got := s.MigratedFrom(); got != path+".bbolt" {
		t.Errorf("MigratedFrom %q, want %q", got, path+".bbolt")
	}
	res, err := s.Receive(ctx, d, policies(t), time.Date(2026, 11, 28, 6, 0, 0, 0, time.UTC))
	if err != nil || !res.Duplicate {
		t.Fatalf("a delivery the old file had stored: %+v %v", res, err)
	}
	var auditSeq uint64
	s.db.View(func(tx *kv.Tx) error {
		auditSeq = tx.Bucket(bAudit).Sequence()
		if got := tx.Bucket(bQueues).Sequence(); got != 0 {
			t.Errorf("queues sequence %d, want 0", got)
		}
		if q := tx.Bucket(bQueues).Bucket([]byte("slack")); q == nil || q.Sequence() != 41 {
			t.Errorf("the nested bucket after the migration (sequence 41): %+v", q)
		}
		return nil
	})
	if auditSeq != 7 {
		t.Errorf("audit sequence %d, want 7", auditSeq)
	}
	// Opened again: a directory now, nothing more to migrate.
	s.Close()
	if s, err = OpenEmbedded(path); err != nil {
		t.Fatal(err)
	}
	if got := s.MigratedFrom(); got != "" {
		t.Errorf("a store already a directory says it migrated %q", got)
	}
	s.Close()
}
