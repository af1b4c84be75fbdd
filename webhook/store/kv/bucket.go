package kv

import (
	"bytes"
	"slices"
	"strings"
)

// Bucket is a named set of ordered keys within a transaction; it may
// hold buckets too. Values returned are the store's own: never modify
// them. They stay valid after the transaction.
type Bucket struct {
	tx   *Tx
	path string
}

func (b *Bucket) node() *node { return b.tx.v.buckets[b.path] }

// Get is the key's value, or nil.
func (b *Bucket) Get(key []byte) []byte {
	n := b.node()
	if n == nil {
		return nil
	}
	it, ok := n.items.Get(probe(key))
	if !ok {
		return nil
	}
	return it.value()
}

// Put sets a key's value; both are copied.
func (b *Bucket) Put(key, value []byte) error {
	if len(key) == 0 {
		return ErrKeyRequired
	}
	if b.node() == nil {
		return ErrBucketNotFound
	}
	if value == nil {
		value = []byte{} // a stored value is never nil: nil is "absent"
	}
	return b.tx.write(op{kind: opPut, path: b.path, key: key, value: value})
}

// Delete removes a key; a key that is not there is not an error.
func (b *Bucket) Delete(key []byte) error {
	n := b.node()
	if n == nil {
		return ErrBucketNotFound
	}
	if !b.tx.writable {
		return ErrTxNotWritable
	}
	if !n.items.Has(probe(key)) {
		return nil // nothing to journal
	}
	return b.tx.write(op{kind: opDelete, path: b.path, key: key})
}

// ForEach calls fn for every key in order, over the keys as they were
// when it began: fn may change the bucket.
func (b *Bucket) ForEach(fn func(k, v []byte) error) error {
	n := b.node()
	if n == nil {
		return ErrBucketNotFound
	}
	t := n.items
	if b.tx.owned[b.path] {
		t = t.Clone() // this transaction's own tree: fn's changes copy its nodes
	}
	var err error
	t.Ascend(func(it item) bool {
		err = fn(it.key(), it.value())
		return err == nil
	})
	return err
}

// Bucket is the bucket of that name within this one, or nil.
func (b *Bucket) Bucket(name []byte) *Bucket { return b.tx.bucket(childPath(b.path, name)) }

// CreateBucket makes a bucket within this one.
func (b *Bucket) CreateBucket(name []byte) (*Bucket, error) { return b.tx.create(b.path, name, false) }

// CreateBucketIfNotExists gives the bucket within this one, made if need be.
func (b *Bucket) CreateBucketIfNotExists(name []byte) (*Bucket, error) {
	return b.tx.create(b.path, name, true)
}

// DeleteBucket removes a bucket within this one, and everything in it.
func (b *Bucket) DeleteBucket(name []byte) error { return b.tx.drop(childPath(b.path, name)) }

// ForEachBucket calls fn with the name of each bucket within this one, in
// order of name.
func (b *Bucket) ForEachBucket(fn func(name []byte) error) error {
	var names [][]byte
	for p := range b.tx.v.buckets {
		if !strings.HasPrefix(p, b.path) || p == b.path {
			continue
		}
		if parent, name, ok, err := splitPath(p); err == nil && ok && parent == b.path {
			names = append(names, name)
		}
	}
	slices.SortFunc(names, bytes.Compare)
	for _, name := range names {
		if err := fn(name); err != nil {
			return err
		}
	}
	return nil
}

// Sequence is the bucket's sequence number.
func (b *Bucket) Sequence() uint64 {
	if n := b.node(); n != nil {
		return n.seq
	}
	return 0
}

// SetSequence sets it.
func (b *Bucket) SetSequence(v uint64) error {
	if b.node() == nil {
		return ErrBucketNotFound
	}
	return b.tx.write(op{kind: opSeq, path: b.path, seq: v})
}

// NextSequence increments the sequence and gives the new value.
func (b *Bucket) NextSequence() (uint64, error) {
	n := b.node()
	if n == nil {
		return 0, ErrBucketNotFound
	}
	next := n.seq + 1
	if err := b.tx.write(op{kind: opSeq, path: b.path, seq: next}); err != nil {
		return 0, err
	}
	return next, nil
}

// BucketStats are a bucket's figures.
type BucketStats struct {
	KeyN int // keys in the bucket itself
}

// Stats gives them.
func (b *Bucket) Stats() BucketStats {
	if n := b.node(); n != nil {
		return BucketStats{KeyN: n.items.Len()}
	}
	return BucketStats{}
}

// Cursor walks the bucket's keys in order (not its buckets).
func (b *Bucket) Cursor() *Cursor { return &Cursor{b: b} }
