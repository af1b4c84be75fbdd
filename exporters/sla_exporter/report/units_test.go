package report

import (
	"math"
	"testing"
	"time"
)

// The outcomes of a forecast that the month's history does not reach: a
// crossing beyond the horizon, just within it, and too few points.
func TestForecastOutcomes(t *testing.T) {
	until := time.Date(2026, 12, 1, 0, 0, 0, 0, tokyo)
	line := func(perDay float64) Series {
		var s Series
		for d := -30; d <= 0; d++ {
			s.Points = append(s.Points, Point{T: until.AddDate(0, 0, d), V: 0.5 + perDay*float64(d)})
		}
		return s
	}
	for _, tc := range []struct {
		name string
		s    Series
		want Crossing
		days float64
	}{
		{"0.3 to go at 0.3/400 a day", line(0.3 / 400), CrossingNever, 0},
		{"0.3 to go at 0.3/364 a day", line(0.3 / 364), CrossingIn, 364},
		{"falling", line(-0.001), CrossingNever, 0},
		{"one point", Series{Points: []Point{{T: until, V: 0.5}}}, CrossingUnknown, 0},
		{"no finite point", Series{Points: []Point{{T: until, V: math.NaN()}, {T: until.Add(time.Hour), V: math.Inf(1)}}}, CrossingUnknown, 0},
	} {
		f := forecast(tc.s, 0.8, until)
		if f.Crossing != tc.want || math.Abs(f.Days-tc.days) > 1e-6 {
			t.Errorf("%s: %s in %v days, want %s in %v", tc.name, f.Crossing, f.Days, tc.want, tc.days)
		}
		if f.Crossing == CrossingIn && crossingText(f) != "in 364.0 days" {
			t.Errorf("%s: %q", tc.name, crossingText(f))
		}
	}
}

// The time axis is marked at midnights in the period's zone: Tokyo's,
// not UTC's (15:00 the day before).
func TestDayTicks(t *testing.T) {
	week := mustPeriod(t, "2026-W47")
	ticks := dayTicks{loc: tokyo}.Ticks(float64(week.Start.Unix()), float64(week.End.Unix()))
	if len(ticks) != 8 || ticks[0].Label != "Mon 11/16" || ticks[7].Label != "Mon 11/23" {
		t.Fatalf("ticks of %s: %+v", week.Name, ticks)
	}
	for _, tk := range ticks {
		if at := time.Unix(int64(tk.Value), 0).In(tokyo); at.Hour() != 0 || at.Minute() != 0 {
			t.Errorf("tick %q at %s, not at midnight in Tokyo", tk.Label, at)
		}
	}
	month := mustPeriod(t, "2026-11")
	labelled := 0
	for _, tk := range (dayTicks{loc: tokyo}).Ticks(float64(month.Start.Unix()), float64(month.End.Unix())) {
		if tk.Label != "" {
			labelled++
		}
	}
	if labelled < 5 || labelled > 11 {
		t.Errorf("%d labelled ticks over a month, want 5 to 11", labelled)
	}
}
