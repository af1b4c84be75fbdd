package kv

import (
	"encoding/binary"
	"slices"
	"unsafe"
)

// The store's records live in slabs: large byte slices a record is
// copied into, one after another. A B-tree item is a pointer into a slab
// and two lengths. Why: the garbage collector marks every object the
// store holds at every cycle, and a record of its own per key made the
// store hundreds of thousands of small objects, whose marking (70-210 ms
// a cycle, half a core) was where a storm's slowest answers came from. A
// few hundred slabs of bytes hold nothing the collector scans, and every
// item points into one of them.
//
// A slab is freed by the garbage collector, once no version and no
// value handed to a caller points into it. What a slab holds that the
// current version no longer does (replaced, deleted) is dead weight until
// then; when that is too much, a commit copies the few records still live
// in the sparsest slabs into the current one (relocate), and the old slab
// goes with the versions that still point into it.
const (
	slabSize = 256 << 10
	// recordHeader is the path, key and value lengths (uint32 each)
	// before a record's key. The record is header, key, value, then its
	// bucket's path: relocation walks a slab record by record and finds
	// each one's bucket.
	recordHeader = 12
	// noSlab marks an item that is no record: a key to search by.
	noSlab = ^uint32(0)
)

// emptyValue is the value of a record with none: a pointer just past a
// record's key may be past its slab, which Go does not allow.
var emptyValue = []byte{}

// item is one record: a key and its value in a slab.
type item struct {
	p          *byte // the key's first byte; the value follows it
	klen, vlen uint32
	slab       uint32
}

func (it item) key() []byte { return unsafe.Slice(it.p, it.klen) }

func (it item) value() []byte {
	if it.vlen == 0 {
		return emptyValue
	}
	return unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(it.p), it.klen)), it.vlen)
}

// size is the bytes the record takes in its slab.
func (it item) size() int {
	plen := binary.LittleEndian.Uint32(unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(it.p), -recordHeader)), 4))
	return recordHeader + int(it.klen) + int(it.vlen) + int(plen)
}

// probe is an item to search by: a key alone, in no slab.
func probe(k []byte) item {
	return item{p: unsafe.SliceData(k), klen: uint32(len(k)), slab: noSlab}
}

type slab struct {
	buf  []byte // len: the bytes written
	live int    // bytes of the records the writer's version holds in it
}

// change is a transaction's effect on a slab's live bytes, applied when
// it commits.
type change struct {
	slab uint32
	n    int
}

// arena is the slabs of the writer's line of versions: the one writing
// transaction (or recovery) alone uses it.
type arena struct {
	slabs      map[uint32]*slab // every slab the current version may hold records in
	cur        uint32           // the slab new records go to
	next       uint32
	live, size int64    // the slabs' live bytes, and their capacity
	pending    []change // of the transaction being written
}

func newArena() *arena { return &arena{slabs: map[uint32]*slab{}, cur: noSlab} }

// add copies a record into the current slab, a new one when it is full,
// or a slab of its own when larger than one.
func (a *arena) add(path string, k, v []byte) item {
	n := recordHeader + len(k) + len(v) + len(path)
	id := a.cur
	if n > slabSize {
		id = a.newSlab(n)
	} else if s := a.slabs[id]; s == nil || cap(s.buf)-len(s.buf) < n {
		if s != nil {
			a.pending = append(a.pending, change{slab: id}) // settled with the others: freed if it holds nothing
		}
		id = a.newSlab(slabSize)
		a.cur = id
	}
	s := a.slabs[id]
	off := len(s.buf)
	s.buf = s.buf[:off+n]
	r := s.buf[off:]
	binary.LittleEndian.PutUint32(r[0:], uint32(len(path)))
	binary.LittleEndian.PutUint32(r[4:], uint32(len(k)))
	binary.LittleEndian.PutUint32(r[8:], uint32(len(v)))
	copy(r[recordHeader:], k)
	copy(r[recordHeader+len(k):], v)
	copy(r[recordHeader+len(k)+len(v):], path)
	a.pending = append(a.pending, change{slab: id, n: n})
	return item{p: &r[recordHeader], klen: uint32(len(k)), vlen: uint32(len(v)), slab: id}
}

func (a *arena) newSlab(size int) uint32 {
	id := a.next
	for a.slabs[id] != nil || id == noSlab { // after 2^32 slabs, numbers come round
		id++
	}
	a.next = id + 1
	a.slabs[id] = &slab{buf: make([]byte, 0, size)}
	a.size += int64(size)
	return id
}

// drop records that the transaction's version no longer holds it.
func (a *arena) drop(it item) {
	if it.slab != noSlab {
		a.pending = append(a.pending, change{slab: it.slab, n: -it.size()})
	}
}

// commit applies the transaction's changes; rollback forgets them. Both
// let go of the slabs that hold nothing live for the writer's version
// (older versions keep theirs for as long as they are read).
func (a *arena) commit() {
	for _, c := range a.pending {
		if s := a.slabs[c.slab]; s != nil {
			s.live += c.n
			a.live += int64(c.n)
		}
	}
	a.settle()
}

func (a *arena) rollback() { a.settle() }

func (a *arena) settle() {
	for _, c := range a.pending {
		if s := a.slabs[c.slab]; s != nil && s.live == 0 && c.slab != a.cur {
			delete(a.slabs, c.slab)
			a.size -= int64(cap(s.buf))
		}
	}
	a.pending = a.pending[:0]
}

// relocation: once dead bytes are at least half the live ones (a third
// of the slabs' memory) and a few slabs' worth, each commit copies the
// live records of up to relocateBytes of the sparsest slabs, and of no
// more than relocateSlabs: a commit's relocation walks each slab it takes
// whole (a lookup per record), under the writer's lock. Only a slab at
// most half live is taken, so the dead bytes stay below the live ones
// (and the current slab), however the deletes fall.
const (
	relocateBytes  = 2 * slabSize
	relocateSlabs  = 4
	relocateSparse = slabSize / 2
)

// sparse gives the slabs to relocate now, sparsest first; none while the
// dead weight is small.
func (a *arena) sparse() []uint32 {
	dead := a.size - a.live
	if dead < 4*slabSize || dead < a.live/2 {
		return nil
	}
	var out []uint32
	budget := relocateBytes
	for budget > 0 && len(out) < relocateSlabs {
		best, bestLive := noSlab, relocateSparse+1
		for id, s := range a.slabs {
			if id == a.cur || s.live >= bestLive || cap(s.buf) > slabSize || slices.Contains(out, id) {
				continue
			}
			best, bestLive = id, s.live
		}
		if best == noSlab || bestLive > budget && len(out) > 0 {
			break
		}
		out = append(out, best)
		budget -= bestLive
	}
	return out
}

// records calls fn for each record written in a slab: its bucket's path,
// and the item it was when added.
func (a *arena) records(id uint32, fn func(path []byte, it item)) {
	s := a.slabs[id]
	if s == nil {
		return
	}
	for off := 0; off+recordHeader <= len(s.buf); {
		r := s.buf[off:]
		plen := int(binary.LittleEndian.Uint32(r[0:]))
		klen := int(binary.LittleEndian.Uint32(r[4:]))
		vlen := int(binary.LittleEndian.Uint32(r[8:]))
		end := recordHeader + klen + vlen
		fn(r[end:end+plen], item{p: &r[recordHeader], klen: uint32(klen), vlen: uint32(vlen), slab: id})
		off += end + plen
	}
}
