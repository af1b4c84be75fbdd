package kv

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// mBucket is the reference model of a bucket: a map of keys, a sequence
// and a map of child buckets, nothing clever. The root is an mBucket whose
// keys stay empty (the store has no keys outside buckets).
type mBucket struct {
	keys     map[string]string
	seq      uint64
	children map[string]*mBucket
}

func newMBucket() *mBucket {
	return &mBucket{keys: map[string]string{}, children: map[string]*mBucket{}}
}

func (b *mBucket) clone() *mBucket {
	c := &mBucket{keys: maps.Clone(b.keys), seq: b.seq, children: map[string]*mBucket{}}
	for name, ch := range b.children {
		c.children[name] = ch.clone()
	}
	return c
}

func (b *mBucket) count() int {
	n := 0
	for _, ch := range b.children {
		n += 1 + ch.count()
	}
	return n
}

type mRef struct {
	path []string
	b    *mBucket
}

// all lists the bucket and every bucket under it, with their paths.
func (b *mBucket) all(path []string, out []mRef) []mRef {
	out = append(out, mRef{path: path, b: b})
	for _, name := range slices.Sorted(maps.Keys(b.children)) {
		out = b.children[name].all(append(slices.Clip(path), name), out)
	}
	return out
}

// kvBucket finds the store's bucket at a model path (nil path: the root).
func kvBucket(tx *Tx, path []string) *Bucket {
	if len(path) == 0 {
		return rootBucket(tx)
	}
	b := tx.Bucket([]byte(path[0]))
	for _, name := range path[1:] {
		if b == nil {
			return nil
		}
		b = b.Bucket([]byte(name))
	}
	return b
}

// createIn and dropIn call the top-level or nested form, as a caller would.
func createIn(tx *Tx, parent []string, name []byte, ifNotExists bool) (*Bucket, error) {
	if len(parent) == 0 {
		if ifNotExists {
			return tx.CreateBucketIfNotExists(name)
		}
		return tx.CreateBucket(name)
	}
	b := kvBucket(tx, parent)
	if ifNotExists {
		return b.CreateBucketIfNotExists(name)
	}
	return b.CreateBucket(name)
}

func dropIn(tx *Tx, parent []string, name []byte) error {
	if len(parent) == 0 {
		return tx.DeleteBucket(name)
	}
	return kvBucket(tx, parent).DeleteBucket(name)
}

// checkModel compares everything tx sees with the model, through every
// way of reading: Get, ForEach, both directions of a cursor, Seek,
// ForEachBucket, Sequence and Stats. It gives the first difference.
func checkModel(tx *Tx, root *mBucket) error {
	return checkBucket(tx, rootBucket(tx), nil, root)
}

func checkBucket(tx *Tx, b *Bucket, path []string, m *mBucket) error {
	where := "/" + strings.Join(path, "/")
	if len(path) > 0 {
		if err := checkKeys(b, m); err != nil {
			return fmt.Errorf("bucket %s: %w", where, err)
		}
	}
	names := slices.Sorted(maps.Keys(m.children))
	var got []string
	if err := b.ForEachBucket(func(name []byte) error {
		got = append(got, string(name))
		return nil
	}); err != nil {
		return fmt.Errorf("bucket %s: ForEachBucket: %v", where, err)
	}
	if !slices.Equal(got, names) {
		return fmt.Errorf("bucket %s: ForEachBucket gave %q, want %q", where, got, names)
	}
	for _, absent := range []string{"Bnone", "Bzz"} {
		if _, ok := m.children[absent]; ok {
			continue
		}
		if c := kvBucket(tx, append(slices.Clip(path), absent)); c != nil {
			return fmt.Errorf("bucket %s: Bucket(%q) found a bucket that does not exist", where, absent)
		}
	}
	for _, name := range names {
		cp := append(slices.Clip(path), name)
		c := kvBucket(tx, cp)
		if c == nil {
			return fmt.Errorf("bucket %s: Bucket(%q) is nil", where, name)
		}
		if err := checkBucket(tx, c, cp, m.children[name]); err != nil {
			return err
		}
	}
	return nil
}

