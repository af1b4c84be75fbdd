package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hotel-ops/hotel-ops/webhook/store/kv"
)

// migrateBolt turns an earlier version's store, one bbolt file at path,
// into the directory the store is now: every bucket, key and sequence is
// copied into path.migrating, the file is renamed path.bbolt (kept: it is
// the way back), and the directory takes its name. A copy interrupted is
// begun again from path.bbolt. It returns where the old file is kept when
// it migrated one, "" when there was nothing to migrate.
func migrateBolt(path string) (string, error) {
	src := path
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// Renamed to .bbolt and stopped before the directory took its place.
		if _, err := os.Stat(path + ".bbolt"); err != nil {
			return "", nil // a new store
		}
		src = path + ".bbolt"
	case err != nil:
		return "", fmt.Errorf("store %s: %w", path, err)
	case st.IsDir():
		return "", nil
	}
	tmp := path + ".migrating"
	if err := os.RemoveAll(tmp); err != nil {
		return "", fmt.Errorf("store %s: removing an interrupted copy: %w", path, err)
	}
	old, err := bolt.Open(src, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		return "", fmt.Errorf("store %s: opening the earlier version's file: %w", src, err)
	}
	defer old.Close()
	db, err := kv.Open(tmp, nil)
	if err != nil {
		return "", fmt.Errorf("store %s: %w", tmp, err)
	}
	if err := old.View(func(otx *bolt.Tx) error {
		return otx.ForEach(func(name []byte, b *bolt.Bucket) error {
			return copyBucket(db, [][]byte{name}, b)
		})
	}); err != nil {
		db.Close()
		return "", fmt.Errorf("store %s: copying %s: %w", path, src, err)
	}
	if err := db.Checkpoint(); err != nil {
		db.Close()
		return "", fmt.Errorf("store %s: %w", tmp, err)
	}
	if err := db.Close(); err != nil {
		return "", fmt.Errorf("store %s: %w", tmp, err)
	}
	if src == path {
		if err := os.Rename(path, path+".bbolt"); err != nil {
			return "", fmt.Errorf("store %s: %w", path, err)
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("store %s: %w", path, err)
	}
	// Before the first commit is acknowledged: after a crash that lost
	// the renames, the next start would copy the old file again and
	// remove the directory that holds those commits.
	if err := kv.SyncDir(filepath.Dir(path)); err != nil {
		return "", err
	}
	return path + ".bbolt", nil
}

// copyChunk is how many keys one commit of the copy holds.
const copyChunk = 10000

// copyBucket copies bucket b of the old file, at names, with what it
// holds, in commits of copyChunk keys.
func copyBucket(db *kv.DB, names [][]byte, b *bolt.Bucket) error {
	target := func(tx *kv.Tx) (*kv.Bucket, error) {
		kb, err := tx.CreateBucketIfNotExists(names[0])
		for _, n := range names[1:] {
			if err != nil {
				return nil, err
			}
			kb, err = kb.CreateBucketIfNotExists(n)
		}
		return kb, err
	}
	if err := db.Update(func(tx *kv.Tx) error {
		kb, err := target(tx)
		if err != nil {
			return err
		}
		return kb.SetSequence(b.Sequence())
	}); err != nil {
		return err
	}
	type pair struct{ k, v []byte }
	var chunk []pair
	var nested [][]byte
	flush := func() error {
		err := db.Update(func(tx *kv.Tx) error {
			kb, err := target(tx)
			if err != nil {
				return err
			}
			for _, p := range chunk {
				if err := kb.Put(p.k, p.v); err != nil {
					return err
				}
			}
			return nil
		})
		chunk = chunk[:0]
		return err
	}
	err := b.ForEach(func(k, v []byte) error {
		if v == nil { // a bucket
			nested = append(nested, append([]byte(nil), k...))
			return nil
		}
		chunk = append(chunk, pair{append([]byte(nil), k...), append([]byte(nil), v...)})
		if len(chunk) == copyChunk {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	for _, n := range nested {
		if err := copyBucket(db, append(append([][]byte(nil), names...), n), b.Bucket(n)); err != nil {
			return err
		}
	}
	return nil
}
