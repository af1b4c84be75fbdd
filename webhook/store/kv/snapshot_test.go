package kv

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Checkpoint puts the whole store in one snapshot and starts a new
// journal; the journals the snapshot holds are removed, or the directory
// grows without end. Reopening from the snapshot alone gives the same
// store, nested buckets and sequences included.
func TestCheckpointRemovesJournals(t *testing.T) {
	dir := t.TempDir()
	db := openT(t, dir, testOpts())
	for i := 1; i <= 20; i++ {
		commitI(t, db, i)
	}
	updateT(t, db, func(tx *Tx) error {
		b, err := tx.CreateBucket([]byte("outer"))
		if err != nil {
			return err
		}
		in, err := b.CreateBucket([]byte("inner"))
		if err != nil {
			return err
		}
		if _, err := b.CreateBucket([]byte("empty")); err != nil {
			return err
		}
		if err := in.SetSequence(1 << 40); err != nil {
			return err
		}
		return in.Put([]byte("deep"), []byte{})
	})
	if got, want := dirFiles(t, dir), []string{journalName(1)}; !slices.Equal(got, want) {
		t.Fatalf("before Checkpoint: %v, want %v", got, want)
	}
	want := dumpDB(t, db)
	if err := db.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if got, want := dirFiles(t, dir), []string{journalName(2), snapshotName(1)}; !slices.Equal(got, want) {
		t.Fatalf("after Checkpoint: %v, want %v", got, want)
	}
	if got := dumpDB(t, db); got != want {
		t.Fatalf("Checkpoint changed what the store reads: %s", diffDumps(want, got))
	}
	st := db.Stats()
	if st.SnapshotBytes != fileSize(t, filepath.Join(dir, snapshotName(1))) || st.CheckpointErr != "" {
		t.Fatalf("Stats after Checkpoint: %+v", st)
	}
	// A second checkpoint replaces the first snapshot.
	commitI(t, db, 21)
	want = dumpDB(t, db)
	if err := db.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if got, want := dirFiles(t, dir), []string{journalName(3), snapshotName(2)}; !slices.Equal(got, want) {
		t.Fatalf("after the second Checkpoint: %v, want %v", got, want)
	}
	closeT(t, db)
	db = openT(t, dir, testOpts())
	defer db.Close()
	if got := dumpDB(t, db); got != want {
		t.Fatalf("reopened from the snapshot: %s", diffDumps(want, got))
	}
	if !strings.Contains(want, `"deep"=""`) || !strings.Contains(want, "seq=1099511627776") {
		t.Fatalf("the dump misses what the test put in it:\n%s", want)
	}
}

// A snapshot is written in records of about snapshotRecord bytes: a store
// bigger than one record, with a bucket whose keys span records, must
// come back whole.
func TestSnapshotSeveralRecords(t *testing.T) {
	dir := t.TempDir()
	db := openT(t, dir, testOpts())
	val := make([]byte, 1000)
	updateT(t, db, func(tx *Tx) error {
		for _, name := range []string{"a", "b"} {
			b, err := tx.CreateBucket([]byte(name))
			if err != nil {
				return err
			}
			for i := range 1500 { // 1.5 MB a bucket: records split inside each
				binary.BigEndian.PutUint32(val, uint32(i))
				if err := b.Put(binary.BigEndian.AppendUint32(nil, uint32(i)), val); err != nil {
					return err
				}
			}
		}
		return nil
	})
	want := dumpDB(t, db)
	if err := db.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if size := fileSize(t, filepath.Join(dir, snapshotName(1))); size < 2*snapshotRecord {
		t.Fatalf("snapshot of %d bytes: the test does not span records", size)
	}
	closeT(t, db)
	db = openT(t, dir, testOpts())
	defer db.Close()
	if got := dumpDB(t, db); got != want {
		t.Fatalf("reopened: %s", diffDumps(want, got))
	}
}

