package kv

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Two processes appending to one journal would interleave their
// records: the second Open must fail with ErrLocked while the first has
// the store, and succeed once it has closed it.
func TestOpenLocked(t *testing.T) {
	dir := t.TempDir()
	db := openT(t, dir, testOpts())
	commitI(t, db, 1)
	second, err := Open(dir, testOpts())
	if err == nil {
		second.Close()
		t.Fatal("second Open of an open store succeeded")
	}
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	// The refused Open touched nothing: the first store goes on.
	commitI(t, db, 2)
	closeT(t, db)
	db = openT(t, dir, testOpts())
	wantCommits(t, db, 2)
	closeT(t, db)
}

// An Open that fails on a damaged store must let go of the lock, or the
// store cannot be opened again after the damage is repaired without
// restarting the process.
func TestOpenFailureReleasesLock(t *testing.T) {
	dir := t.TempDir()
	db := openT(t, dir, testOpts())
	commitI(t, db, 1)
	if err := db.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	closeT(t, db)
	snap := filepath.Join(dir, snapshotName(1))
	good, err := os.ReadFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	flipByte(t, snap, int64(len(good)-1), 1)
	if db, err := Open(dir, testOpts()); err == nil {
		db.Close()
		t.Fatal("Open of a damaged snapshot succeeded")
	} else if errors.Is(err, ErrLocked) {
		t.Fatalf("Open of a damaged snapshot: %v", err)
	}
	if err := os.WriteFile(snap, good, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err = Open(dir, testOpts())
	if err != nil {
		t.Fatalf("Open after the repair: %v", err)
	}
	wantCommits(t, db, 1)
	closeT(t, db)
}

// After Close every transaction and Checkpoint says ErrClosed (rather
// than reading freed state or writing to a closed file); Close again is
// harmless.
func TestClosed(t *testing.T) {
	db := openT(t, t.TempDir(), nil) // nil: the options a service uses
	commitI(t, db, 1)
	closeT(t, db)
	called := false
	if err := db.Update(func(*Tx) error { called = true; return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Update after Close: %v", err)
	}
	if err := db.View(func(*Tx) error { called = true; return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("View after Close: %v", err)
	}
	if called {
		t.Error("a transaction's fn ran after Close")
	}
	if err := db.Checkpoint(); !errors.Is(err, ErrClosed) {
		t.Errorf("Checkpoint after Close: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// Every write in a read-only transaction is ErrTxNotWritable, and none of
// them changes what is read, then or later.
func TestViewNotWritable(t *testing.T) {
	db := openT(t, t.TempDir(), testOpts())
	defer db.Close()
	updateT(t, db, func(tx *Tx) error {
		b, err := tx.CreateBucket([]byte("a"))
		if err != nil {
			return err
		}
		if _, err := b.CreateBucket([]byte("child")); err != nil {
			return err
		}
		if !tx.Writable() {
			t.Error("Update's transaction is not Writable")
		}
		return b.Put([]byte("k"), []byte("v"))
	})
	before := dumpDB(t, db)
	err := db.View(func(tx *Tx) error {
		if tx.Writable() {
			t.Error("View's transaction is Writable")
		}
		b := tx.Bucket([]byte("a"))
		c := b.Cursor()
		c.First()
		for name, err := range map[string]error{
			"Put":                     b.Put([]byte("k"), []byte("w")),
			"Put new":                 b.Put([]byte("new"), []byte("w")),
			"Delete":                  b.Delete([]byte("k")),
			"Delete absent":           b.Delete([]byte("absent")),
			"Cursor.Delete":           c.Delete(),
			"SetSequence":             b.SetSequence(9),
			"Tx.DeleteBucket":         tx.DeleteBucket([]byte("a")),
			"Bucket.DeleteBucket":     b.DeleteBucket([]byte("child")),
			"NextSequence":            func() error { _, err := b.NextSequence(); return err }(),
			"Tx.CreateBucket":         func() error { _, err := tx.CreateBucket([]byte("b")); return err }(),
			"Tx.CreateBucketIfNot":    func() error { _, err := tx.CreateBucketIfNotExists([]byte("b")); return err }(),
			"Bucket.CreateBucket":     func() error { _, err := b.CreateBucket([]byte("c2")); return err }(),
			"Bucket.CreateBucketIfNo": func() error { _, err := b.CreateBucketIfNotExists([]byte("c2")); return err }(),
		} {
			if !errors.Is(err, ErrTxNotWritable) {
				t.Errorf("%s in View: %v, want ErrTxNotWritable", name, err)
			}
		}
		if got := dumpTx(tx); got != before {
			t.Errorf("refused writes changed the view: %s", diffDumps(before, got))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := dumpDB(t, db); got != before {
		t.Errorf("refused writes changed the store: %s", diffDumps(before, got))
	}
}

// The error of a failing fn is Update's, and nothing of the transaction
// is kept: not in memory, not in the journal (an empty or failed Update
// appends nothing), not after reopen. A panicking fn is the same, and
// leaves the store usable.
func TestUpdateFailureKeepsNothing(t *testing.T) {
	dir := t.TempDir()
	db := openT(t, dir, testOpts())
	commitI(t, db, 1)
	before := dumpDB(t, db)
	journal := filepath.Join(dir, journalName(1))
	size := fileSize(t, journal)
	errMine := errors.New("mine")
	err := db.Update(func(tx *Tx) error {
		b := tx.Bucket([]byte("r"))
		b.Put([]byte("k0001"), []byte("overwritten"))
		b.Put([]byte("new"), []byte("x"))
		b.NextSequence()
		tx.CreateBucket([]byte("other"))
		tx.DeleteBucket([]byte("r"))
		return errMine
	})
	if err != errMine {
		t.Fatalf("Update returned %v, want fn's error", err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the panic of fn was swallowed")
			}
		}()
		db.Update(func(tx *Tx) error {
			tx.Bucket([]byte("r")).Put([]byte("p"), []byte("panicked"))
			panic("fn panics")
		})
	}()
	updateT(t, db, func(tx *Tx) error { return nil })
	updateT(t, db, func(tx *Tx) error {
		// Only reads, and a create that finds its bucket: nothing to write.
		_, err := tx.CreateBucketIfNotExists([]byte("r"))
		tx.Bucket([]byte("r")).Delete([]byte("absent"))
		return err
	})
	if got := dumpDB(t, db); got != before {
		t.Fatalf("after failed Updates: %s", diffDumps(before, got))
	}
	if got := fileSize(t, journal); got != size {
		t.Fatalf("journal grew from %d to %d bytes with nothing committed", size, got)
	}
	commitI(t, db, 2) // the writer lock was released by the panic
	closeT(t, db)
	db = openT(t, dir, testOpts())
	defer db.Close()
	wantCommits(t, db, 2)
}

// Values given out are the store's and stay as they were after the
// transaction, whatever commits later; Put copies what it is given, so
// the caller may reuse its buffers.
func TestValuesStable(t *testing.T) {
	db := openT(t, t.TempDir(), testOpts())
	defer db.Close()
	key, val := []byte("key"), []byte("first")
	updateT(t, db, func(tx *Tx) error {
		b, err := tx.CreateBucket([]byte("a"))
		if err != nil {
			return err
		}
		return b.Put(key, val)
	})
	key[0], val[0] = 'X', 'X' // the caller reuses its buffers
	var got, gotKey []byte
	db.View(func(tx *Tx) error {
		b := tx.Bucket([]byte("a"))
		got = b.Get([]byte("key"))
		gotKey, _ = b.Cursor().First()
		return nil
	})
	if string(got) != "first" || string(gotKey) != "key" {
		t.Fatalf("stored %q=%q, want the bytes as they were at Put", gotKey, got)
	}
	for range 3 {
		updateT(t, db, func(tx *Tx) error {
			b := tx.Bucket([]byte("a"))
			if err := b.Put([]byte("key"), []byte("later")); err != nil {
				return err
			}
			return b.Delete([]byte("key"))
		})
	}
	if string(got) != "first" || string(gotKey) != "key" {
		t.Fatalf("a value read earlier changed to %q=%q", gotKey, got)
	}
}

// When appending to the journal fails, what reached the disk is unknown:
// the commit must not become visible, and the store must refuse further
// writes (reads go on) until it is opened again, which then holds the
// commits before the failure. The failure is made by closing the
// journal's file under the store.
func TestJournalWriteFailure(t *testing.T) {
	dir := t.TempDir()
	db := openT(t, dir, testOpts())
	commitI(t, db, 1)
	db.j.f.Close()
	if err := db.Update(func(tx *Tx) error { return tx.Bucket([]byte("r")).Put([]byte("lost"), []byte("x")) }); err == nil {
		t.Fatal("Update succeeded with the journal closed")
	}
	wantCommits(t, db, 1) // the failed commit is not visible
	err := db.Update(func(tx *Tx) error { t.Error("fn ran in a failed store"); return nil })
	if err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("Update after a failed append: %v, want the store's failure", err)
	}
	db.Close() // the journal's file is already closed: an error is fine
	db = openT(t, dir, testOpts())
	defer db.Close()
	wantCommits(t, db, 1)
	commitI(t, db, 2)
	wantCommits(t, db, 2)
}

// A snapshot that cannot be written (here: its temporary name is taken
// by a directory) must cost nothing but the snapshot: Checkpoint and
// Stats report it, the journals it would have replaced are kept, commits
// go on, and the next checkpoint succeeds and clears the error.
func TestCheckpointFailure(t *testing.T) {
	dir := t.TempDir()
	db := openT(t, dir, testOpts())
	commitI(t, db, 1)
	blocker := filepath.Join(dir, snapshotName(1)+".tmp")
	if err := os.MkdirAll(filepath.Join(blocker, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := db.Checkpoint(); err == nil {
		t.Fatal("Checkpoint succeeded without being able to write its snapshot")
	}
	if s := db.Stats(); s.CheckpointErr == "" {
		t.Fatalf("Stats after a failed checkpoint: %+v", s)
	}
	commitI(t, db, 2)
	closeT(t, db)
	// Journal 1 is still there: nothing of commit 1 is lost.
	db = openT(t, dir, testOpts())
	wantCommits(t, db, 2)
	if err := os.RemoveAll(blocker); err != nil {
		t.Fatal(err)
	}
	if err := db.Checkpoint(); err != nil {
		t.Fatalf("Checkpoint after the obstacle is gone: %v", err)
	}
	if s := db.Stats(); s.CheckpointErr != "" {
		t.Fatalf("Stats after a good checkpoint: %+v", s)
	}
	commitI(t, db, 3)
	closeT(t, db)
	db = openT(t, dir, testOpts())
	defer db.Close()
	wantCommits(t, db, 3)
}
