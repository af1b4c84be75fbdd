package kv

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/google/btree"
)

func itemLess(a, b item) bool { return bytes.Compare(a.key(), b.key()) < 0 }

// degree of the B-trees: nodes of up to 127 items. A commit copies each
// node on its path, so smaller nodes copy less; but every node is an
// object the garbage collector marks and a level to descend, and in a
// storm (escalator-load storm) 64 answered faster than 32, 128 or 8 did.
const degree = 64

// noFreelist: a node freed by one version may still be read through an
// older one, so none is reused; the garbage collector frees them.
func newTree() *btree.BTreeG[item] {
	return btree.NewWithFreeListG(degree, itemLess, btree.NewFreeListG[item](0))
}

// node is one bucket's keys and sequence.
type node struct {
	items *btree.BTreeG[item]
	seq   uint64
}

// version is the whole store at one commit. Once published it is never
// changed: a writing transaction copies the map, and each bucket it
// writes (Clone of a B-tree is lazy copy-on-write), so readers of the
// version before it go on undisturbed.
type version struct {
	buckets map[string]*node // by path; the root bucket is not one
}

func newVersion() *version { return &version{buckets: map[string]*node{}} }

// apply does what o says, in place, its records copied into a's slabs.
// Transactions and recovery both change a version only through apply, so
// a replayed journal makes the same version the commits made.
func (v *version) apply(a *arena, o op) error {
	n := v.buckets[o.path]
	switch o.kind {
	case opPut, opDelete, opSeq:
		if n == nil {
			return fmt.Errorf("%w: operation %d on a bucket that does not exist", errBadOp, o.kind)
		}
	case opCreate:
		if n != nil {
			return fmt.Errorf("%w: bucket created twice", errBadOp)
		}
		if parent, _, _, err := splitPath(o.path); err != nil {
			return err
		} else if parent != rootPath && v.buckets[parent] == nil {
			return fmt.Errorf("%w: bucket created in a bucket that does not exist", errBadOp)
		}
		if o.path == rootPath {
			return fmt.Errorf("%w: empty path", errBadOp)
		}
	}
	switch o.kind {
	case opPut:
		if old, ok := n.items.ReplaceOrInsert(a.add(o.path, o.key, o.value)); ok {
			a.drop(old)
		}
	case opDelete:
		if old, ok := n.items.Delete(probe(o.key)); ok {
			a.drop(old)
		}
	case opSeq:
		n.seq = o.seq
	case opCreate:
		v.buckets[o.path] = &node{items: newTree()}
	case opDrop:
		for p, gone := range v.buckets {
			if strings.HasPrefix(p, o.path) && isWithin(p, o.path) {
				gone.items.Ascend(func(it item) bool { a.drop(it); return true })
				delete(v.buckets, p)
			}
		}
	case opEnd:
	default:
		return fmt.Errorf("%w: kind %d", errBadOp, o.kind)
	}
	return nil
}

// isWithin says whether path p is the bucket at path q or inside it
// (p has q as a prefix of whole names).
func isWithin(p, q string) bool {
	for p != q {
		parent, _, ok, err := splitPath(p)
		if !ok || err != nil || len(parent) < len(q) {
			return false
		}
		p = parent
	}
	return true
}