// CheckpointBytes: once the journal holds that much, a snapshot is
// written without anyone asking, and the old journals go.
func TestAutomaticCheckpoint(t *testing.T) {
	dir := t.TempDir()
	db := openT(t, dir, &Options{NoSync: true, CheckpointBytes: 1 << 10})
	for i := 1; i <= 200; i++ {
		commitI(t, db, i)
	}
	closeT(t, db) // waits for a snapshot being written
	files := dirFiles(t, dir)
	var snaps, journals int
	for _, f := range files {
		switch {
		case strings.HasPrefix(f, "snapshot-"):
			snaps++
		case strings.HasPrefix(f, "journal-"):
			journals++
		}
	}
	if snaps != 1 || journals < 1 || journals > 2 || strings.HasPrefix(files[0], journalName(1)) {
		t.Fatalf("after 200 commits with CheckpointBytes 1 KiB: %v", files)
	}
	db = openT(t, dir, testOpts())
	defer db.Close()
	wantCommits(t, db, 200)
}

// Readers run while the writer commits and snapshots are written in the
// background: each reads one version, whole. Every commit writes the
// same counter to two keys in two buckets (and the count of keys), so a
// reader that sees them differ has seen half a commit. Run with -race:
// the snapshot goroutine reads the trees the writer clones.
func TestConcurrentReadersDuringSnapshots(t *testing.T) {
	dir := t.TempDir()
	db := openT(t, dir, &Options{NoSync: true, CheckpointBytes: 4 << 10})
	updateT(t, db, func(tx *Tx) error {
		for _, name := range []string{"x", "y"} {
			b, err := tx.CreateBucket([]byte(name))
			if err != nil {
				return err
			}
			// Enough keys that a snapshot takes a while and the trees have
			// several levels of nodes to copy.
			for i := range 3000 {
				if err := b.Put(fmt.Appendf(nil, "fill%05d", i), make([]byte, 32)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	commits := 1500
	if testing.Short() {
		commits = 300
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	read := func(tx *Tx) (uint64, error) {
		x, y := tx.Bucket([]byte("x")), tx.Bucket([]byte("y"))
		a, b := x.Get([]byte("counter")), y.Get([]byte("counter"))
		if (a == nil) != (b == nil) || a != nil && string(a) != string(b) {
			return 0, fmt.Errorf("counter in x is %s and in y %s", bytesOrNil(a), bytesOrNil(b))
		}
		if x.Sequence() != y.Sequence() {
			return 0, fmt.Errorf("sequences %d and %d", x.Sequence(), y.Sequence())
		}
		if nx, ny := x.Stats().KeyN, y.Stats().KeyN; nx != ny {
			return 0, fmt.Errorf("%d keys in x, %d in y", nx, ny)
		}
		// The key of the current counter is in both, and walking x finds
		// as many keys as Stats says.
		n := 0
		x.ForEach(func(k, v []byte) error { n++; return nil })
		if n != x.Stats().KeyN {
			return 0, fmt.Errorf("ForEach gave %d keys, Stats %d", n, x.Stats().KeyN)
		}
		c := y.Cursor()
		k, _ := c.Last()
		if a != nil && string(k) != "n"+string(a) {
			return 0, fmt.Errorf("last key of y is %q with counter %s", k, a)
		}
		return x.Sequence(), nil
	}
	for range 6 {
		wg.Go(func() {
			var last uint64
			for !stop.Load() {
				err := db.View(func(tx *Tx) error {
					seq, err := read(tx)
					if err == nil && seq < last {
						err = fmt.Errorf("went back from commit %d to %d", last, seq)
					}
					last = seq
					return err
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	// Forced checkpoints too, from another goroutine, racing the
	// automatic ones.
	wg.Go(func() {
		for !stop.Load() {
			if err := db.Checkpoint(); err != nil {
				errs <- fmt.Errorf("Checkpoint: %v", err)
				return
			}
			time.Sleep(time.Millisecond)
		}
	})
	var werr error
	for i := 1; i <= commits && werr == nil; i++ {
		werr = db.Update(func(tx *Tx) error {
			v := fmt.Appendf(nil, "%08d", i)
			for _, name := range []string{"x", "y"} {
				b := tx.Bucket([]byte(name))
				if err := b.Put([]byte("counter"), v); err != nil {
					return err
				}
				if err := b.Put(append([]byte("n"), v...), nil); err != nil {
					return err
				}
				if i%3 == 0 {
					if err := b.Delete(fmt.Appendf(nil, "fill%05d", i)); err != nil {
						return err
					}
				}
				if _, err := b.NextSequence(); err != nil {
					return err
				}
			}
			return nil
		})
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if werr != nil {
		t.Fatal(werr)
	}
	if s := db.Stats(); s.CheckpointErr != "" {
		t.Fatalf("a checkpoint failed: %s", s.CheckpointErr)
	}
	want := dumpDB(t, db)
	closeT(t, db)
	db = openT(t, dir, testOpts())
	defer db.Close()
	if got := dumpDB(t, db); got != want {
		t.Fatalf("after reopen: %s", diffDumps(want, got))
	}
	db.View(func(tx *Tx) error {
		if got := string(tx.Bucket([]byte("x")).Get([]byte("counter"))); got != fmt.Sprintf("%08d", commits) {
			t.Errorf("counter after reopen = %s, want %d", got, commits)
		}
		return nil
	})
}

// A Checkpoint that is waiting for a snapshot already being written when
// Close is called must not start another one after Close has returned:
// Close promises that nothing is written to the directory afterwards (the
// next process may have it open by then).
func TestCheckpointRacingClose(t *testing.T) {
	for attempt := range 20 {
		dir := t.TempDir()
		db := openT(t, dir, testOpts())
		updateT(t, db, func(tx *Tx) error {
			b, err := tx.CreateBucket([]byte("big"))
			if err != nil {
				return err
			}
			for i := range 20000 {
				if err := b.Put(fmt.Appendf(nil, "%08d", i), make([]byte, 64)); err != nil {
					return err
				}
			}
			return nil
		})
		// Two forced checkpoints: the second waits for the first's
		// snapshot, and is waiting when Close comes.
		var wg sync.WaitGroup
		started := make(chan struct{}, 2)
		results := make(chan error, 2)
		for range 2 {
			wg.Go(func() {
				started <- struct{}{}
				results <- db.Checkpoint()
			})
		}
		<-started
		<-started
		time.Sleep(200 * time.Microsecond)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		after := dirFiles(t, dir)
		wg.Wait()
		close(results)
		time.Sleep(5 * time.Millisecond)
		if later := dirFiles(t, dir); !slices.Equal(after, later) {
			t.Fatalf("attempt %d: the directory changed after Close returned: %v, then %v", attempt, after, later)
		}
		for err := range results {
			if err != nil && err != ErrClosed {
				t.Fatalf("attempt %d: Checkpoint: %v", attempt, err)
			}
		}
		db = openT(t, dir, testOpts())
		if n := bucketCount(db); n != 1 {
			t.Fatalf("attempt %d: %d buckets after reopen", attempt, n)
		}
		closeT(t, db)
	}
}

// Checkpoint called (by a backup, say) while commits start automatic
// checkpoints back to back (a tiny CheckpointBytes): a snapshot ends and
// the next one starts while Checkpoint is waiting for the first. That
// must neither panic nor fail, and every snapshot must leave the store
// readable.
func TestCheckpointDuringAutomaticCheckpoints(t *testing.T) {
	dir := t.TempDir()
	db := openT(t, dir, &Options{NoSync: true, CheckpointBytes: 1})
	updateT(t, db, func(tx *Tx) error { _, err := tx.CreateBucket([]byte("a")); return err })
	var stop atomic.Bool
	var wg sync.WaitGroup
	var checkpoints atomic.Int64
	errs := make(chan error, 3)
	for range 3 {
		wg.Go(func() {
			for !stop.Load() {
				if err := db.Checkpoint(); err != nil {
					errs <- err
					return
				}
				checkpoints.Add(1)
			}
		})
	}
	deadline := time.Now().Add(700 * time.Millisecond)
	n := 0
	for time.Now().Before(deadline) {
		n++
		updateT(t, db, func(tx *Tx) error {
			return tx.Bucket([]byte("a")).Put(fmt.Appendf(nil, "%06d", n%500), fmt.Appendf(nil, "%d", n))
		})
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Checkpoint: %v", err)
	}
	if checkpoints.Load() == 0 {
		t.Fatal("no Checkpoint returned")
	}
	want := dumpDB(t, db)
	closeT(t, db)
	db = openT(t, dir, testOpts())
	defer db.Close()
	if got := dumpDB(t, db); got != want {
		t.Fatalf("after reopen: %s", diffDumps(want, got))
	}
	t.Logf("%d commits, %d forced checkpoints", n, checkpoints.Load())
}
