package kv

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// testOpts are the options of most tests: no fdatasync (the tests never
// crash the machine, only cut files) and the default checkpoint size.
func testOpts() *Options { return &Options{NoSync: true} }

func openT(t testing.TB, dir string, opts *Options) *DB {
	t.Helper()
	db, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return db
}

func closeT(t testing.TB, db *DB) {
	t.Helper()
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func updateT(t testing.TB, db *DB, fn func(*Tx) error) {
	t.Helper()
	if err := db.Update(fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

// rootBucket is the bucket of the top-level buckets: the API has no
// Tx.ForEach, so the tests list top-level buckets through it.
func rootBucket(tx *Tx) *Bucket { return &Bucket{tx: tx, path: rootPath} }

// dumpTx renders everything a transaction sees, through the public API
// only (buckets by ForEachBucket, keys by ForEach, sequences), as text:
// two stores hold the same data when their dumps are equal.
func dumpTx(tx *Tx) string {
	var sb strings.Builder
	var walk func(b *Bucket, depth int)
	walk = func(b *Bucket, depth int) {
		indent := strings.Repeat("  ", depth)
		if b.path != rootPath {
			fmt.Fprintf(&sb, "%sseq=%d keys=%d\n", indent, b.Sequence(), b.Stats().KeyN)
			_ = b.ForEach(func(k, v []byte) error {
				fmt.Fprintf(&sb, "%s%q=%q\n", indent, k, v)
				return nil
			})
		}
		_ = b.ForEachBucket(func(name []byte) error {
			fmt.Fprintf(&sb, "%s[%q]\n", indent, name)
			var child *Bucket
			if b.path == rootPath {
				child = tx.Bucket(name)
			} else {
				child = b.Bucket(name)
			}
			if child == nil {
				fmt.Fprintf(&sb, "%s  MISSING\n", indent)
				return nil
			}
			walk(child, depth+1)
			return nil
		})
	}
	walk(rootBucket(tx), 0)
	return sb.String()
}

func dumpDB(t testing.TB, db *DB) string {
	t.Helper()
	var s string
	if err := db.View(func(tx *Tx) error { s = dumpTx(tx); return nil }); err != nil {
		t.Fatalf("View: %v", err)
	}
	return s
}

// dirFiles lists the store's files (LOCK left out), sorted.
func dirFiles(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.Name() != "LOCK" {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names
}

// copyDir copies the store's files (not LOCK) into a new directory: each
// damaged variant of a store starts from the same bytes.
func copyDir(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	for _, name := range dirFiles(t, src) {
		copyFile(t, filepath.Join(src, name), filepath.Join(dst, name))
	}
	return dst
}

func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

func diffDumps(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("first difference at line %d:\n want %q\n got  %q", i+1, wl, gl)
		}
	}
	return "no difference"
}

func bytesOrNil(b []byte) string {
	if b == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%q", b)
}

// bucketCount is how many buckets the current version holds, nested
// ones included.
func bucketCount(db *DB) int { return len(db.cur.Load().buckets) }
