package wal

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Switch is one line of a timeline history file: timeline Parent ended at
// LSN, where its child began.
type Switch struct {
	Parent uint32
	LSN    uint64
}

// ParseHistory reads a NNNNNNNN.history file: one "parentTLI LSN reason"
// line per ancestor, oldest first; # starts a comment.
func ParseHistory(data []byte) ([]Switch, error) {
	var out []Switch
	sc := bufio.NewScanner(bytes.NewReader(data))
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		f := strings.Fields(text)
		if len(f) < 2 {
			return nil, fmt.Errorf("history line %d: want a timeline and an LSN", line)
		}
		tl, err := strconv.ParseUint(f[0], 10, 32)
		if err != nil || tl == 0 {
			return nil, fmt.Errorf("history line %d: bad timeline %q", line, f[0])
		}
		lsn, err := ParseLSN(f[1])
		if err != nil {
			return nil, fmt.Errorf("history line %d: %w", line, err)
		}
		if n := len(out); n > 0 && (uint32(tl) <= out[n-1].Parent || lsn < out[n-1].LSN) {
			return nil, fmt.Errorf("history line %d: timelines and LSNs must increase", line)
		}
		out = append(out, Switch{Parent: uint32(tl), LSN: lsn})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	return out, nil
}

// Span is a range of segments needed on one timeline.
type Span struct {
	Timeline    uint32
	First, Last uint64
}

// Path lists the segments recovery replays from segment from to segment
// last of timeline newest, whose history is given: on each ancestor up to
// the segment before its switch point (the switch segment is read from the
// child timeline). ok is false when from's timeline is not on that path
// (a backup of an abandoned timeline cannot reach the newest WAL).
func Path(g Geometry, history []Switch, newest uint32, from Segment, last uint64) (spans []Span, ok bool) {
	begin := uint64(0)
	var all []Span
	for _, sw := range history {
		end := g.SegmentOf(sw.LSN)
		if end > begin {
			all = append(all, Span{sw.Parent, begin, end - 1})
		}
		begin = end
	}
	all = append(all, Span{newest, begin, last})
	for i, sp := range all {
		if sp.Timeline != from.Timeline {
			continue
		}
		if from.Number > sp.Last && i < len(all)-1 {
			return nil, false // the backup started after its timeline was left
		}
		sp.First = max(sp.First, from.Number)
		out := append([]Span{sp}, all[i+1:]...)
		return out, sp.First <= sp.Last || i == len(all)-1
	}
	return nil, false
}

// MissingOn counts, per timeline, the segments of the spans that sets lack.
func MissingOn(sets map[uint32]*Runs, spans []Span) map[uint32]uint64 {
	out := map[uint32]uint64{}
	for _, sp := range spans {
		if sp.Last < sp.First {
			continue
		}
		r := sets[sp.Timeline]
		if r == nil {
			out[sp.Timeline] += sp.Last - sp.First + 1
			continue
		}
		out[sp.Timeline] += r.Missing(sp.First, sp.Last)
	}
	return out
}

// ChainEnd returns the newest segment recovery along timeline newest (whose
// history is given) can reach, and the history of that segment's timeline:
// the newest segment of timeline newest, or, while that timeline has none
// archived yet, the newest segment its parent holds before the switch
// point, and so on up. Right after a promotion only the new timeline's
// history file is archived, and on a quiet database its first segment may
// take long to fill; the archive still reaches the old timeline's last
// segment, so that is where the chain ends, not a gap. ok is false when no
// timeline on the path holds a segment.
func ChainEnd(g Geometry, sets map[uint32]*Runs, history []Switch, newest uint32) (end Segment, endHistory []Switch, ok bool) {
	tl, limit := newest, uint64(math.MaxUint64)
	for {
		if r := sets[tl]; r != nil {
			if n, found := r.MaxAtMost(limit); found {
				return Segment{Timeline: tl, Number: n}, history, true
			}
		}
		if len(history) == 0 {
			return Segment{}, nil, false
		}
		sw := history[len(history)-1]
		// The parent's segments from the switch segment on are not on the
		// path: the child's copy of that segment continues it.
		first := g.SegmentOf(sw.LSN)
		if first == 0 {
			return Segment{}, nil, false
		}
		tl, limit, history = sw.Parent, min(limit, first-1), history[:len(history)-1]
	}
}
