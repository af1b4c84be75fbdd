package kv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// realJournal makes a store with every kind of operation, nested buckets
// and a deleted bucket, and gives its journal's bytes: the seed of the
// fuzz targets, so that mutations start from records that pass their
// checksums and operations that decode.
func realJournal(tb testing.TB) []byte {
	dir := tb.TempDir()
	db := openT(tb, dir, testOpts())
	updateT(tb, db, func(tx *Tx) error {
		a, err := tx.CreateBucket([]byte("a"))
		if err != nil {
			return err
		}
		in, err := a.CreateBucket([]byte("in"))
		if err != nil {
			return err
		}
		if err := in.Put([]byte("k1"), []byte("v1")); err != nil {
			return err
		}
		if err := a.Put([]byte("k2"), nil); err != nil {
			return err
		}
		_, err = a.NextSequence()
		return err
	})
	updateT(tb, db, func(tx *Tx) error {
		a := tx.Bucket([]byte("a"))
		if err := a.Delete([]byte("k2")); err != nil {
			return err
		}
		if err := a.SetSequence(1 << 33); err != nil {
			return err
		}
		if _, err := tx.CreateBucket([]byte("gone")); err != nil {
			return err
		}
		return tx.DeleteBucket([]byte("gone"))
	})
	updateT(tb, db, func(tx *Tx) error {
		return tx.Bucket([]byte("a")).Bucket([]byte("in")).Put([]byte{0, 0xff}, bytes.Repeat([]byte("x"), 300))
	})
	closeT(tb, db)
	b, err := os.ReadFile(filepath.Join(dir, journalName(1)))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// FuzzJournal writes arbitrary bytes as a store's only journal and opens
// it. Open may refuse (damage it cannot tell from a crash), but it must
// not panic; and when it accepts, the store it built must take a commit,
// and give back exactly that store plus the commit after a reopen, and
// again after a snapshot of it.
//
// With reseal, the checksum of every record the bytes frame is made right
// before the file is written: mutations then reach decodeOps and apply
// through recovery (a random byte behind a checksum is almost always only
// a torn record), and whatever state such a journal builds must survive
// a snapshot unchanged.
func FuzzJournal(f *testing.F) {
	j := realJournal(f)
	{ // the real journal must open: the seed is what it claims to be
		dir := f.TempDir()
		if err := os.WriteFile(filepath.Join(dir, journalName(1)), j, 0o600); err != nil {
			f.Fatal(err)
		}
		db := openT(f, dir, testOpts())
		if bucketCount(db) != 2 {
			f.Fatalf("the seed journal opens with %d buckets, want 2", bucketCount(db))
		}
		closeT(f, db)
	}
	f.Add(j, false)
	f.Add(j, true)
	f.Add(j[len(journalMagic):], false) // no magic: not a journal
	f.Add(j[:len(j)-5], false)          // torn
	f.Add([]byte(journalMagic), false)
	f.Add([]byte{}, false)
	// One record of operations the store never writes itself (a drop of
	// the root path, an end-of-snapshot, a bucket with an empty name),
	// sealed so that it passes its checksum and reaches decodeOps.
	var payload []byte
	payload = appendOp(payload, op{kind: opCreate, path: childPath(rootPath, nil)})
	payload = appendOp(payload, op{kind: opCreate, path: childPath(rootPath, []byte("x"))})
	payload = appendOp(payload, op{kind: opEnd})
	payload = appendOp(payload, op{kind: opDrop, path: rootPath})
	payload = appendOp(payload, op{kind: opDrop, path: childPath(rootPath, []byte("never"))})
	f.Add(append([]byte(journalMagic), sealed(payload)...), true)

	f.Fuzz(func(t *testing.T, data []byte, reseal bool) {
		if reseal {
			data = resealRecords(data)
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, journalName(1)), data, 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := Open(dir, testOpts())
		if err != nil {
			return
		}
		before := dumpDB(t, db)
		err = db.Update(func(tx *Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("fuzz"))
			if err != nil {
				return err
			}
			if err := b.Put([]byte("after"), []byte("open")); err != nil {
				return err
			}
			_, err = b.NextSequence()
			return err
		})
		if err != nil {
			t.Fatalf("commit after a successful Open: %v", err)
		}
		want := dumpDB(t, db)
		if want == before {
			t.Fatal("the commit changed nothing")
		}
		closeT(t, db)
		db = openT(t, dir, testOpts())
		if got := dumpDB(t, db); got != want {
			t.Fatalf("reopen: %s", diffDumps(want, got))
		}
		if err := db.Checkpoint(); err != nil {
			t.Fatalf("Checkpoint: %v", err)
		}
		closeT(t, db)
		db = openT(t, dir, testOpts())
		defer db.Close()
		if got := dumpDB(t, db); got != want {
			t.Fatalf("reopen from the snapshot: %s", diffDumps(want, got))
		}
	})
}

