// Package latency summarises the latencies a benchmark recorded, the same
// way in every benchmark that reports a tail, so that a handler's p99 and
// the disk's fsync p99 under it can be read side by side.
package latency

import (
	"slices"
	"testing"
	"time"
)

// Sample holds latencies in the order they were taken.
type Sample []time.Duration

// Quantile is the q-quantile (0 ≤ q ≤ 1) by the nearest-rank method: the
// value at or below which a fraction q of the sample lies.
func (s Sample) Quantile(q float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	sorted := slices.Clone(s)
	slices.Sort(sorted)
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// Over counts the latencies above d.
func (s Sample) Over(d time.Duration) int {
	n := 0
	for _, x := range s {
		if x > d {
			n++
		}
	}
	return n
}

// WorstWindow splits the sample, in the order taken, into windows of n
// and returns the highest q-quantile among them: a stall that a long run's
// p99 absorbs still shows in the window it fell in.
func (s Sample) WorstWindow(n int, q float64) time.Duration {
	var worst time.Duration
	for _, w := range s.Windows(n, q) {
		worst = max(worst, w)
	}
	return worst
}

// Windows is the q quantile of each whole window of n consecutive values.
func (s Sample) Windows(n int, q float64) []time.Duration {
	var out []time.Duration
	for i := 0; i+n <= len(s); i += n {
		out = append(out, s[i:i+n].Quantile(q))
	}
	return out
}

// Report adds the sample's p50, p99, p99.9 and maximum to b's results, in
// milliseconds.
func Report(b *testing.B, s Sample) {
	for _, m := range []struct {
		unit string
		q    float64
	}{{"p50-ms", 0.5}, {"p99-ms", 0.99}, {"p99.9-ms", 0.999}, {"max-ms", 1}} {
		b.ReportMetric(Ms(s.Quantile(m.q)), m.unit)
	}
}

// Ms is d in milliseconds, for ReportMetric.
func Ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
