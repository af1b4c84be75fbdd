package sla

import (
	"fmt"
	"math"
	"time"

	"github.com/prometheus/common/model"

	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/config"
)

// maxPoints is the most steps one range query asks for: Prometheus
// refuses a range query of more than 11,000 points per series.
const maxPoints = 10000

// Settle is how long after a step ends its reading may still change:
// samples scraped late, rules evaluated behind, remote-written or
// federated data arriving after the fact. A reading older than that is
// final and never asked for again.
const Settle = 10 * time.Minute

// reading is what one step of an uptime expression said, with flags.
type reading uint8

const (
	unfetched  reading = iota // never asked for
	unmeasured                // asked for: no value
	isUp
	isDown

	kindMask reading = 0x03
	settled  reading = 0x40 // final: never asked for again
	planned  reading = 0x80 // inside planned maintenance (from the configuration, not Prometheus)
)

// chunk is the readings of maxPoints consecutive steps of one SLO: what
// one range query can fetch.
type chunk struct {
	start time.Time
	r     []reading
	// asOf is the "now" of the last query into the chunk. Each query
	// re-reads every unsettled reading of the chunk, so all of them are
	// from asOf and serve any period computed at that same now: one
	// refresh of month, quarter and year queries the newest chunk once.
	asOf time.Time
}

// at is the time of step i.
func (c *chunk) at(i int, step time.Duration) time.Time { return c.start.Add(time.Duration(i) * step) }

// toQuery is the range of steps [lo, hi] to fetch so that steps
// [i0, i1) are known as of now; ok is false when they are already. The
// range takes in every step of the chunk before now that is not known,
// not only [i0, i1): a chunk is then one query however the month, the
// quarter and the year cut it, and every unsettled reading in it is
// from this now.
func (c *chunk) toQuery(i0, i1 int, now time.Time, step time.Duration) (lo, hi int, ok bool) {
	fresh := c.asOf.Equal(now)
	stale := func(r reading) bool { return r&kindMask != unfetched && r&settled == 0 && !fresh }
	needs := func(r reading) bool { return r&kindMask == unfetched || stale(r) }
	for i := i0; i < i1 && !ok; i++ {
		ok = needs(c.r[i])
	}
	if !ok {
		return 0, 0, false
	}
	// Steps starting before now: the last one may be partly elapsed.
	before := 0
	if d := now.Sub(c.start); d > 0 {
		before = min(int((d+step-1)/step), maxPoints)
	}
	lo, hi = -1, -1
	for i, r := range c.r {
		// A stale reading at or after now was read at a later now (a
		// computation for an earlier time): read it again all the same,
		// so that no unsettled reading is left from another now.
		if (i < before && needs(r)) || stale(r) {
			if lo < 0 {
				lo = i
			}
			hi = i
		}
	}
	return lo, hi, lo >= 0
}

// apply records the answer m of the range query of steps [lo, hi] made
// at now. With several series, a step is down when any of them reads 0
// (or less) and up when all that have a value read more: write max() or
// sum() in the expression to mean otherwise. NaN is no value.
func (c *chunk) apply(lo, hi int, m model.Matrix, step time.Duration, now time.Time) error {
	for i := lo; i <= hi; i++ {
		c.r[i] = c.r[i]&planned | unmeasured
	}
	for _, s := range m {
		for _, v := range s.Values {
			d := v.Timestamp.Time().Sub(c.start)
			i := int(d / step)
			if d%step != 0 || i < lo || i > hi {
				return fmt.Errorf("a point at %s, off the steps asked for", v.Timestamp.Time().UTC().Format(time.RFC3339Nano))
			}
			f := float64(v.Value)
			switch {
			case math.IsNaN(f):
			case f <= 0:
				c.r[i] = c.r[i]&planned | isDown
			case c.r[i]&kindMask == unmeasured:
				c.r[i] = c.r[i]&planned | isUp
			}
		}
	}
	cut := now.Add(-Settle)
	for i := lo; i <= hi; i++ {
		if !c.at(i+1, step).After(cut) {
			c.r[i] |= settled
		}
	}
	c.asOf = now
	return nil
}

// timeline is the chunks of one uptime SLO. They lie on a grid of
// maxPoints steps from the Unix epoch, shifted by the phase of the
// period's start within a step: every period starting on the same phase
// (in a zone with a whole-hour offset, all of them) reads the same
// chunks, so the month, the quarter and the year share their readings.
type timeline struct {
	step   time.Duration
	maint  config.Maintenance
	chunks map[int64]*chunk // by start, Unix nanoseconds
}

func newTimeline(step time.Duration, maint config.Maintenance) *timeline {
	return &timeline{step: step, maint: maint, chunks: map[int64]*chunk{}}
}

// chunk is the chunk starting at start (Unix nanoseconds), made on first
// use with its steps marked in or out of planned maintenance.
func (tl *timeline) chunk(start int64) *chunk {
	if c := tl.chunks[start]; c != nil {
		return c
	}
	c := &chunk{start: time.Unix(0, start), r: make([]reading, maxPoints)}
	for i := range c.r {
		if inMaintenance(tl.maint, c.at(i, tl.step)) {
			c.r[i] = planned
		}
	}
	tl.chunks[start] = c
	return c
}

// walk calls fn for each chunk holding steps of [from, to), the steps
// being from, from+step, ..., with the indexes [i0, i1) of those steps.
func (tl *timeline) walk(from, to time.Time, fn func(c *chunk, i0, i1 int) error) error {
	step := tl.step.Nanoseconds()
	span := step * maxPoints
	first, end := from.UnixNano(), to.UnixNano()
	phase := mod(first, step)
	for t := first; t < end; {
		start := phase + floorDiv(t-phase, span)*span
		i0, i1 := int((t-start)/step), maxPoints
		if end < start+span {
			i1 = int((end - start + step - 1) / step)
		}
		if err := fn(tl.chunk(start), i0, i1); err != nil {
			return err
		}
		t = start + int64(i1)*step
	}
	return nil
}

// forget drops the chunks that end before t.
func (tl *timeline) forget(t time.Time) {
	span := tl.step * maxPoints
	for k, c := range tl.chunks {
		if !c.start.Add(span).After(t) {
			delete(tl.chunks, k)
		}
	}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func mod(a, b int64) int64 { return a - floorDiv(a, b)*b }
