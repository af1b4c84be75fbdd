package wal

import (
	"math"
	"math/rand"
	"testing"
)

func TestRunsReplaceMatchesAMap(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	for round := 0; round < 200; round++ {
		var r, with Runs
		ref, refWith := map[uint64]bool{}, map[uint64]bool{}
		for i := 0; i < 300; i++ {
			if n := uint64(rng.Intn(400)); rng.Intn(5) > 0 {
				r.Add(n)
				ref[n] = true
			}
			if n := uint64(rng.Intn(400)); rng.Intn(3) > 0 {
				with.Add(n)
				refWith[n] = true
			}
		}
		lo := uint64(rng.Intn(400))
		hi := lo + uint64(rng.Intn(200))
		if round%10 == 0 {
			hi = math.MaxUint64 // "to the end", as the re-check passes it
		}
		var wantRemoved uint64
		for n := range ref {
			if n >= lo && n <= hi && !refWith[n] {
				wantRemoved++
				delete(ref, n)
			}
		}
		for n := range refWith {
			if n >= lo && n <= hi {
				ref[n] = true
			}
		}
		if got := r.Replace(lo, hi, &with); got != wantRemoved {
			t.Fatalf("round %d: Replace(%d, %d) removed %d, want %d", round, lo, hi, got, wantRemoved)
		}
		for n := uint64(0); n < 700; n++ {
			if r.Contains(n) != ref[n] {
				t.Fatalf("round %d: after Replace(%d, %d), Contains(%d) = %v", round, lo, hi, n, !ref[n])
			}
		}
		for i := 1; i < len(r.runs); i++ {
			if r.runs[i].First <= r.runs[i-1].Last+1 {
				t.Fatalf("round %d: runs %v and %v overlap or touch", round, r.runs[i-1], r.runs[i])
			}
		}
		if c := r.Count(0, math.MaxUint64); c != uint64(len(ref)) {
			t.Fatalf("round %d: Count %d, want %d", round, c, len(ref))
		}
	}
	var r Runs
	for n := uint64(10); n < 20; n++ {
		r.Add(n)
	}
	if got := r.Replace(12, 14, nil); got != 3 || r.Contains(13) || !r.Contains(11) || !r.Contains(15) || r.Len() != 2 {
		t.Errorf("Replace with nothing: removed %d, runs %v", got, r.runs)
	}
}

func TestRunsMaxAtMost(t *testing.T) {
	var r Runs
	for _, n := range []uint64{3, 4, 5, 9, 10} {
		r.Add(n)
	}
	for _, c := range []struct {
		n, want uint64
		ok      bool
	}{{2, 0, false}, {3, 3, true}, {4, 4, true}, {7, 5, true}, {9, 9, true}, {100, 10, true}} {
		if got, ok := r.MaxAtMost(c.n); got != c.want || ok != c.ok {
			t.Errorf("MaxAtMost(%d) = %d, %v; want %d, %v", c.n, got, ok, c.want, c.ok)
		}
	}
}

func TestChainEndAcrossAPromotion(t *testing.T) {
	g, _ := NewGeometry(DefaultSegmentSize)
	// Timeline 2 began at 0/9000028, in segment 9: timeline 1 is on the
	// path up to segment 8.
	h2 := []Switch{{Parent: 1, LSN: 0x9000028}}
	sets := map[uint32]*Runs{1: {}}
	for n := uint64(2); n <= 9; n++ { // 9 on timeline 1: its .partial's full twin, or a split brain
		sets[1].Add(n)
	}
	end, hist, ok := ChainEnd(g, sets, h2, 2)
	if !ok || end != (Segment{1, 8}) || len(hist) != 0 {
		t.Fatalf("only the history file of 2: end %v %v %v, want 1/8 on timeline 1's own history", end, hist, ok)
	}
	spans, ok := Path(g, hist, end.Timeline, Segment{1, 2}, end.Number)
	if m := MissingOn(sets, spans); !ok || m[1] != 0 || m[2] != 0 {
		t.Errorf("missing %v on the path to the parent's last segment", m)
	}
	sets[2] = &Runs{}
	sets[2].Add(9)
	if end, hist, ok = ChainEnd(g, sets, h2, 2); !ok || end != (Segment{2, 9}) || len(hist) != 1 {
		t.Errorf("with timeline 2's first segment: end %v %v %v", end, hist, ok)
	}
	// Two promotions in a row, neither child with a segment yet, the
	// grandparent short of its switch: the end is its newest segment.
	h3 := []Switch{{Parent: 1, LSN: 0x9000028}, {Parent: 2, LSN: 0x9800000}}
	delete(sets, 2)
	sets[1] = &Runs{}
	sets[1].Add(2)
	sets[1].Add(3)
	if end, hist, ok = ChainEnd(g, sets, h3, 3); !ok || end != (Segment{1, 3}) || len(hist) != 0 {
		t.Errorf("two promotions: end %v %v %v, want 1/3", end, hist, ok)
	}
	if _, _, ok = ChainEnd(g, map[uint32]*Runs{}, h3, 3); ok {
		t.Error("an end found in an empty archive")
	}
	if _, _, ok = ChainEnd(g, sets, nil, 4); ok {
		t.Error("an end found for a timeline with neither segments nor history")
	}
}