func checkKeys(b *Bucket, m *mBucket) error {
	if got := b.Sequence(); got != m.seq {
		return fmt.Errorf("Sequence = %d, want %d", got, m.seq)
	}
	if got := b.Stats().KeyN; got != len(m.keys) {
		return fmt.Errorf("Stats().KeyN = %d, want %d", got, len(m.keys))
	}
	keys := slices.Sorted(maps.Keys(m.keys))

	// ForEach: every key, in order, with its value.
	i := 0
	if err := b.ForEach(func(k, v []byte) error {
		if i >= len(keys) {
			return fmt.Errorf("ForEach gave extra key %q", k)
		}
		if string(k) != keys[i] || v == nil || string(v) != m.keys[keys[i]] {
			return fmt.Errorf("ForEach #%d gave %q=%s, want %q=%q", i, k, bytesOrNil(v), keys[i], m.keys[keys[i]])
		}
		i++
		return nil
	}); err != nil {
		return err
	}
	if i != len(keys) {
		return fmt.Errorf("ForEach gave %d keys, want %d", i, len(keys))
	}

	// Get: present keys give their value (never nil, even when empty),
	// absent ones nil.
	for _, k := range keys {
		if v := b.Get([]byte(k)); v == nil || string(v) != m.keys[k] {
			return fmt.Errorf("Get(%q) = %s, want %q", k, bytesOrNil(v), m.keys[k])
		}
		if _, ok := m.keys[k+"\x00"]; !ok {
			if v := b.Get([]byte(k + "\x00")); v != nil {
				return fmt.Errorf("Get(%q) = %q, want nil", k+"\x00", v)
			}
		}
	}
	if _, ok := m.keys["kabsent"]; !ok && b.Get([]byte("kabsent")) != nil {
		return errors.New("Get of an absent key is not nil")
	}

	// A cursor forward and backward.
	c := b.Cursor()
	i = 0
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if i >= len(keys) || string(k) != keys[i] || string(v) != m.keys[keys[i]] {
			return fmt.Errorf("cursor forward #%d gave %q=%q, want keys %q", i, k, v, keys)
		}
		i++
	}
	if i != len(keys) {
		return fmt.Errorf("cursor forward gave %d keys, want %d", i, len(keys))
	}
	if k, _ := c.Next(); k != nil {
		return fmt.Errorf("Next past the end gave %q", k)
	}
	i = len(keys) - 1
	for k, v := c.Last(); k != nil; k, v = c.Prev() {
		if i < 0 || string(k) != keys[i] || string(v) != m.keys[keys[i]] {
			return fmt.Errorf("cursor backward #%d gave %q=%q, want keys %q", i, k, v, keys)
		}
		i--
	}
	if i != -1 {
		return fmt.Errorf("cursor backward stopped with %d keys left", i+1)
	}

	// Seek to every key, just after every key, before the first and past
	// the last: the first key at or after the probe, and Prev from there.
	probes := []string{"", "\xff\xff\xff\xff\xff"}
	for _, k := range keys {
		probes = append(probes, k, k+"\x00")
	}
	for _, p := range probes {
		j, _ := slices.BinarySearch(keys, p)
		k, v := c.Seek([]byte(p))
		if j == len(keys) {
			if k != nil {
				return fmt.Errorf("Seek(%q) gave %q, want the end", p, k)
			}
			continue
		}
		if string(k) != keys[j] || string(v) != m.keys[keys[j]] {
			return fmt.Errorf("Seek(%q) gave %q=%q, want %q", p, k, v, keys[j])
		}
		pk, _ := c.Prev()
		if j == 0 && pk != nil || j > 0 && string(pk) != keys[j-1] {
			return fmt.Errorf("Prev after Seek(%q) gave %q", p, pk)
		}
	}
	return nil
}

var errAbort = errors.New("transaction aborted on purpose")

// modelRun is one seeded run: a store, its model, and the random choices.
type modelRun struct {
	t       *testing.T
	r       *rand.Rand
	dir     string
	opts    *Options
	db      *DB
	model   *mBucket
	step    int
	snapped bool // an automatic or forced snapshot was seen on disk
}

const maxDepth = 3

func (mr *modelRun) key() string {
	r := mr.r
	switch r.IntN(10) {
	case 0: // binary keys, with bytes at both ends of the order
		b := make([]byte, 1+r.IntN(4))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		b[0] = []byte{0x00, 0xff, 'k'}[r.IntN(3)]
		return string(b)
	default:
		return fmt.Sprintf("k%02d", r.IntN(40))
	}
}

func (mr *modelRun) value() []byte {
	r := mr.r
	if r.IntN(10) == 0 {
		return nil // stored as an empty value: Get gives []byte{}, not nil
	}
	v := make([]byte, r.IntN(24))
	for i := range v {
		v[i] = byte(r.IntN(256))
	}
	return v
}

