package kv

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// commitI is the i-th commit of the recovery tests: a key of its own and
// the bucket's sequence, so that the state after i commits says how many
// were kept.
func commitI(t testing.TB, db *DB, i int) {
	t.Helper()
	updateT(t, db, func(tx *Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("r"))
		if err != nil {
			return err
		}
		if err := b.Put(fmt.Appendf(nil, "k%04d", i), fmt.Appendf(nil, "value of commit %d", i)); err != nil {
			return err
		}
		return b.SetSequence(uint64(i))
	})
}

// wantCommits checks that the store holds exactly commits 1..n.
func wantCommits(t testing.TB, db *DB, n int) {
	t.Helper()
	err := db.View(func(tx *Tx) error {
		b := tx.Bucket([]byte("r"))
		if n == 0 {
			if b != nil {
				return fmt.Errorf("bucket r exists, want no commit at all")
			}
			return nil
		}
		if b == nil {
			return fmt.Errorf("bucket r missing, want %d commits", n)
		}
		if got := b.Sequence(); got != uint64(n) {
			return fmt.Errorf("sequence %d, want %d", got, n)
		}
		if got := b.Stats().KeyN; got != n {
			return fmt.Errorf("%d keys, want %d", got, n)
		}
		for i := 1; i <= n; i++ {
			if v := b.Get(fmt.Appendf(nil, "k%04d", i)); string(v) != fmt.Sprintf("value of commit %d", i) {
				return fmt.Errorf("commit %d: %s", i, bytesOrNil(v))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// lastJournal is the path of the highest-numbered journal in dir.
func lastJournal(t testing.TB, dir string) string {
	t.Helper()
	var last string
	for _, name := range dirFiles(t, dir) {
		if strings.HasPrefix(name, "journal-") {
			last = name
		}
	}
	if last == "" {
		t.Fatalf("no journal in %s", dir)
	}
	return filepath.Join(dir, last)
}

// tornStore makes a store of n commits and gives its directory and the
// byte range of the last record in the last journal. With snapshot, a
// checkpoint in the middle puts the first commits in a snapshot, so that
// recovery replays the journal on top of it.
func tornStore(t *testing.T, n int, snapshot bool) (dir string, start, end int64) {
	dir = t.TempDir()
	db := openT(t, dir, testOpts())
	for i := 1; i < n; i++ {
		commitI(t, db, i)
		if snapshot && i == n/2 {
			if err := db.Checkpoint(); err != nil {
				t.Fatal(err)
			}
		}
	}
	j := lastJournal(t, dir)
	start = fileSize(t, j)
	commitI(t, db, n)
	end = fileSize(t, j)
	closeT(t, db)
	if j != lastJournal(t, dir) {
		t.Fatalf("the last commit went to a new journal")
	}
	if end <= start+headerSize {
		t.Fatalf("last record is %d bytes", end-start)
	}
	return dir, start, end
}

// recoverDamaged opens a damaged copy of a store: it must hold the n-1
// commits before the damaged one, and take a commit that survives
// another reopen (the cut end must not swallow or garble it).
func recoverDamaged(t *testing.T, dir string, n int, what string) {
	t.Helper()
	db, err := Open(dir, testOpts())
	if err != nil {
		t.Fatalf("%s: Open: %v", what, err)
	}
	wantCommits(t, db, n-1)
	commitI(t, db, n)
	commitI(t, db, n+1)
	closeT(t, db)
	db = openT(t, dir, testOpts())
	wantCommits(t, db, n+1)
	closeT(t, db)
}

// A commit whose fdatasync never returned may be on disk in part, or
// with any of its bytes wrong. Whatever is left of the last record, Open
// must drop exactly it and keep the commits before; the commit after it
// must land where it will be read back.
func TestRecoverTornLastRecord(t *testing.T) {
	const n = 6
	for _, snap := range []bool{false, true} {
		t.Run(fmt.Sprintf("snapshot=%v", snap), func(t *testing.T) {
			src, start, end := tornStore(t, n, snap)
			journal := filepath.Base(lastJournal(t, src))
			for off := start; off < end; off++ {
				d := copyDir(t, src)
				if err := os.Truncate(filepath.Join(d, journal), off); err != nil {
					t.Fatal(err)
				}
				recoverDamaged(t, d, n, fmt.Sprintf("cut at %d of [%d,%d)", off, start, end))
			}
			for off := start; off < end; off++ {
				for _, mask := range []byte{0x01, 0x80, 0xff} {
					d := copyDir(t, src)
					flipByte(t, filepath.Join(d, journal), off, mask)
					recoverDamaged(t, d, n, fmt.Sprintf("byte %d of [%d,%d) ^ %#x", off, start, end, mask))
				}
			}
			// Undamaged, all n commits are there.
			d := copyDir(t, src)
			db := openT(t, d, testOpts())
			wantCommits(t, db, n)
			closeT(t, db)
		})
	}
}

// Garbage after the last whole record (a file extended by the crash:
// zeros, or stale blocks) is cut like a torn record.
func TestRecoverTrailingGarbage(t *testing.T) {
	const n = 4
	src, _, end := tornStore(t, n, false)
	journal := filepath.Base(lastJournal(t, src))
	for name, junk := range map[string][]byte{
		"zeros":      make([]byte, 4096),
		"ones":       []byte(strings.Repeat("\xff", 100)),
		"short":      {1, 2, 3},
		"header":     {10, 0, 0, 0, 1, 2, 3, 4},
		"big length": {0, 0, 0, 1, 9, 9, 9, 9, 1, 2},
	} {
		d := copyDir(t, src)
		appendFile(t, filepath.Join(d, journal), junk)
		db, err := Open(d, testOpts())
		if err != nil {
			t.Fatalf("%s: Open: %v", name, err)
		}
		wantCommits(t, db, n)
		closeT(t, db)
		if got := fileSize(t, filepath.Join(d, journal)); got != end {
			t.Errorf("%s: journal is %d bytes after recovery, want cut to %d", name, got, end)
		}
	}
}

// A journal cut inside its magic is one created by a checkpoint whose
// first sync never returned: it holds no commit, and the store is the
// snapshot before it.
func TestRecoverTornJournalMagic(t *testing.T) {
	src := t.TempDir()
	db := openT(t, src, testOpts())
	for i := 1; i <= 3; i++ {
		commitI(t, db, i)
	}
	if err := db.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	closeT(t, db)
	journal := filepath.Base(lastJournal(t, src))
	for off := range int64(len(journalMagic)) {
		d := copyDir(t, src)
		if err := os.Truncate(filepath.Join(d, journal), off); err != nil {
			t.Fatal(err)
		}
		recoverDamaged(t, d, 4, fmt.Sprintf("journal cut to %d bytes", off))
	}
}

func flipByte(t testing.TB, path string, off int64, mask byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= mask
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t testing.TB, path string, data []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// multiJournal makes a store whose history is in k journals and no
// snapshot, as a checkpoint leaves it when the process stops after it
// began the next journal and before its snapshot was renamed: each
// journal is saved before the checkpoint that would remove it, and the
// snapshots are removed at the end. Commits are numbered from 1; it gives
// how many, and the byte range of the last record of each journal.
func multiJournal(t *testing.T, k, per int) (dir string, n int, last [][2]int64) {
	dir = t.TempDir()
	db := openT(t, dir, testOpts())
	saved := map[string][]byte{}
	for j := 1; j <= k; j++ {
		var start int64
		for range per {
			n++
			start = fileSize(t, lastJournal(t, dir))
			commitI(t, db, n)
		}
		jp := lastJournal(t, dir)
		last = append(last, [2]int64{start, fileSize(t, jp)})
		if j < k {
			b, err := os.ReadFile(jp)
			if err != nil {
				t.Fatal(err)
			}
			saved[filepath.Base(jp)] = b
			if err := db.Checkpoint(); err != nil {
				t.Fatal(err)
			}
		}
	}
	closeT(t, db)
	for _, name := range dirFiles(t, dir) {
		if strings.HasPrefix(name, "snapshot-") {
			os.Remove(filepath.Join(dir, name))
		}
	}
	for name, b := range saved {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(dirFiles(t, dir)); got != k {
		t.Fatalf("%d files, want %d journals: %v", got, k, dirFiles(t, dir))
	}
	return dir, n, last
}

// Several journals and no snapshot is what a crash in the middle of a
// checkpoint leaves: Open replays them all, in order.
func TestRecoverSeveralJournals(t *testing.T) {
	src, n, _ := multiJournal(t, 3, 4)
	db := openT(t, src, testOpts())
	wantCommits(t, db, n)
	commitI(t, db, n+1)
	closeT(t, db)
	db = openT(t, src, testOpts())
	wantCommits(t, db, n+1)
	closeT(t, db)
}

// Damage in a journal that is not the last is not a commit cut short by
// a crash (commits after it were acknowledged): Open must refuse rather
// than drop the rest of the history, or replay what follows on a gap.
func TestRecoverDamagedEarlierJournal(t *testing.T) {
	src, _, last := multiJournal(t, 3, 3)
	for ji, name := range []string{journalName(1), journalName(2)} {
		start, end := last[ji][0], last[ji][1]
		for off := start; off < end; off++ {
			d := copyDir(t, src)
			flipByte(t, filepath.Join(d, name), off, 0x10)
			if db, err := Open(d, testOpts()); err == nil {
				db.Close()
				t.Fatalf("%s with byte %d flipped: Open succeeded", name, off)
			}
		}
		for _, off := range []int64{start + 1, start + headerSize, end - 1, 3} {
			d := copyDir(t, src)
			if err := os.Truncate(filepath.Join(d, name), off); err != nil {
				t.Fatal(err)
			}
			if db, err := Open(d, testOpts()); err == nil {
				db.Close()
				t.Fatalf("%s cut to %d bytes: Open succeeded", name, off)
			}
		}
		// The refusal must leave the files as they were, for an operator
		// to look at: nothing cut, nothing removed.
		d := copyDir(t, src)
		flipByte(t, filepath.Join(d, name), end-1, 0x10)
		before := snapshotDir(t, d)
		if _, err := Open(d, testOpts()); err == nil {
			t.Fatal("Open succeeded")
		}
		if after := snapshotDir(t, d); !maps.Equal(before, after) {
			t.Fatalf("a refused Open changed the files:\n%v\n%v", before, after)
		}
	}
}

// A journal missing from the middle of the history, or the first one
// with no snapshot before it, is commits lost: Open must say so.
func TestRecoverMissingJournal(t *testing.T) {
	src, _, _ := multiJournal(t, 3, 2)
	for _, missing := range []uint64{1, 2} {
		d := copyDir(t, src)
		if err := os.Remove(filepath.Join(d, journalName(missing))); err != nil {
			t.Fatal(err)
		}
		db, err := Open(d, testOpts())
		if err == nil {
			db.Close()
			t.Fatalf("journal %d removed: Open succeeded", missing)
		}
		if !strings.Contains(err.Error(), "missing") {
			t.Errorf("journal %d removed: error %q does not say it is missing", missing, err)
		}
	}

	// After a snapshot: snapshot-1 and journal 3, journal 2 gone. Made
	// as a crash in the second checkpoint leaves it (snapshot-1, journals
	// 2 and 3), then journal 2 removed.
	d := t.TempDir()
	db := openT(t, d, testOpts())
	commitI(t, db, 1)
	if err := db.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	commitI(t, db, 2)
	saved := snapshotDir(t, d) // snapshot-1, journal-2
	if err := db.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	commitI(t, db, 3)
	closeT(t, db)
	if err := os.Remove(filepath.Join(d, snapshotName(2))); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{snapshotName(1), journalName(2)} {
		if err := os.WriteFile(filepath.Join(d, name), []byte(saved[name]), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	whole := copyDir(t, d)
	db = openT(t, whole, testOpts()) // the crash itself: nothing is lost
	wantCommits(t, db, 3)
	closeT(t, db)
	if err := os.Remove(filepath.Join(d, journalName(2))); err != nil {
		t.Fatal(err)
	}
	if db, err := Open(d, testOpts()); err == nil {
		db.Close()
		t.Fatal("snapshot-1 and journal 3 without journal 2: Open succeeded")
	}
}

// A snapshot is renamed into place only once whole, so a damaged one is
// damage, not a crash: Open refuses it.
func TestRecoverDamagedSnapshot(t *testing.T) {
	src := t.TempDir()
	db := openT(t, src, testOpts())
	for i := 1; i <= 5; i++ {
		commitI(t, db, i)
	}
	if err := db.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	closeT(t, db)
	snap := snapshotName(1)
	size := fileSize(t, filepath.Join(src, snap))
	for off := range size {
		d := copyDir(t, src)
		flipByte(t, filepath.Join(d, snap), off, 0x04)
		if db, err := Open(d, testOpts()); err == nil {
			db.Close()
			t.Fatalf("snapshot with byte %d flipped: Open succeeded", off)
		}
	}
	for _, off := range []int64{0, int64(len(snapshotMagic)), size - 1} {
		d := copyDir(t, src)
		if err := os.Truncate(filepath.Join(d, snap), off); err != nil {
			t.Fatal(err)
		}
		if db, err := Open(d, testOpts()); err == nil {
			db.Close()
			t.Fatalf("snapshot cut to %d bytes: Open succeeded", off)
		}
	}
}

// A checkpoint that stopped after renaming its snapshot and before
// removing the journals it holds: Open uses the snapshot, does not replay
// those journals on top of it, and removes them.
func TestRecoverStaleJournalsBeforeSnapshot(t *testing.T) {
	d := t.TempDir()
	db := openT(t, d, testOpts())
	for i := 1; i <= 3; i++ {
		commitI(t, db, i)
	}
	j1, err := os.ReadFile(filepath.Join(d, journalName(1)))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	// A commit after the snapshot that journal 1 would undo if replayed
	// after it: bucket r is deleted and made again with one key.
	updateT(t, db, func(tx *Tx) error {
		if err := tx.DeleteBucket([]byte("r")); err != nil {
			return err
		}
		b, err := tx.CreateBucket([]byte("r"))
		if err != nil {
			return err
		}
		return b.Put([]byte("only"), []byte("1"))
	})
	want := dumpDB(t, db)
	closeT(t, db)
	if err := os.WriteFile(filepath.Join(d, journalName(1)), j1, 0o600); err != nil {
		t.Fatal(err)
	}
	db = openT(t, d, testOpts())
	if got := dumpDB(t, db); got != want {
		t.Fatalf("state after reopen with a stale journal: %s", diffDumps(want, got))
	}
	closeT(t, db)
	if files := dirFiles(t, d); slices.Contains(files, journalName(1)) {
		t.Fatalf("stale journal 1 not removed: %v", files)
	}
}

// A snapshot being written when the process stopped is left as *.tmp:
// Open removes it and does not read it, even when its number is the
// newest.
func TestRecoverStaleTmpSnapshot(t *testing.T) {
	d := t.TempDir()
	db := openT(t, d, testOpts())
	for i := 1; i <= 3; i++ {
		commitI(t, db, i)
	}
	closeT(t, db)
	for _, name := range []string{snapshotName(1) + ".tmp", snapshotName(7) + ".tmp"} {
		if err := os.WriteFile(filepath.Join(d, name), []byte(snapshotMagic+"half a snapshot"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	db = openT(t, d, testOpts())
	wantCommits(t, db, 3)
	for _, name := range dirFiles(t, d) {
		if strings.HasSuffix(name, ".tmp") {
			t.Errorf("%s not removed by Open", name)
		}
	}
	commitI(t, db, 4)
	if err := db.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	closeT(t, db)
	db = openT(t, d, testOpts())
	wantCommits(t, db, 4)
	closeT(t, db)
}

func journalName(n uint64) string  { return filepath.Base(journalPath("", n)) }
func snapshotName(n uint64) string { return filepath.Base(snapshotPath("", n)) }

// snapshotDir reads every file of dir (LOCK aside) into a map.
func snapshotDir(t testing.TB, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, name := range dirFiles(t, dir) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		m[name] = string(b)
	}
	return m
}
