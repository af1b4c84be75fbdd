package kv

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
)

// valueOf is key i's value in round r: its own bytes, so that a record
// read from the wrong place, or overwritten, shows.
func valueOf(i, r int) []byte {
	return bytes.Repeat([]byte(fmt.Sprintf("%d/%d;", i, r)), 60+i%40)
}

// putRound writes keys 0 to n-1 (named by format) with their values of
// round r in one commit, into the bucket, made if need be.
func putRound(t *testing.T, db *DB, bucket, format string, n, r int) {
	t.Helper()
	updateT(t, db, func(tx *Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte(bucket))
		if err != nil {
			return err
		}
		for i := range n {
			if err := b.Put([]byte(fmt.Sprintf(format, i)), valueOf(i, r)); err != nil {
				return err
			}
		}
		return nil
	})
}

// TestRelocationBoundsMemory overwrites and deletes keys in many commits,
// as the store's incidents are: the slabs' memory stays within a bound of
// what the current version holds, while a reader that began long before
// still reads its own values, and the store reopens to the same data.
func TestRelocationBoundsMemory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	db := openT(t, dir, testOpts())
	const keys, rounds = 1500, 30
	rng := rand.New(rand.NewPCG(1, 2))
	putRound(t, db, "incidents", "k%05d", keys, 0)

	// A reader of round 0, open for the whole test.
	started, release, done := make(chan struct{}), make(chan struct{}), make(chan error)
	go func() {
		done <- db.View(func(tx *Tx) error {
			close(started)
			<-release
			b := tx.Bucket([]byte("incidents"))
			for i := range keys {
				if got := b.Get([]byte(fmt.Sprintf("k%05d", i))); !bytes.Equal(got, valueOf(i, 0)) {
					return fmt.Errorf("the reader of round 0 reads key %d as %.20q", i, got)
				}
			}
			return nil
		})
	}()
	<-started

	want := map[int]int{} // key: round of its value; absent when deleted
	for i := range keys {
		want[i] = 0
	}
	relocated := false
	for r := 1; r <= rounds; r++ {
		for c := 0; c < 50; c++ {
			updateT(t, db, func(tx *Tx) error {
				b := tx.Bucket([]byte("incidents"))
				for range 20 {
					i := rng.IntN(keys)
					if rng.IntN(10) == 0 {
						delete(want, i)
						if err := b.Delete([]byte(fmt.Sprintf("k%05d", i))); err != nil {
							return err
						}
						continue
					}
					want[i] = r
					if err := b.Put([]byte(fmt.Sprintf("k%05d", i)), valueOf(i, r)); err != nil {
						return err
					}
				}
				return nil
			})
		}
		db.mu.Lock()
		live, size, slabs := db.arena.live, db.arena.size, len(db.arena.slabs)
		db.mu.Unlock()
		if slabs < int(db.arena.next) {
			relocated = true
		}
		// Dead bytes are at most half the live ones, give or take the
		// slabs a commit's relocation has not reached yet.
		if limit := live + live/2 + 8*slabSize; size > limit {
			t.Fatalf("round %d: slabs of %d bytes for %d live (limit %d)", r, size, live, limit)
		}
	}
	if !relocated {
		t.Fatal("no slab was let go: the test wrote too little to exercise relocation")
	}
	check := func(db *DB, when string) {
		t.Helper()
		err := db.View(func(tx *Tx) error {
			b := tx.Bucket([]byte("incidents"))
			n := 0
			err := b.ForEach(func(k, v []byte) error {
				var i int
				if _, err := fmt.Sscanf(string(k), "k%05d", &i); err != nil {
					return err
				}
				r, ok := want[i]
				if !ok {
					return fmt.Errorf("key %d is there, deleted", i)
				}
				if !bytes.Equal(v, valueOf(i, r)) {
					return fmt.Errorf("key %d reads %.20q, want round %d", i, v, r)
				}
				n++
				return nil
			})
			if err == nil && n != len(want) {
				err = fmt.Errorf("%d keys, want %d", n, len(want))
			}
			return err
		})
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
	}
	check(db, "after the writes")
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	closeT(t, db)
	db = openT(t, dir, testOpts())
	defer closeT(t, db)
	check(db, "reopened")
}

