package kv

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

// fillBucket makes bucket "c" with keys k0..k(n-1) (one digit is enough
// for the tests here: they sort as numbers).
func fillBucket(t *testing.T, db *DB, keys ...string) {
	t.Helper()
	updateT(t, db, func(tx *Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("c"))
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := b.Put([]byte(k), []byte("v"+k)); err != nil {
				return err
			}
		}
		return nil
	})
}

func allKeys(b *Bucket) []string {
	var ks []string
	_ = b.ForEach(func(k, _ []byte) error { ks = append(ks, string(k)); return nil })
	return ks
}

// The store's callers clear buckets by walking a cursor and deleting as
// they go; bbolt's cursor is known to skip the key after a deleted one.
// Here Next after Delete must give the very next key, every time, so that
// deleting every key leaves nothing.
func TestCursorDeleteAll(t *testing.T) {
	db := openT(t, t.TempDir(), testOpts())
	defer db.Close()
	keys := []string{"a", "b", "c", "d", "e", "f", "g"}
	fillBucket(t, db, keys...)
	updateT(t, db, func(tx *Tx) error {
		c := tx.Bucket([]byte("c")).Cursor()
		var visited []string
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			visited = append(visited, string(k))
			if err := c.Delete(); err != nil {
				return err
			}
		}
		if !slices.Equal(visited, keys) {
			return fmt.Errorf("deleting while walking visited %q, want %q", visited, keys)
		}
		if n := tx.Bucket([]byte("c")).Stats().KeyN; n != 0 {
			return fmt.Errorf("%d keys left", n)
		}
		return nil
	})
	db.View(func(tx *Tx) error {
		if ks := allKeys(tx.Bucket([]byte("c"))); len(ks) != 0 {
			t.Errorf("after commit the bucket holds %q", ks)
		}
		return nil
	})
}

// Deleting every other key, and walking backwards while deleting: the
// cursor goes on from where it was, not from where the tree's node was.
func TestCursorDeleteSome(t *testing.T) {
	db := openT(t, t.TempDir(), testOpts())
	defer db.Close()
	fillBucket(t, db, "0", "1", "2", "3", "4", "5", "6", "7", "8", "9")
	updateT(t, db, func(tx *Tx) error {
		b := tx.Bucket([]byte("c"))
		c := b.Cursor()
		var visited []string
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			visited = append(visited, string(k))
			if (k[0]-'0')%2 == 0 {
				if err := c.Delete(); err != nil {
					return err
				}
			}
		}
		if want := []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}; !slices.Equal(visited, want) {
			return fmt.Errorf("forward walk visited %q", visited)
		}
		if ks, want := allKeys(b), []string{"1", "3", "5", "7", "9"}; !slices.Equal(ks, want) {
			return fmt.Errorf("after deleting the even keys: %q, want %q", ks, want)
		}
		visited = nil
		for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
			visited = append(visited, string(k))
			if k[0] == '7' || k[0] == '3' {
				if err := c.Delete(); err != nil {
					return err
				}
			}
		}
		if want := []string{"9", "7", "5", "3", "1"}; !slices.Equal(visited, want) {
			return fmt.Errorf("backward walk visited %q, want %q", visited, want)
		}
		if ks, want := allKeys(b), []string{"1", "5", "9"}; !slices.Equal(ks, want) {
			return fmt.Errorf("after the backward deletes: %q, want %q", ks, want)
		}
		// The cursor is past the start now: Delete has no key to delete.
		if err := c.Delete(); !errors.Is(err, ErrKeyRequired) {
			return fmt.Errorf("Delete past the start: %v, want ErrKeyRequired", err)
		}
		return nil
	})
}

// Put between moves: a key put after the cursor is visited, one put
// before it is not, and replacing the current key's value keeps the
// position.
func TestCursorPutBetweenMoves(t *testing.T) {
	db := openT(t, t.TempDir(), testOpts())
	defer db.Close()
	fillBucket(t, db, "b", "d", "f")
	updateT(t, db, func(tx *Tx) error {
		b := tx.Bucket([]byte("c"))
		c := b.Cursor()
		var visited []string
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			visited = append(visited, string(k))
			switch string(k) {
			case "b":
				if err := b.Put([]byte("c"), []byte("new")); err != nil { // after the cursor
					return err
				}
				if err := b.Put([]byte("a"), []byte("new")); err != nil { // before it
					return err
				}
			case "d":
				if err := b.Put([]byte("d"), []byte("replaced")); err != nil {
					return err
				}
			}
		}
		if want := []string{"b", "c", "d", "f"}; !slices.Equal(visited, want) {
			return fmt.Errorf("visited %q, want %q", visited, want)
		}
		if k, v := c.Seek([]byte("d")); string(k) != "d" || string(v) != "replaced" {
			return fmt.Errorf("Seek(d) = %q=%q after replacing it", k, v)
		}
		if k, _ := c.Prev(); string(k) != "c" {
			return fmt.Errorf("Prev from d = %q, want the key put during the walk", k)
		}
		return nil
	})
}

