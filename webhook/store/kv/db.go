package kv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

var (
	// ErrLocked is a store another process has open.
	ErrLocked = errors.New("kv: store is open in another process")
	// ErrClosed is a transaction begun after Close.
	ErrClosed = errors.New("kv: store is closed")
)

// Options tune a store; the zero value is what a service wants.
type Options struct {
	// NoSync skips fdatasync: for tests only, a crash of the machine
	// then loses commits.
	NoSync bool
	// CheckpointBytes: a snapshot is written once the journals since the
	// last one hold this much, or as much as that snapshot, whichever is
	// more (so writing snapshots costs at most as much as the journal).
	// Default 64 MiB.
	CheckpointBytes int64
}

// DB is an open store.
type DB struct {
	dir  string
	opts Options
	lock *os.File
	cur  atomic.Pointer[version]

	mu       sync.Mutex // the one writer; guards what follows
	j        *journal
	closed   bool
	failed   error         // a journal write or sync failed: nothing more is written
	since    int64         // journal bytes since the last snapshot
	snapSize int64         // that snapshot's size
	snapN    uint64        // and the journal it ends
	ckptDone chan struct{} // closed when the snapshot being written ends
	running  bool          // a snapshot is being written
	ckptErr  error         // the last snapshot's failure, if it failed
	buf      []byte        // the last commit's record, reused by the next (under mu)
	arena    *arena        // the records of the current version (under mu)
}

// takeBuffer gives the writing transaction the record buffer of the one
// before: a commit of a group of deliveries is hundreds of kilobytes, and
// growing a new one each time copies it over and over.
func (db *DB) takeBuffer() []byte {
	b := db.buf
	db.buf = nil
	if cap(b) == 0 || cap(b) > 64<<20 {
		b = make([]byte, 0, 64<<10)
	}
	return b[:headerSize]
}

func journalPath(dir string, n uint64) string {
	return filepath.Join(dir, fmt.Sprintf("journal-%016x", n))
}

func snapshotPath(dir string, n uint64) string {
	return filepath.Join(dir, fmt.Sprintf("snapshot-%016x", n))
}

// SyncDir makes the names in dir durable (fsync of the directory): a
// file created or renamed there survives a crash only once it returns.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}

// Open opens the store in dir, creating it if need be.
func Open(dir string, opts *Options) (*DB, error) {
	db := &DB{dir: dir, arena: newArena()}
	if opts != nil {
		db.opts = *opts
	}
	if db.opts.CheckpointBytes <= 0 {
		db.opts.CheckpointBytes = 64 << 20
	}
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("creating store directory: %w", err)
		}
		// The directory's own name, before a commit in it counts.
		if !db.opts.NoSync {
			if err := SyncDir(filepath.Dir(dir)); err != nil {
				return nil, err
			}
		}
	}
	lock, err := lockDir(filepath.Join(dir, "LOCK"))
	if err != nil {
		return nil, err
	}
	db.lock = lock
	if err := db.recover(); err != nil {
		if db.j != nil {
			db.j.f.Close()
		}
		lock.Close()
		return nil, err
	}
	return db, nil
}

// files lists the numbers of the snapshots and journals in dir, in order,
// and removes the temporary files of a snapshot that was being written.
func listFiles(dir string) (snaps, journals []uint64, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("reading store directory: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") {
			os.Remove(filepath.Join(dir, name))
			continue
		}
		kind, num, ok := strings.Cut(name, "-")
		if !ok || len(num) != 16 {
			continue
		}
		n, err := strconv.ParseUint(num, 16, 64)
		if err != nil {
			continue
		}
		switch kind {
		case "snapshot":
			snaps = append(snaps, n)
		case "journal":
			journals = append(journals, n)
		}
	}
	slices.Sort(snaps)
	slices.Sort(journals)
	return snaps, journals, nil
}

// recover loads the newest snapshot and replays the journals after it.
func (db *DB) recover() error {
	snaps, journals, err := listFiles(db.dir)
	if err != nil {
		return err
	}
	v := newVersion()
	var base uint64 // journals up to base are in the snapshot
	if len(snaps) > 0 {
		base = snaps[len(snaps)-1]
		if v, err = loadSnapshot(db.dir, base, db.arena); err != nil {
			return err
		}
		st, err := os.Stat(snapshotPath(db.dir, base))
		if err != nil {
			return err
		}
		db.snapSize, db.snapN = st.Size(), base
	}
	var after []uint64
	for _, n := range journals {
		if n > base {
			after = append(after, n)
		}
	}
	for i, n := range after {
		if i > 0 && n != after[i-1]+1 {
			return fmt.Errorf("store %s: journal %d is missing", db.dir, after[i-1]+1)
		}
	}
	if len(after) > 0 && after[0] != base+1 {
		return fmt.Errorf("store %s: journal %d is missing", db.dir, base+1)
	}
	for i, n := range after {
		j, err := replayJournal(db.dir, n, v, db.arena, i == len(after)-1, db.opts.NoSync)
		if err != nil {
			return err
		}
		if j != nil {
			db.j = j
		}
		if st, err := os.Stat(journalPath(db.dir, n)); err == nil {
			db.since += st.Size()
		}
	}
	if db.j == nil {
		if db.j, err = createJournal(db.dir, base+1, db.opts.NoSync); err != nil {
			return err
		}
	}
	db.cur.Store(v)
	db.removeBefore(base) // what a checkpoint left behind when it stopped
	return nil
}