// resealRecords gives a copy of a journal with the checksum of each record
// its length fields frame set right, as far as they frame whole records.
func resealRecords(data []byte) []byte {
	data = bytes.Clone(data)
	p := 0
	if bytes.HasPrefix(data, []byte(journalMagic)) {
		p = len(journalMagic)
	}
	for p+headerSize <= len(data) {
		n := int(binary.LittleEndian.Uint32(data[p:]))
		if n == 0 || n > len(data)-p-headerSize {
			break
		}
		if err := sealRecord(data[p : p+headerSize+n]); err != nil {
			break
		}
		p += headerSize + n
	}
	return data
}

func sealed(payload []byte) []byte {
	rec := append(make([]byte, headerSize), payload...)
	if err := sealRecord(rec); err != nil {
		panic(err)
	}
	return rec
}

// FuzzDecodeOps: decodeOps on arbitrary bytes must not panic, nor must
// applying what it decodes; what it decodes encodes back to bytes that
// decode to the same operations. And operations built from the input,
// encoded by appendOp, decode to exactly themselves, consuming every
// byte.
func FuzzDecodeOps(f *testing.F) {
	j := realJournal(f)
	for p := j[len(journalMagic):]; len(p) >= headerSize; {
		n := binary.LittleEndian.Uint32(p)
		f.Add(p[headerSize : headerSize+n]) // each real record's payload
		p = p[headerSize+n:]
	}
	f.Add([]byte{byte(opEnd)})
	f.Add([]byte{byte(opSeq), 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{byte(opPut), 0x80})
	f.Add([]byte{99})

	f.Fuzz(func(t *testing.T, data []byte) {
		// Arbitrary bytes.
		var ops []op
		err := decodeOps(data, func(o op) error {
			o.key, o.value = bytes.Clone(o.key), bytes.Clone(o.value)
			ops = append(ops, o)
			return nil
		})
		if err == nil {
			var re []byte
			for _, o := range ops {
				re = appendOp(re, o)
			}
			again := decodeAll(t, re)
			if !opsEqual(ops, again) {
				t.Fatalf("decoded %v, re-encoded and decoded %v", ops, again)
			}
		} else if !errors.Is(err, errBadOp) {
			t.Fatalf("decodeOps: %v, want errBadOp", err)
		}
		v, a := newVersion(), newArena()
		_ = decodeOps(data, func(o op) error { return v.apply(a, o) }) // must not panic, whatever it refuses
		a.commit()

		// Operations made from the input: appendOp then decodeOps is the
		// identity.
		built := opsFrom(data)
		var enc []byte
		for _, o := range built {
			enc = appendOp(enc, o)
		}
		if got := decodeAll(t, enc); !opsEqual(built, got) {
			t.Fatalf("encoded %v, decoded %v", built, got)
		}
	})
}

func decodeAll(t *testing.T, p []byte) []op {
	t.Helper()
	var ops []op
	if err := decodeOps(p, func(o op) error { ops = append(ops, o); return nil }); err != nil {
		t.Fatalf("decodeOps of appendOp's output: %v", err)
	}
	return ops
}

// opsFrom reads operations out of arbitrary bytes: a kind, then lengths
// and contents taken from what follows (whatever is left when short).
func opsFrom(data []byte) []op {
	next := func(n int) []byte {
		n = min(n, len(data))
		b := data[:n:n]
		data = data[n:]
		return b
	}
	var ops []op
	for len(data) > 0 {
		k := next(1)[0]
		o := op{kind: opKind(1 + k%6)}
		if o.kind != opEnd {
			o.path = string(next(int(k / 6 % 8)))
		}
		switch o.kind {
		case opPut:
			n := next(1)
			if len(n) == 1 {
				o.key = next(int(n[0] % 16))
				o.value = next(int(n[0] / 16))
			}
			if o.key == nil {
				o.key = []byte{}
			}
			if o.value == nil {
				o.value = []byte{}
			}
		case opDelete:
			n := next(1)
			if len(n) == 1 {
				o.key = next(int(n[0] % 16))
			}
			if o.key == nil {
				o.key = []byte{}
			}
		case opSeq:
			s := next(8)
			var b [8]byte
			copy(b[:], s)
			o.seq = binary.LittleEndian.Uint64(b[:])
		}
		ops = append(ops, o)
	}
	return ops
}

// opsEqual compares operations; an empty key or value is equal to nil
// (the encoding has only a length).
func opsEqual(a, b []op) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.kind != y.kind || x.path != y.path || x.seq != y.seq ||
			!bytes.Equal(x.key, y.key) || !bytes.Equal(x.value, y.value) {
			return false
		}
	}
	return true
}
