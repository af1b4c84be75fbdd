package period

import (
	"testing"
	"time"
)

var tokyo = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		panic(err)
	}
	return loc
}()

func jst(y int, m time.Month, d, h int) time.Time { return time.Date(y, m, d, h, 0, 0, 0, tokyo) }

// A month is the month in Tokyo: 2026-11-30 20:00 UTC is already
// December there.
func TestContainingIsInTheZone(t *testing.T) {
	at := time.Date(2026, 11, 30, 20, 0, 0, 0, time.UTC) // 2026-12-01 05:00 JST
	for _, tc := range []struct {
		span, name string
		start, end time.Time
	}{
		{"month", "2026-12", jst(2026, 12, 1, 0), jst(2027, 1, 1, 0)},
		{"quarter", "2026-Q4", jst(2026, 10, 1, 0), jst(2027, 1, 1, 0)},
		{"year", "2026", jst(2026, 1, 1, 0), jst(2027, 1, 1, 0)},
		{"week", "2026-W49", jst(2026, 11, 30, 0), jst(2026, 12, 7, 0)}, // Monday to Monday
	} {
		p, err := Containing(tc.span, at, tokyo)
		if err != nil {
			t.Fatal(err)
		}
		if p.Name != tc.name || !p.Start.Equal(tc.start) || !p.End.Equal(tc.end) {
			t.Errorf("%s: %s [%s, %s), want %s [%s, %s)", tc.span, p.Name, p.Start, p.End, tc.name, tc.start, tc.end)
		}
	}
	if p, _ := Containing("month", at, time.UTC); p.Name != "2026-11" {
		t.Errorf("in UTC the same instant is in %s, want 2026-11", p.Name)
	}
}

func TestParseRoundTrips(t *testing.T) {
	for _, tc := range []struct {
		name       string
		start, end time.Time
	}{
		{"2026-11", jst(2026, 11, 1, 0), jst(2026, 12, 1, 0)},
		{"2024-02", jst(2024, 2, 1, 0), jst(2024, 3, 1, 0)}, // 29 days
		{"2026-Q1", jst(2026, 1, 1, 0), jst(2026, 4, 1, 0)},
		{"2026", jst(2026, 1, 1, 0), jst(2027, 1, 1, 0)},
		{"2026-W48", jst(2026, 11, 23, 0), jst(2026, 11, 30, 0)},
		{"2026-W01", jst(2025, 12, 29, 0), jst(2026, 1, 5, 0)}, // week 1 begins in the year before
		{"2026-W53", jst(2026, 12, 28, 0), jst(2027, 1, 4, 0)}, // 2026 has 53 ISO weeks
	} {
		p, err := Parse(tc.name, tokyo)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if p.Name != tc.name || !p.Start.Equal(tc.start) || !p.End.Equal(tc.end) {
			t.Errorf("%s: got %s [%s, %s)", tc.name, p.Name, p.Start, p.End)
		}
		q, _ := Containing(p.Span, p.Start, tokyo)
		if q != p {
			t.Errorf("%s: Containing(Start) = %s", tc.name, q.Name)
		}
		if prev := p.Next().Previous(); prev.Name != p.Name {
			t.Errorf("%s: Next().Previous() = %s", tc.name, prev.Name)
		}
	}
	for _, bad := range []string{"", "2026-13", "2026-00", "2025-W53", "2026-W00", "2026-Q5", "26-11", "2026-11-01", "November"} {
		if _, err := Parse(bad, tokyo); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestElapsed(t *testing.T) {
	p, _ := Parse("2026-11", tokyo)
	if e := p.Elapsed(jst(2026, 11, 16, 0)); e != 15*24*time.Hour {
		t.Errorf("half-way: %s", e)
	}
	if e := p.Elapsed(jst(2026, 10, 1, 0)); e != 0 {
		t.Errorf("before: %s", e)
	}
	if e := p.Elapsed(jst(2027, 1, 1, 0)); e != 30*24*time.Hour || p.Duration() != 30*24*time.Hour {
		t.Errorf("after: %s, duration %s", e, p.Duration())
	}
	if !p.Contains(p.Start) || p.Contains(p.End) {
		t.Error("Contains is not [Start, End)")
	}
}

// FuzzParse: a name Parse accepts is the period's own name, and the
// period is non-empty and contains its start.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"2026-11", "2026-W48", "2026-Q4", "2026", "2026-W53", "0000-W01", "9999-12"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		p, err := Parse(name, tokyo)
		if err != nil {
			return
		}
		if p.Name != name || !p.End.After(p.Start) || !p.Contains(p.Start) {
			t.Fatalf("%q: %+v", name, p)
		}
	})
}