// removeBefore removes the journals a snapshot of journal n holds and
// the snapshots before it.
func (db *DB) removeBefore(n uint64) {
	snaps, journals, err := listFiles(db.dir)
	if err != nil {
		return
	}
	for _, s := range snaps {
		if s < n {
			os.Remove(snapshotPath(db.dir, s))
		}
	}
	for _, j := range journals {
		if j <= n {
			os.Remove(journalPath(db.dir, j))
		}
	}
}

// View runs fn in a read-only transaction: the version current now,
// whatever commits meanwhile.
func (db *DB) View(fn func(*Tx) error) error {
	v := db.cur.Load()
	if v == nil {
		return ErrClosed
	}
	return fn(&Tx{db: db, v: v})
}

// Update runs fn in the writing transaction, and commits what it changed
// when fn returns nil: appended to the journal and synced before Update
// returns and before any other transaction sees it. When fn fails nothing
// of it is kept.
func (db *DB) Update(fn func(*Tx) error) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return ErrClosed
	}
	if db.failed != nil {
		return db.failed
	}
	tx := &Tx{db: db, v: db.cur.Load(), writable: true}
	committed := false
	defer func() {
		if tx.rec != nil {
			db.buf = tx.rec
		}
		if !committed {
			db.arena.rollback()
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if tx.rec == nil {
		return nil // nothing changed
	}
	if err := sealRecord(tx.rec); err != nil {
		return err
	}
	tx.relocate()
	if err := db.j.append(tx.rec); err != nil {
		// What reached the disk is unknown (a failed fsync may have
		// dropped pages): refuse to write on, and let a restart replay.
		db.failed = fmt.Errorf("kv: store %s is read-only until restarted: %w", db.dir, err)
		return db.failed
	}
	db.since += int64(len(tx.rec))
	db.arena.commit()
	committed = true
	db.cur.Store(tx.v)
	db.startCheckpoint(false)
	return nil
}

// startCheckpoint starts a snapshot once enough journal has accumulated (or
// at once, forced):
// the current journal is closed and a new one begun, and the version as
// of the end of the old one is written in the background (it is
// immutable: commits go on). Called with mu held.
func (db *DB) startCheckpoint(force bool) {
	if db.running || !force && db.since < max(db.opts.CheckpointBytes, db.snapSize) {
		return
	}
	next, err := createJournal(db.dir, db.j.n+1, db.opts.NoSync)
	if err != nil {
		db.ckptErr = err
		db.since = 0 // try again after as much again
		return
	}
	old := db.j
	old.f.Close()
	db.j = next
	v, n := db.cur.Load(), old.n
	db.running = true
	done := make(chan struct{})
	db.ckptDone = done
	go func() {
		defer close(done) // after mu is unlocked: waiters find the outcome
		size, err := writeSnapshot(db.dir, n, v, db.opts.NoSync)
		db.mu.Lock()
		defer db.mu.Unlock()
		db.running = false
		if err != nil {
			db.ckptErr = err
			db.since = 0 // journals are kept; try again after as much again
			return
		}
		db.ckptErr = nil
		db.snapSize, db.snapN = size, n
		db.since = db.j.size
		db.removeBefore(n)
	}()
}

// Stats are the store's figures on disk.
type Stats struct {
	JournalBytes  int64  // journals since the snapshot
	SnapshotBytes int64  // the snapshot
	CheckpointErr string // the last snapshot's failure; empty when it succeeded
	// SlabBytes is the memory of the slabs the current version's records
	// are in, LiveBytes what those records take of it (the rest is
	// records replaced or deleted, which relocation keeps below the live
	// bytes, give or take a few slabs). Slabs that only older versions
	// still read (a snapshot being written holds one) are not counted.
	SlabBytes, LiveBytes int64
}

// Stats gives them.
func (db *DB) Stats() Stats {
	db.mu.Lock()
	defer db.mu.Unlock()
	s := Stats{JournalBytes: db.since, SnapshotBytes: db.snapSize, SlabBytes: db.arena.size, LiveBytes: db.arena.live}
	if db.ckptErr != nil {
		s.CheckpointErr = db.ckptErr.Error()
	}
	return s
}

// Checkpoint writes a snapshot now and waits for it: for tests, and
// before a backup of the directory.
func (db *DB) Checkpoint() error {
	db.mu.Lock()
	for db.running && !db.closed {
		db.waitSnapshot()
	}
	if db.closed { // also when Close came while this waited
		db.mu.Unlock()
		return ErrClosed
	}
	if db.failed != nil { // the journal's end is unknown: nothing more is written
		err := db.failed
		db.mu.Unlock()
		return err
	}
	since := db.since
	db.startCheckpoint(true)
	if !db.running {
		db.since = since
		err := db.ckptErr
		db.mu.Unlock()
		return err
	}
	db.waitSnapshot()
	defer db.mu.Unlock()
	return db.ckptErr
}

// waitSnapshot waits, with mu held and a snapshot running, until that
// snapshot ends; mu is held again on return. (A channel per snapshot, not
// a WaitGroup: a WaitGroup may not be Added to, as a commit's automatic
// checkpoint does, while a Wait of the previous snapshot is returning.)
func (db *DB) waitSnapshot() {
	done := db.ckptDone
	db.mu.Unlock()
	<-done
	db.mu.Lock()
}

// Close waits for a snapshot being written and closes the store.
func (db *DB) Close() error {
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return nil
	}
	db.closed = true // no snapshot starts after this
	for db.running {
		db.waitSnapshot()
	}
	defer db.mu.Unlock()
	db.cur.Store(nil)
	err := db.j.f.Close()
	db.lock.Close()
	return err
}
