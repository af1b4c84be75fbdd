package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hotel-ops/hotel-ops/webhook/store/kv"
)

// Concurrent writes share commits; a failing one gets its own error and
// leaves no trace, the others all land; after close, writes are refused.
func TestGroupCommit(t *testing.T) {
	db, err := kv.Open(filepath.Join(t.TempDir(), "g"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *kv.Tx) error { _, err := tx.CreateBucket([]byte("b")); return err }); err != nil {
		t.Fatal(err)
	}
	c := newCommitter(db)
	bad := errors.New("bad write")
	const n = 2000
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = c.write(context.Background(), func(tx *kv.Tx) error {
				if err := tx.Bucket([]byte("b")).Put(fmt.Appendf(nil, "k%04d", i), []byte("v")); err != nil {
					return err
				}
				if i%100 == 7 {
					return bad // after its Put: the Put must be rolled back
				}
				return nil
			})
		}(i)
	}
	wg.Wait()
	c.close()
	if err := c.write(context.Background(), func(*kv.Tx) error { return nil }); !errors.Is(err, errClosed) {
		t.Errorf("write after close: %v, want %v", err, errClosed)
	}
	err = db.View(func(tx *kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		for i := 0; i < n; i++ {
			stored := b.Get(fmt.Appendf(nil, "k%04d", i)) != nil
			switch failing := i%100 == 7; {
			case failing && !errors.Is(errs[i], bad):
				t.Errorf("write %d: %v, want %v", i, errs[i], bad)
			case failing && stored:
				t.Errorf("write %d failed but its key was stored", i)
			case !failing && errs[i] != nil:
				t.Errorf("write %d: %v", i, errs[i])
			case !failing && !stored:
				t.Errorf("write %d succeeded but its key is missing", i)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A write whose caller's deadline passes while the writer is held returns
// the deadline's error then, not when the writer is free; it still
// commits once the writer is, so a delivery answered 503 and sent again
// is a duplicate, not lost nor stored twice.
func TestGroupCommitDeadline(t *testing.T) {
	db, err := kv.Open(filepath.Join(t.TempDir(), "d"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c := newCommitter(db)
	defer c.close()
	held, release := make(chan struct{}), make(chan struct{})
	go db.Update(func(*kv.Tx) error { close(held); <-release; return nil }) // a stalled writer
	<-held
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	returned := make(chan error, 1)
	go func() {
		returned <- c.write(ctx, func(tx *kv.Tx) error {
			_, err := tx.CreateBucketIfNotExists([]byte("late"))
			return err
		})
	}()
	select {
	case err := <-returned:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("write past its deadline: %v, want %v", err, context.DeadlineExceeded)
		}
	case <-time.After(time.Minute): // the writer is held until release: only the deadline can end it
		t.Fatal("write did not return at its deadline while the writer was held")
	}
	close(release)
	c.close() // commits what is queued
	if err := db.View(func(tx *kv.Tx) error {
		if tx.Bucket([]byte("late")) == nil {
			return errors.New("the write answered at its deadline was never committed")
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
}
