// Package wal models PostgreSQL WAL segment names, timelines and the sets
// of segments a repository holds, compactly: a million archived segments
// are a handful of contiguous runs, not a million strings.
package wal

import (
	"fmt"
	"strconv"
)

// DefaultSegmentSize is PostgreSQL's default wal_segment_size.
const DefaultSegmentSize = 16 << 20

// Segment is one WAL segment file: a timeline and a segment number counted
// from LSN 0 (LSN / segment size).
type Segment struct {
	Timeline uint32
	Number   uint64
}

// Geometry converts between names and numbers for one segment size.
type Geometry struct {
	SegmentSize uint64 // bytes, a power of two from 1 MiB to 1 GiB
}

// NewGeometry validates a segment size.
func NewGeometry(size uint64) (Geometry, error) {
	if size < 1<<20 || size > 1<<30 || size&(size-1) != 0 {
		return Geometry{}, fmt.Errorf("WAL segment size %d: want a power of two from 1 MiB to 1 GiB", size)
	}
	return Geometry{SegmentSize: size}, nil
}

// perLog is the number of segments in one 4 GiB "log" (the middle eight
// hex digits of a segment name).
func (g Geometry) perLog() uint64 { return (1 << 32) / g.SegmentSize }

// Parse reads a 24-hex-digit segment name such as 000000010000000A000000FF.
func (g Geometry) Parse(name string) (Segment, error) {
	if len(name) != 24 {
		return Segment{}, fmt.Errorf("WAL segment name %q: want 24 hex digits", name)
	}
	// PostgreSQL writes upper case; a lower-case name is not its file, and
	// would sort apart from the real ones in a listing.
	for i := 0; i < 24; i++ {
		if c := name[i]; !('0' <= c && c <= '9' || 'A' <= c && c <= 'F') {
			return Segment{}, fmt.Errorf("WAL segment name %q: want upper-case hex digits", name)
		}
	}
	tl, err1 := strconv.ParseUint(name[0:8], 16, 32)
	log, err2 := strconv.ParseUint(name[8:16], 16, 32)
	seg, err3 := strconv.ParseUint(name[16:24], 16, 32)
	if err1 != nil || err2 != nil || err3 != nil {
		return Segment{}, fmt.Errorf("WAL segment name %q: not hexadecimal", name)
	}
	if tl == 0 {
		return Segment{}, fmt.Errorf("WAL segment name %q: timeline 0", name)
	}
	if seg >= g.perLog() {
		return Segment{}, fmt.Errorf("WAL segment name %q: segment %X does not exist with %d-byte segments", name, seg, g.SegmentSize)
	}
	return Segment{Timeline: uint32(tl), Number: log*g.perLog() + seg}, nil
}

// Name formats a segment as PostgreSQL names its file.
func (g Geometry) Name(s Segment) string {
	return fmt.Sprintf("%08X%08X%08X", s.Timeline, s.Number/g.perLog(), s.Number%g.perLog())
}

// SegmentOf returns the number of the segment holding lsn.
func (g Geometry) SegmentOf(lsn uint64) uint64 { return lsn / g.SegmentSize }

// ParseLSN reads an LSN written as X/X.
func ParseLSN(s string) (uint64, error) {
	var hi, lo uint64
	if _, err := fmt.Sscanf(s, "%X/%X", &hi, &lo); err != nil || hi > 0xFFFFFFFF || lo > 0xFFFFFFFF {
		return 0, fmt.Errorf("LSN %q: want X/X in hexadecimal", s)
	}
	return hi<<32 | lo, nil
}
