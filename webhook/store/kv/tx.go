package kv

import (
	"errors"
	"maps"
)

var (
	ErrTxNotWritable    = errors.New("kv: transaction not writable")
	ErrBucketNotFound   = errors.New("kv: bucket not found")
	ErrBucketExists     = errors.New("kv: bucket already exists")
	ErrBucketNameNeeded = errors.New("kv: bucket name required")
	ErrKeyRequired      = errors.New("kv: key required")
)

// Tx is a transaction: a read-only one (View) sees the version that was
// current when it began; a writing one (Update) sees that and its own
// changes, which others see once it has committed.
type Tx struct {
	db       *DB
	v        *version
	writable bool
	ownMap   bool            // v is this transaction's own copy
	owned    map[string]bool // buckets whose node this transaction copied
	rec      []byte          // the journal record being built: header, then operations
}

// write records o and applies it to the transaction's version, copying
// what it changes first.
func (tx *Tx) write(o op) error {
	if !tx.writable {
		return ErrTxNotWritable
	}
	if o.kind == opDrop {
		tx.ownVersion()
	} else {
		tx.own(o.path)
	}
	if err := tx.v.apply(tx.db.arena, o); err != nil {
		return err
	}
	if o.kind == opCreate {
		tx.owned[o.path] = true
	}
	if tx.rec == nil {
		tx.rec = tx.db.takeBuffer()
	}
	tx.rec = appendOp(tx.rec, o)
	return nil
}

// ownVersion makes the transaction's version its own copy, sharing every
// bucket's tree with the version it began from.
func (tx *Tx) ownVersion() {
	if !tx.ownMap {
		tx.v = &version{buckets: maps.Clone(tx.v.buckets)}
		tx.ownMap, tx.owned = true, map[string]bool{}
	}
}

// own gives the bucket at path as this transaction's own copy (a lazy
// clone of its tree), or nil when there is none.
func (tx *Tx) own(path string) *node {
	tx.ownVersion()
	n := tx.v.buckets[path]
	if n != nil && !tx.owned[path] {
		n = &node{items: n.items.Clone(), seq: n.seq}
		tx.v.buckets[path] = n
		tx.owned[path] = true
	}
	return n
}

// relocate copies the records still live in the sparsest slabs into the
// current one (see arena). It is no operation of the journal: the version
// holds the same keys and values after it, in other places.
func (tx *Tx) relocate() {
	a := tx.db.arena
	for _, id := range a.sparse() {
		a.records(id, func(path []byte, it item) {
			n := tx.v.buckets[string(path)]
			if n == nil {
				return // its bucket was dropped
			}
			cur, ok := n.items.Get(it)
			if !ok || cur.p != it.p {
				return // replaced or deleted since
			}
			p := string(path)
			tx.own(p).items.ReplaceOrInsert(a.add(p, cur.key(), cur.value()))
			a.drop(cur)
		})
	}
}

// Bucket is the top-level bucket of that name, or nil.
func (tx *Tx) Bucket(name []byte) *Bucket { return tx.bucket(childPath(rootPath, name)) }

func (tx *Tx) bucket(path string) *Bucket {
	if tx.v.buckets[path] == nil {
		return nil
	}
	return &Bucket{tx: tx, path: path}
}

// CreateBucket makes a new top-level bucket.
func (tx *Tx) CreateBucket(name []byte) (*Bucket, error) { return tx.create(rootPath, name, false) }

// CreateBucketIfNotExists gives the top-level bucket, made if need be.
func (tx *Tx) CreateBucketIfNotExists(name []byte) (*Bucket, error) {
	return tx.create(rootPath, name, true)
}

func (tx *Tx) create(parent string, name []byte, existing bool) (*Bucket, error) {
	if len(name) == 0 {
		return nil, ErrBucketNameNeeded
	}
	p := childPath(parent, name)
	if tx.v.buckets[p] != nil {
		if existing {
			return &Bucket{tx: tx, path: p}, nil
		}
		return nil, ErrBucketExists
	}
	if err := tx.write(op{kind: opCreate, path: p}); err != nil {
		return nil, err
	}
	return &Bucket{tx: tx, path: p}, nil
}

// DeleteBucket removes a top-level bucket and everything in it.
func (tx *Tx) DeleteBucket(name []byte) error { return tx.drop(childPath(rootPath, name)) }

func (tx *Tx) drop(p string) error {
	if tx.v.buckets[p] == nil {
		return ErrBucketNotFound
	}
	return tx.write(op{kind: opDrop, path: p})
}

// Writable says whether the transaction may write.
func (tx *Tx) Writable() bool { return tx.writable }
