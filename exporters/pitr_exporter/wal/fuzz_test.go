package wal

import "testing"

func FuzzParseHistory(f *testing.F) {
	f.Add([]byte("1\t0/5000028\tno recovery target specified\n2\t0/9000000\tat restore point\n"))
	f.Add([]byte("# comment\n\n1 FFFFFFFF/FFFFFFFF x"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := ParseHistory(data)
		if err != nil {
			return
		}
		for i := 1; i < len(h); i++ {
			if h[i].Parent <= h[i-1].Parent || h[i].LSN < h[i-1].LSN {
				t.Fatalf("accepted a history that goes back: %+v", h)
			}
		}
		g, _ := NewGeometry(DefaultSegmentSize)
		spans, ok := Path(g, h, 1<<30, Segment{Timeline: 1}, 1<<20)
		for _, s := range spans {
			if ok && s.Last < s.First && s.Timeline != 1<<30 {
				t.Fatalf("empty span %+v on an accepted path", s)
			}
		}
	})
}

func FuzzParseSegmentName(f *testing.F) {
	f.Add("000000010000000A000000FF", uint8(24))
	f.Fuzz(func(t *testing.T, name string, shift uint8) {
		g, err := NewGeometry(1 << (shift % 40))
		if err != nil {
			return
		}
		s, err := g.Parse(name)
		if err != nil {
			return
		}
		if back, err := g.Parse(g.Name(s)); err != nil || back != s {
			t.Fatalf("%q -> %+v -> %q", name, s, g.Name(s))
		}
	})
}