func (mr *modelRun) bucketName() string { return fmt.Sprintf("B%d", mr.r.IntN(4)) }

// pick gives a random bucket of the model (not the root), or false.
func (mr *modelRun) pick(m *mBucket) (mRef, bool) {
	refs := m.all(nil, nil)[1:]
	if len(refs) == 0 {
		return mRef{}, false
	}
	return refs[mr.r.IntN(len(refs))], true
}

// pickParent gives a random bucket that may hold a new one (the root too).
func (mr *modelRun) pickParent(m *mBucket) mRef {
	var refs []mRef
	for _, ref := range m.all(nil, nil) {
		if len(ref.path) < maxDepth {
			refs = append(refs, ref)
		}
	}
	return refs[mr.r.IntN(len(refs))]
}

// randomOps does a few random operations in tx and the same to m (the
// transaction's copy of the model), checking each result on the way.
func (mr *modelRun) randomOps(tx *Tx, m *mBucket) error {
	r := mr.r
	n := 1 + r.IntN(8)
	for range n {
		if err := mr.randomOp(tx, m); err != nil {
			return err
		}
	}
	// What a writing transaction reads is its own changes: check them
	// before the commit as well as after.
	if r.IntN(4) == 0 {
		if err := checkModel(tx, m); err != nil {
			return fmt.Errorf("inside the transaction: %w", err)
		}
	}
	return nil
}

