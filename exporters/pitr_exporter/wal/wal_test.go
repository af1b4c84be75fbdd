package wal

import (
	"math/rand"
	"testing"
)

func TestGeometryRoundTrip(t *testing.T) {
	for _, size := range []uint64{1 << 20, 16 << 20, 1 << 30} {
		g, err := NewGeometry(size)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []Segment{{1, 0}, {1, g.perLog() - 1}, {2, g.perLog()}, {0xA, 123456}} {
			name := g.Name(s)
			got, err := g.Parse(name)
			if err != nil || got != s {
				t.Errorf("size %d: %v -> %s -> %v, %v", size, s, name, got, err)
			}
		}
	}
	g, _ := NewGeometry(DefaultSegmentSize)
	if s, err := g.Parse("0000000100000002000000FF"); err != nil || s.Number != 2*256+255 {
		t.Errorf("parse: %v %v", s, err)
	}
	for _, bad := range []string{"000000010000000200000100", "00000000000000020000000F", "00000001000000020000000", "0000000Z000000020000000F"} {
		if _, err := g.Parse(bad); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
	if _, err := NewGeometry(3 << 20); err == nil {
		t.Error("accepted a 3 MiB segment size")
	}
}

func TestRunsMatchesAMap(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	var r Runs
	ref := map[uint64]bool{}
	for i := 0; i < 5000; i++ {
		n := uint64(rng.Intn(3000))
		if i%3 == 0 {
			n = uint64(i) // mostly in order, like a listing
		}
		r.Add(n)
		ref[n] = true
	}
	for n := uint64(0); n < 6000; n++ {
		if r.Contains(n) != ref[n] {
			t.Fatalf("Contains(%d) = %v", n, !ref[n])
		}
	}
	missing := uint64(0)
	for n := uint64(100); n <= 4000; n++ {
		if !ref[n] {
			missing++
		}
	}
	if got := r.Missing(100, 4000); got != missing {
		t.Errorf("Missing = %d, want %d", got, missing)
	}
	var lo, hi, merged Runs
	for n := uint64(0); n < 6000; n++ {
		if ref[n] && n < 1500 {
			lo.Add(n)
		} else if ref[n] {
			hi.Add(n)
		}
	}
	merged.Merge(&lo)
	merged.Merge(&hi)
	merged.Merge(&lo) // again: nothing new
	if len(merged.runs) != len(r.runs) || merged.Missing(0, 6000) != r.Missing(0, 6000) {
		t.Errorf("merged halves differ: %d runs, want %d", len(merged.runs), len(r.runs))
	}
	for i := 1; i < len(r.runs); i++ {
		if r.runs[i].First <= r.runs[i-1].Last+1 {
			t.Fatalf("runs %v and %v overlap or touch", r.runs[i-1], r.runs[i])
		}
	}
}

func TestHistoryAndPath(t *testing.T) {
	g, _ := NewGeometry(DefaultSegmentSize)
	h, err := ParseHistory([]byte("1\t0/5000028\tno recovery target specified\n\n2\t0/9000000\tat restore point\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 2 || h[0] != (Switch{1, 0x5000028}) || h[1] != (Switch{2, 0x9000000}) {
		t.Fatalf("history %+v", h)
	}
	spans, ok := Path(g, h, 3, Segment{1, 2}, 12)
	want := []Span{{1, 2, 4}, {2, 5, 8}, {3, 9, 12}}
	if !ok || len(spans) != 3 || spans[0] != want[0] || spans[1] != want[1] || spans[2] != want[2] {
		t.Fatalf("path %+v %v, want %+v", spans, ok, want)
	}
	sets := map[uint32]*Runs{1: {}, 2: {}, 3: {}}
	for n := uint64(2); n <= 4; n++ {
		sets[1].Add(n)
	}
	for _, n := range []uint64{5, 6, 8} {
		sets[2].Add(n)
	}
	for n := uint64(9); n <= 12; n++ {
		sets[3].Add(n)
	}
	m := MissingOn(sets, spans)
	if m[1] != 0 || m[2] != 1 || m[3] != 0 {
		t.Errorf("missing %v, want only 2: 1", m)
	}
	if _, ok := Path(g, h, 3, Segment{1, 7}, 12); ok {
		t.Error("a backup on timeline 1 after its switch reaches timeline 3")
	}
	if _, ok := Path(g, h, 3, Segment{7, 7}, 12); ok {
		t.Error("an unrelated timeline reaches timeline 3")
	}
	for _, bad := range []string{"x 0/1 r", "1 zz", "2 0/5\n1 0/6"} {
		if _, err := ParseHistory([]byte(bad)); err == nil {
			t.Errorf("accepted history %q", bad)
		}
	}
}