// TestRelocationWithReaders reads while commits relocate: a reader sees
// one version whole, whatever the writer copies meanwhile (run under
// -race, it also shows that writing a slab's end races with no reader).
func TestRelocationWithReaders(t *testing.T) {
	db := openT(t, filepath.Join(t.TempDir(), "db"), testOpts())
	defer closeT(t, db)
	const keys = 400
	putRound(t, db, "b", "k%04d", keys, 0)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 4)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				// Every commit writes all keys with one round: a
				// version's keys all have the same one.
				err := db.View(func(tx *Tx) error {
					b := tx.Bucket([]byte("b"))
					round := -1
					return b.ForEach(func(k, v []byte) error {
						var i, r int
						if _, err := fmt.Sscanf(string(k), "k%04d", &i); err != nil {
							return err
						}
						if _, err := fmt.Sscanf(string(v), "%d/%d;", &i, &r); err != nil {
							return fmt.Errorf("key %s: %w", k, err)
						}
						if round == -1 {
							round = r
						}
						if r != round || !bytes.Equal(v, valueOf(i, r)) {
							return fmt.Errorf("key %s of round %d in a version of round %d", k, r, round)
						}
						return nil
					})
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for r := 1; r <= 150; r++ {
		putRound(t, db, "b", "k%04d", keys, r)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(db.arena.slabs) >= int(db.arena.next) {
		t.Fatal("no slab was let go")
	}
}

// TestFailedUpdateKeepsAccounts: a transaction that fails leaves the live
// bytes as they were, so relocation never counts its records.
func TestFailedUpdateKeepsAccounts(t *testing.T) {
	db := openT(t, filepath.Join(t.TempDir(), "db"), testOpts())
	defer closeT(t, db)
	updateT(t, db, func(tx *Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("v"))
	})
	live := db.arena.live
	err := db.Update(func(tx *Tx) error {
		b := tx.Bucket([]byte("b"))
		for i := range 3000 {
			if err := b.Put([]byte(fmt.Sprintf("x%d", i)), valueOf(i, 1)); err != nil {
				return err
			}
		}
		if err := b.Delete([]byte("k")); err != nil {
			return err
		}
		return fmt.Errorf("refused")
	})
	if err == nil {
		t.Fatal("the failing update succeeded")
	}
	if db.arena.live != live {
		t.Fatalf("live bytes %d after a failed update, %d before", db.arena.live, live)
	}
	var sum int64
	for _, s := range db.arena.slabs {
		sum += int64(s.live)
	}
	if sum != live {
		t.Fatalf("slabs hold %d live bytes, the arena counts %d", sum, live)
	}
	if n := len(db.arena.slabs); n > 2 { // the first one's record, and the current one
		t.Fatalf("%d slabs kept after a failed update filled several", n)
	}
}

// A commit relocates at most relocateSlabs slabs, however many are
// sparse: each one taken is walked whole under the writer's lock (after a
// replay, hundreds may hold a few records each).
func TestRelocationWorkBounded(t *testing.T) {
	a := newArena()
	for range 300 {
		id := a.newSlab(slabSize)
		a.slabs[id].live = 1 << 10
		a.live += 1 << 10
	}
	got := a.sparse()
	if len(got) != relocateSlabs {
		t.Fatalf("%d slabs chosen of 300 nearly empty, want %d", len(got), relocateSlabs)
	}
	seen := map[uint32]bool{}
	for _, id := range got {
		if seen[id] || a.slabs[id] == nil {
			t.Fatalf("chose %v", got)
		}
		seen[id] = true
	}
}

// Slab numbers come round after 2^32 without taking one in use.
func TestSlabNumbersWrap(t *testing.T) {
	a := newArena()
	a.next = noSlab - 1
	first := a.newSlab(64)
	a.next = 0
	a.slabs[0] = &slab{}
	a.slabs[1] = &slab{}
	second := a.newSlab(64)
	if first != noSlab-1 || second != 2 {
		t.Fatalf("slabs numbered %d and %d, want %d and 2", first, second, noSlab-1)
	}
	a.next = noSlab
	if third := a.newSlab(64); third == noSlab || a.slabs[third] == nil || third == first {
		t.Fatalf("numbered %d after the last", third)
	}
}