func (mr *modelRun) randomOp(tx *Tx, m *mBucket) error {
	r := mr.r
	ref, ok := mr.pick(m)
	kind := r.IntN(100)
	if !ok && kind < 70 {
		kind = 70 // no bucket yet: make one
	}
	switch {
	case kind < 35: // Put
		b := kvBucket(tx, ref.path)
		k, v := mr.key(), mr.value()
		if err := b.Put([]byte(k), v); err != nil {
			return fmt.Errorf("Put: %v", err)
		}
		ref.b.keys[k] = string(v)
	case kind < 48: // Delete, of a key that is there most of the time
		b := kvBucket(tx, ref.path)
		k := mr.key()
		if len(ref.b.keys) > 0 && r.IntN(3) > 0 {
			keys := slices.Sorted(maps.Keys(ref.b.keys))
			k = keys[r.IntN(len(keys))]
		}
		if err := b.Delete([]byte(k)); err != nil {
			return fmt.Errorf("Delete: %v", err)
		}
		delete(ref.b.keys, k)
	case kind < 53: // NextSequence
		got, err := kvBucket(tx, ref.path).NextSequence()
		if err != nil {
			return fmt.Errorf("NextSequence: %v", err)
		}
		ref.b.seq++
		if got != ref.b.seq {
			return fmt.Errorf("NextSequence = %d, want %d", got, ref.b.seq)
		}
	case kind < 56: // SetSequence
		s := r.Uint64N(1000)
		if r.IntN(5) == 0 {
			s = ^uint64(0) - r.Uint64N(2) // near the top: NextSequence wraps
		}
		if err := kvBucket(tx, ref.path).SetSequence(s); err != nil {
			return fmt.Errorf("SetSequence: %v", err)
		}
		ref.b.seq = s
	case kind < 60: // Cursor.Delete at a sought key; Next must give the key after it
		b := kvBucket(tx, ref.path)
		keys := slices.Sorted(maps.Keys(ref.b.keys))
		c := b.Cursor()
		k, _ := c.Seek([]byte(mr.key()))
		if k == nil {
			break
		}
		ks := string(k)
		if err := c.Delete(); err != nil {
			return fmt.Errorf("Cursor.Delete: %v", err)
		}
		delete(ref.b.keys, ks)
		j, _ := slices.BinarySearch(keys, ks)
		next, _ := c.Next()
		if j+1 < len(keys) && string(next) != keys[j+1] || j+1 == len(keys) && next != nil {
			return fmt.Errorf("Next after Cursor.Delete of %q gave %q", ks, next)
		}
	case kind < 63: // Put with an empty key: refused, changes nothing
		if err := kvBucket(tx, ref.path).Put(nil, []byte("x")); !errors.Is(err, ErrKeyRequired) {
			return fmt.Errorf("Put of an empty key: %v, want ErrKeyRequired", err)
		}
	case kind < 67: // ForEach that changes the bucket it walks: sees the keys as they were
		b := kvBucket(tx, ref.path)
		want := slices.Sorted(maps.Keys(ref.b.keys))
		var seen []string
		err := b.ForEach(func(k, _ []byte) error {
			seen = append(seen, string(k))
			switch r.IntN(3) {
			case 0:
				nk := mr.key()
				ref.b.keys[nk] = "fe"
				return b.Put([]byte(nk), []byte("fe"))
			case 1:
				delete(ref.b.keys, string(k))
				return b.Delete(k)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("ForEach: %v", err)
		}
		if !slices.Equal(seen, want) {
			return fmt.Errorf("ForEach that writes saw %q, want %q", seen, want)
		}
	case kind < 70: // a whole-bucket check in the middle of the transaction
		if err := checkBucket(tx, kvBucket(tx, ref.path), ref.path, ref.b); err != nil {
			return fmt.Errorf("inside the transaction: %w", err)
		}
	case kind < 85: // CreateBucket / CreateBucketIfNotExists
		parent := mr.pickParent(m)
		name := mr.bucketName()
		ifNot := r.IntN(2) == 0
		b, err := createIn(tx, parent.path, []byte(name), ifNot)
		_, exists := parent.b.children[name]
		switch {
		case exists && !ifNot:
			if !errors.Is(err, ErrBucketExists) {
				return fmt.Errorf("CreateBucket of an existing bucket: %v, want ErrBucketExists", err)
			}
		case err != nil:
			return fmt.Errorf("CreateBucket(IfNotExists=%v): %v", ifNot, err)
		case b == nil:
			return errors.New("CreateBucket gave a nil bucket")
		default:
			if !exists {
				parent.b.children[name] = newMBucket()
			}
			if b.Stats().KeyN != len(parent.b.children[name].keys) {
				return errors.New("CreateBucket gave a bucket with the wrong keys")
			}
		}
	case kind < 87: // CreateBucket with no name
		if _, err := createIn(tx, mr.pickParent(m).path, nil, false); !errors.Is(err, ErrBucketNameNeeded) {
			return fmt.Errorf("CreateBucket(nil): %v, want ErrBucketNameNeeded", err)
		}
	default: // DeleteBucket, of one that exists most of the time
		var parent mRef
		var name string
		if ok && r.IntN(4) > 0 {
			parent = mRef{path: ref.path[:len(ref.path)-1]}
			parent.b = m
			for _, n := range parent.path {
				parent.b = parent.b.children[n]
			}
			name = ref.path[len(ref.path)-1]
		} else {
			parent, name = mr.pickParent(m), mr.bucketName()
		}
		err := dropIn(tx, parent.path, []byte(name))
		if _, exists := parent.b.children[name]; exists {
			if err != nil {
				return fmt.Errorf("DeleteBucket: %v", err)
			}
			delete(parent.b.children, name)
		} else if !errors.Is(err, ErrBucketNotFound) {
			return fmt.Errorf("DeleteBucket of a missing bucket: %v, want ErrBucketNotFound", err)
		}
		if kvBucket(tx, append(slices.Clip(parent.path), name)) != nil {
			return errors.New("bucket still there after DeleteBucket")
		}
	}
	return nil
}

// commit runs one random transaction and updates the model if it
// committed.
func (mr *modelRun) commit() {
	t, r := mr.t, mr.r
	mr.step++
	m := mr.model.clone()
	fail := r.IntN(5) == 0
	var opErr error
	update := func() error {
		return mr.db.Update(func(tx *Tx) error {
			if err := mr.randomOps(tx, m); err != nil {
				opErr = err
				return err
			}
			if fail {
				return errAbort
			}
			return nil
		})
	}
	var err error
	if r.IntN(10) == 0 {
		// Commit while a read transaction is open: the reader must go on
		// seeing the version it began with, copy-on-write or not.
		verr := mr.db.View(func(vt *Tx) error {
			before := dumpTx(vt)
			err = update()
			if after := dumpTx(vt); after != before {
				return fmt.Errorf("a read transaction saw a commit made while it was open: %s", diffDumps(before, after))
			}
			return checkModel(vt, mr.model)
		})
		if verr != nil {
			t.Fatalf("step %d: %v", mr.step, verr)
		}
	} else {
		err = update()
	}
	if opErr != nil {
		t.Fatalf("step %d: %v", mr.step, opErr)
	}
	switch {
	case fail && !errors.Is(err, errAbort):
		t.Fatalf("step %d: Update whose fn failed returned %v, want fn's error", mr.step, err)
	case !fail && err != nil:
		t.Fatalf("step %d: Update: %v", mr.step, err)
	case !fail:
		mr.model = m
	}
	mr.check("after commit")
}

func (mr *modelRun) check(when string) {
	t := mr.t
	t.Helper()
	err := mr.db.View(func(tx *Tx) error { return checkModel(tx, mr.model) })
	if err != nil {
		t.Fatalf("step %d, %s: %v", mr.step, when, err)
	}
	if got, want := bucketCount(mr.db), mr.model.count(); got != want {
		t.Fatalf("step %d, %s: %d buckets, want %d", mr.step, when, got, want)
	}
}

// reopen closes the store (sometimes after a forced snapshot) and opens
// it again: what recovery builds from the snapshot and journals must be
// the model.
func (mr *modelRun) reopen() {
	t := mr.t
	if mr.r.IntN(3) == 0 {
		if err := mr.db.Checkpoint(); err != nil {
			t.Fatalf("step %d: Checkpoint: %v", mr.step, err)
		}
	}
	closeT(t, mr.db)
	mr.checkFiles()
	mr.db = openT(t, mr.dir, mr.opts)
	mr.check("after reopen")
}

// checkFiles: once closed, the directory holds at most one snapshot and
// the journals after it, numbered without a gap; no temporary file.
func (mr *modelRun) checkFiles() {
	t := mr.t
	var snaps, journals []uint64
	for _, name := range dirFiles(t, mr.dir) {
		var n uint64
		switch {
		case strings.HasSuffix(name, ".tmp"):
			t.Fatalf("step %d: temporary file %s left after Close", mr.step, name)
		case strings.HasPrefix(name, "snapshot-"):
			fmt.Sscanf(name, "snapshot-%x", &n)
			snaps = append(snaps, n)
		case strings.HasPrefix(name, "journal-"):
			fmt.Sscanf(name, "journal-%x", &n)
			journals = append(journals, n)
		default:
			t.Fatalf("step %d: unexpected file %s", mr.step, name)
		}
	}
	if len(snaps) > 1 {
		t.Fatalf("step %d: %d snapshots left: %v", mr.step, len(snaps), snaps)
	}
	base := uint64(0)
	if len(snaps) == 1 {
		base = snaps[0]
		mr.snapped = true
	}
	if len(journals) == 0 {
		t.Fatalf("step %d: no journal", mr.step)
	}
	for i, j := range journals {
		if j != base+1+uint64(i) {
			t.Fatalf("step %d: journals %v after snapshot %d", mr.step, journals, base)
		}
	}
}

// TestModel drives the store with random transactions, some of them
// failing, and checks after each one that the store reads exactly as a
// plain map-based model does; now and then it closes and reopens the
// store, with snapshots forced or automatic (a small CheckpointBytes), so
// that recovery is held to the same model.
func TestModel(t *testing.T) {
	steps := 700
	if testing.Short() {
		steps = 150
	}
	for _, seed := range []uint64{1, 2, 3, 4, 5} {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			mr := &modelRun{
				t:     t,
				r:     rand.New(rand.NewPCG(seed, seed*0x9e3779b97f4a7c15)),
				dir:   t.TempDir(),
				opts:  &Options{NoSync: true, CheckpointBytes: 2 << 10},
				model: newMBucket(),
			}
			mr.db = openT(t, mr.dir, mr.opts)
			defer func() { mr.db.Close() }()
			for range steps {
				mr.commit()
				switch mr.r.IntN(40) {
				case 0, 1:
					mr.reopen()
				case 2:
					if err := mr.db.Checkpoint(); err != nil {
						t.Fatalf("step %d: Checkpoint: %v", mr.step, err)
					}
					mr.check("after Checkpoint")
				}
			}
			mr.reopen()
			if !mr.snapped {
				t.Fatalf("no snapshot was ever on disk: recovery from snapshots untested")
			}
			if len(mr.model.children) == 0 {
				t.Fatalf("the model ended empty: the run tested little")
			}
		})
	}
}

// TestModelFsync is a short run of the model with fdatasync on, as a
// service runs: the code path of the syncs (journal, snapshot, directory)
// is exercised too.
func TestModelFsync(t *testing.T) {
	mr := &modelRun{
		t:     t,
		r:     rand.New(rand.NewPCG(99, 7)),
		dir:   t.TempDir(),
		opts:  &Options{CheckpointBytes: 4 << 10},
		model: newMBucket(),
	}
	mr.db = openT(t, mr.dir, mr.opts)
	defer func() { mr.db.Close() }()
	for range 60 {
		mr.commit()
		if mr.r.IntN(15) == 0 {
			mr.reopen()
		}
	}
	mr.reopen()
}
