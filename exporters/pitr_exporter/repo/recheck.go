package repo

import (
	"context"
	"errors"
	"time"

	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/s3store"
	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/wal"
)

// The re-check. An incremental listing only sees keys after the last one it
// read, so a segment deleted inside the window (by hand, by a tool gone
// wrong, by a bucket restore) or archived late behind it (the old primary's
// last segments after a promotion) would be seen only by the next complete
// listing. So the keys recovery needs, from the oldest retained backup's WAL
// start on, are listed again in passes: a pass starts every RecheckWithin
// and lists a slice of the range per refresh, enough pages that it ends
// before the next pass is due. A key is then listed again at most
// RecheckWithin after it was last listed, whatever its place in the range.
// The listing is recursive (no delimiter), 1,000 keys a request in both
// layouts, as pgBackRest's folders sort in WAL order too.
type recheck struct {
	passStart time.Time   // when the pass under way, or the last one, began
	active    bool        // a pass is under way
	after     string      // the pass lists the keys after this one next
	from      wal.Segment // the first segment the pass has not covered yet
	done      time.Time   // when the last pass ended
}

// due reports whether a new pass should start. Refreshes come every
// interval, give or take: half an interval's slack keeps a pass from
// slipping to the refresh after the one due.
func (rc *recheck) due(now time.Time, within, interval time.Duration) bool {
	return !rc.active && now.Sub(rc.passStart) >= within-interval/2
}

// pageBudget is how many listing requests this refresh of the pass makes
// for keys still to list: an even share of what is left over the refreshes
// left before the next pass is due, at least one; 0 means no limit (the
// pass's last refresh lists what remains).
func pageBudget(passStart, now time.Time, within, interval time.Duration, keys int) int {
	left := int((passStart.Add(within).Sub(now) + interval/2) / interval)
	if left <= 1 {
		return 0
	}
	perPage := pageKeys * left
	return max(1, (keys+perPage-1)/perPage)
}

// firstPass is the recheck state after the first complete listing, at
// now: the first pass is due so that it ends a RecheckWithin after that
// listing, and passes keep that pace from then on.
func firstPass(now time.Time, within, interval time.Duration, keys int) recheck {
	return recheck{passStart: now.Add(-time.Duration(passLength(keys, within, interval)-1) * interval), done: now}
}

// passLength is how many refreshes a pass over keys takes.
func passLength(keys int, within, interval time.Duration) int {
	var t0 time.Time
	for i := 0; ; i++ {
		b := pageBudget(t0, t0.Add(time.Duration(i)*interval), within, interval, keys)
		if keys -= b * pageKeys; b == 0 || keys <= 0 {
			return i + 1
		}
	}
}

// recheckStep lists the next slice of the pass, or starts one when due.
// start is the first segment recovery needs; extraKeys estimates the keys
// that are not segments (backup labels, history files).
func (w *Watcher) recheckStep(ctx context.Context, prefix string, start wal.Segment, extraKeys int, now time.Time) error {
	rc := &w.rc
	if !rc.active {
		if !rc.due(now, w.opt.RecheckWithin, w.opt.Interval) {
			return nil
		}
		rc.active, rc.passStart, rc.from, rc.after = true, now, start, ""
		if start != (wal.Segment{}) {
			rc.after = prefix + w.layout.SegmentKey(start)
		}
	}
	keys := w.wal.countFrom(rc.from) + extraKeys + len(w.wal.histories)
	limit := pageBudget(rc.passStart, now, w.opt.RecheckWithin, w.opt.Interval, keys) * pageKeys
	listed := map[uint32]*wal.Runs{}
	var last wal.Segment
	lastKey, count := rc.after, 0
	err := w.store.List(ctx, prefix, rc.after, func(o s3store.Object) error {
		kind, seg, err := w.add(ctx, prefix, o, &w.wal) // what is new is added, as anywhere
		if err != nil {
			return err
		}
		lastKey, count = o.Key, count+1
		if kind == KeySegment {
			r := listed[seg.Timeline]
			if r == nil {
				r = &wal.Runs{}
				listed[seg.Timeline] = r
			}
			r.Add(seg.Number)
			last = seg
		}
		if limit > 0 && count >= limit {
			return errEnough
		}
		return nil
	})
	stopped := errors.Is(err, errEnough)
	if err != nil && !stopped {
		return err // the pass resumes from the same place
	}
	if stopped && last == (wal.Segment{}) {
		rc.after = lastKey // a slice of other keys only: nothing to compare
		return nil
	}
	// Stopped part way: the slice covers the segments up to the last one
	// listed (keys sorting between it and lastKey are no segment's: a
	// segment's key sorts after its own name, lastKey's included).
	removed := w.wal.replaceRange(rc.from, last, !stopped, listed)
	if removed > 0 {
		w.deleted += removed
		w.logger.Warn("WAL segments recovery needs were deleted", "count", removed, "seen_by", "re-check",
			"from", w.opt.Geometry.Name(rc.from), "to", lastKey)
	}
	if stopped {
		rc.from = wal.Segment{Timeline: last.Timeline, Number: last.Number + 1}
		// Resume before rc.from's key even when lastKey is past it (a
		// backup label sorting after the last segment): that segment may
		// be archived after its label, and must not be taken for deleted.
		rc.after = min(lastKey, prefix+w.layout.SegmentKey(rc.from))
		return nil
	}
	rc.active, rc.done = false, now
	return nil
}
