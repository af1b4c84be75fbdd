package repo

import (
	"testing"
	"time"
)

// TestRecheckSchedule follows the re-check's pace for a range of keys over
// refreshes a minute apart: each pass ends before the next is due, passes
// start every RecheckWithin, and a key's two listings are never more than
// RecheckWithin apart.
func TestRecheckSchedule(t *testing.T) {
	const within, every = 10 * time.Minute, time.Minute
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for _, keys := range []int{10, 2_000, 43_000, 1_000_000} {
		rc := firstPass(t0, within, every, keys) // as after the first, complete listing
		lastSeen := map[int]time.Time{}          // page index -> when last listed
		for k := 0; k*pageKeys < keys; k++ {
			lastSeen[k] = t0
		}
		pos, passes, requests := 0, 0, 0
		for i := 1; i <= 120; i++ {
			now := t0.Add(time.Duration(i) * every)
			if !rc.active {
				if !rc.due(now, within, every) {
					continue
				}
				rc.active, rc.passStart, pos = true, now, 0
				if passes == 0 && now.Before(t0.Add(within-time.Duration(passLength(keys, within, every)-1)*every)) {
					t.Errorf("%d keys: the first pass started at +%s, sooner than needed", keys, now.Sub(t0))
				}
			}
			budget := pageBudget(rc.passStart, now, within, every, keys-pos)
			if budget == 0 {
				budget = (keys - pos + pageKeys - 1) / pageKeys
			}
			for p := 0; p < budget && pos < keys; p++ {
				page := pos / pageKeys
				if gap := now.Sub(lastSeen[page]); gap > within {
					t.Fatalf("%d keys: page %d listed again after %s", keys, page, gap)
				}
				lastSeen[page] = now
				pos += pageKeys
				requests++
			}
			if pos >= keys {
				rc.active, rc.done = false, now
				passes++
				if now.Sub(rc.passStart) >= within {
					t.Fatalf("%d keys: a pass took %s", keys, now.Sub(rc.passStart))
				}
			}
		}
		// 120 minutes: a pass every 10.
		if passes != 12 {
			t.Errorf("%d keys: %d passes in 2 hours, want 12", keys, passes)
		}
		pages := (keys + pageKeys - 1) / pageKeys
		if requests > passes*(pages+9) {
			t.Errorf("%d keys: %d requests for %d passes of %d pages", keys, requests, passes, pages)
		}
		t.Logf("%9d keys: %4.1f re-check requests a refresh", keys, float64(requests)/120)
	}
}

func TestPageBudget(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		at         time.Duration
		keys, want int
	}{
		{0, 10, 1},       // at least a page while keys remain
		{0, 100_000, 10}, // 100 pages over 10 refreshes
		{5 * time.Minute, 50_000, 10},
		{9 * time.Minute, 5, 0},  // the last refresh before the next pass: no limit
		{12 * time.Minute, 5, 0}, // late (failed refreshes): no limit
	} {
		if got := pageBudget(t0, t0.Add(c.at), 10*time.Minute, time.Minute, c.keys); got != c.want {
			t.Errorf("at +%s with %d keys: %d pages, want %d", c.at, c.keys, got, c.want)
		}
	}
	// A refresh interval longer than RecheckWithin: a whole pass every time.
	if got := pageBudget(t0, t0, 10*time.Minute, 15*time.Minute, 1_000_000); got != 0 {
		t.Errorf("interval above recheck_within: %d pages, want no limit", got)
	}
}
