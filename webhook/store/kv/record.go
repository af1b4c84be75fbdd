package kv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// A record is a header (payload length, CRC-32C of the payload, both
// little-endian uint32) and a payload of operations. A journal record is
// one commit; a snapshot is many records.
const (
	headerSize = 8
	// maxRecord bounds what a header may claim, so that a damaged length
	// is not an allocation of gigabytes. A commit larger than this is
	// refused (Update returns ErrTooLarge).
	maxRecord = 256 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrTooLarge is a transaction whose changes exceed one record.
var ErrTooLarge = errors.New("kv: transaction too large for one journal record")

// opKind is what an operation does.
type opKind byte

const (
	opPut    opKind = 1 // path, key, value
	opDelete opKind = 2 // path, key
	opCreate opKind = 3 // path: a new, empty bucket
	opDrop   opKind = 4 // path: the bucket and every bucket inside it
	opSeq    opKind = 5 // path, uvarint: the bucket's sequence
	opEnd    opKind = 6 // the last record of a complete snapshot
)

type op struct {
	kind  opKind
	path  string
	key   []byte
	value []byte
	seq   uint64
}

// appendOp encodes o at the end of b.
func appendOp(b []byte, o op) []byte {
	b = append(b, byte(o.kind))
	if o.kind == opEnd {
		return b
	}
	b = binary.AppendUvarint(b, uint64(len(o.path)))
	b = append(b, o.path...)
	switch o.kind {
	case opPut:
		b = binary.AppendUvarint(b, uint64(len(o.key)))
		b = append(b, o.key...)
		b = binary.AppendUvarint(b, uint64(len(o.value)))
		b = append(b, o.value...)
	case opDelete:
		b = binary.AppendUvarint(b, uint64(len(o.key)))
		b = append(b, o.key...)
	case opSeq:
		b = binary.AppendUvarint(b, o.seq)
	}
	return b
}

var errBadOp = errors.New("malformed operation")

// decodeOps calls fn for each operation of a payload. The key and value
// given alias p.
func decodeOps(p []byte, fn func(op) error) error {
	bytesOf := func() ([]byte, error) {
		n, w := binary.Uvarint(p)
		if w <= 0 || uint64(len(p)-w) < n {
			return nil, errBadOp
		}
		v := p[w : w+int(n) : w+int(n)]
		p = p[w+int(n):]
		return v, nil
	}
	for len(p) > 0 {
		o := op{kind: opKind(p[0])}
		p = p[1:]
		if o.kind == opEnd {
			if err := fn(o); err != nil {
				return err
			}
			continue
		}
		path, err := bytesOf()
		if err != nil {
			return err
		}
		o.path = string(path)
		switch o.kind {
		case opPut:
			if o.key, err = bytesOf(); err != nil {
				return err
			}
			if o.value, err = bytesOf(); err != nil {
				return err
			}
		case opDelete:
			if o.key, err = bytesOf(); err != nil {
				return err
			}
		case opSeq:
			n, w := binary.Uvarint(p)
			if w <= 0 {
				return errBadOp
			}
			o.seq, p = n, p[w:]
		case opCreate, opDrop:
		default:
			return fmt.Errorf("%w: kind %d", errBadOp, o.kind)
		}
		if err := fn(o); err != nil {
			return err
		}
	}
	return nil
}

// sealRecord fills the header reserved at the start of rec (headerSize
// bytes, then the payload).
func sealRecord(rec []byte) error {
	payload := rec[headerSize:]
	if len(payload) > maxRecord {
		return ErrTooLarge
	}
	binary.LittleEndian.PutUint32(rec[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(rec[4:8], crc32.Checksum(payload, castagnoli))
	return nil
}

// errTorn is a record cut short or failing its checksum.
var errTorn = errors.New("torn or damaged record")

// readRecord reads the next record's payload into buf (reused). At the
// end of the input it returns io.EOF; a partial or damaged record is
// errTorn.
func readRecord(r io.Reader, buf []byte) ([]byte, error) {
	var hdr [headerSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if err == io.EOF {
			return nil, io.EOF
		}
		return nil, errTorn
	}
	n := binary.LittleEndian.Uint32(hdr[0:4])
	if n == 0 || n > maxRecord { // none is written empty: zeros are not a record
		return nil, errTorn
	}
	if cap(buf) >= int(n) {
		buf = buf[:n]
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, errTorn
		}
	} else {
		// Grown as the bytes arrive: a damaged length at the end of a
		// journal is not an allocation of what it claims.
		b := bytes.NewBuffer(make([]byte, 0, min(int(n), 1<<20)))
		if _, err := io.CopyN(b, r, int64(n)); err != nil {
			return nil, errTorn
		}
		buf = b.Bytes()
	}
	if crc32.Checksum(buf, castagnoli) != binary.LittleEndian.Uint32(hdr[4:8]) {
		return nil, errTorn
	}
	return buf, nil
}