// Seek past the last key gives nothing and leaves the cursor nowhere:
// Next and Prev from there give nothing either, and First works again.
func TestCursorSeekPastEnd(t *testing.T) {
	db := openT(t, t.TempDir(), testOpts())
	defer db.Close()
	fillBucket(t, db, "a", "b", "c")
	db.View(func(tx *Tx) error {
		c := tx.Bucket([]byte("c")).Cursor()
		if k, v := c.Seek([]byte("c\x00")); k != nil || v != nil {
			t.Errorf("Seek past the end = %q=%q", k, v)
		}
		if k, _ := c.Next(); k != nil {
			t.Errorf("Next after Seek past the end = %q", k)
		}
		if k, _ := c.Prev(); k != nil {
			t.Errorf("Prev after Seek past the end = %q", k)
		}
		if k, _ := c.Seek([]byte("bb")); string(k) != "c" {
			t.Errorf("Seek(bb) = %q, want c", k)
		}
		if k, _ := c.Seek(nil); string(k) != "a" {
			t.Errorf("Seek(nil) = %q, want the first key", k)
		}
		if k, _ := c.First(); string(k) != "a" {
			t.Errorf("First = %q", k)
		}
		if k, _ := c.Prev(); k != nil {
			t.Errorf("Prev before the first = %q", k)
		}
		return nil
	})
}

// An empty bucket, and one emptied in the same transaction: every move
// gives nil, and Delete has nothing to delete.
func TestCursorEmptyBucket(t *testing.T) {
	db := openT(t, t.TempDir(), testOpts())
	defer db.Close()
	check := func(tx *Tx, what string) {
		c := tx.Bucket([]byte("c")).Cursor()
		for name, move := range map[string]func() ([]byte, []byte){
			"First": c.First, "Last": c.Last, "Next": c.Next, "Prev": c.Prev,
			"Seek": func() ([]byte, []byte) { return c.Seek([]byte("a")) },
		} {
			if k, v := move(); k != nil || v != nil {
				t.Errorf("%s: %s = %q=%q on an empty bucket", what, name, k, v)
			}
		}
	}
	fillBucket(t, db)
	db.View(func(tx *Tx) error { check(tx, "new bucket"); return nil })
	fillBucket(t, db, "x", "y")
	updateT(t, db, func(tx *Tx) error {
		b := tx.Bucket([]byte("c"))
		b.Delete([]byte("x"))
		b.Delete([]byte("y"))
		check(tx, "emptied in the transaction")
		if err := b.Cursor().Delete(); !errors.Is(err, ErrKeyRequired) {
			t.Errorf("Cursor.Delete with no key: %v", err)
		}
		return nil
	})
}

// A cursor over a bucket deleted under it gives nothing rather than the
// keys of a bucket that is gone (or a panic).
func TestCursorBucketDeleted(t *testing.T) {
	db := openT(t, t.TempDir(), testOpts())
	defer db.Close()
	fillBucket(t, db, "a", "b")
	updateT(t, db, func(tx *Tx) error {
		b := tx.Bucket([]byte("c"))
		c := b.Cursor()
		if k, _ := c.First(); string(k) != "a" {
			return fmt.Errorf("First = %q", k)
		}
		if err := tx.DeleteBucket([]byte("c")); err != nil {
			return err
		}
		if k, _ := c.Next(); k != nil {
			return fmt.Errorf("Next over a deleted bucket = %q", k)
		}
		if v := b.Get([]byte("a")); v != nil {
			return fmt.Errorf("Get in a deleted bucket = %q", v)
		}
		if err := b.Put([]byte("a"), nil); !errors.Is(err, ErrBucketNotFound) {
			return fmt.Errorf("Put in a deleted bucket: %v, want ErrBucketNotFound", err)
		}
		if err := b.ForEach(func(k, v []byte) error { return nil }); !errors.Is(err, ErrBucketNotFound) {
			return fmt.Errorf("ForEach of a deleted bucket: %v", err)
		}
		// Made again, the bucket is new and empty: nothing of the old one
		// shows through.
		nb, err := tx.CreateBucket([]byte("c"))
		if err != nil {
			return err
		}
		if k, _ := nb.Cursor().First(); k != nil {
			return fmt.Errorf("re-created bucket holds %q", k)
		}
		return nil
	})
}
