package report

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// history is synthetic application and node history over [from, to] at
// one sample per step, written as OpenMetrics text for
// testenv.PrometheusOptions.Backfill. Every figure the report derives
// from it can be computed by hand:
//
//   - http_requests_total{code="200"|"500"} and the
//     http_request_duration_seconds histogram: 10 req/s on average with a
//     daily cycle, 0.6% errors;
//   - disk_usage_ratio: /data grows linearly from diskStart by diskPerDay
//     a day from `from`; / stays at diskFlat; /archive at diskFull;
//   - auth_login_attempts_total{result="failure"}: loginFailures in all,
//     with one counter reset (a restart) half way.
type history struct {
	from, to time.Time
	step     time.Duration
}

// The disk and login figures the tests check by hand.
const (
	diskStart  = 0.30
	diskPerDay = 0.01
	diskFlat   = 0.50
	diskFull   = 0.85
)

// failuresAt is how many logins fail in the step ending at sample i: a
// few now and then, none in the first two steps (see loginFailures).
func failuresAt(i int) int {
	if i < 2 {
		return 0
	}
	return (i * 7919) % 13 / 4 // 0..3, irregular
}

// samples is the number of samples of each series.
func (h history) samples() int { return int(h.to.Sub(h.from)/h.step) + 1 }

// loginFailures is the failures written in (from, to]: what
// sum(increase(auth_login_attempts_total{result="failure"}[period]))
// evaluated at `to` must give. Prometheus extrapolates an increase to
// the edges of its window, but not here: the counter is 0 at the first
// sample inside the window (from + step, so no extrapolation back to a
// start the counter never had) and there is a sample at `to` itself.
func (h history) loginFailures() int {
	n := 0
	for i := 1; i < h.samples(); i++ {
		n += failuresAt(i)
	}
	return n
}

// OpenMetrics writes the history. It is built with append on one byte
// slice (no fmt), as the benchmark's month at 5s is 5.7 million lines.
func (h history) OpenMetrics() string {
	n := h.samples()
	b := make([]byte, 0, n*11*64)
	ts := make([][]byte, n)
	for i := range ts {
		ts[i] = strconv.AppendFloat(nil, float64(h.from.Add(time.Duration(i)*h.step).UnixMilli())/1000, 'f', -1, 64)
	}
	series := func(name string, value func(i int) float64) {
		for i := 0; i < n; i++ {
			b = append(b, name...)
			b = append(b, ' ')
			b = strconv.AppendFloat(b, value(i), 'g', -1, 64)
			b = append(b, ' ')
			b = append(b, ts[i]...)
			b = append(b, '\n')
		}
	}
	sec := h.step.Seconds()

	// Requests: a daily cycle between 5 and 15 req/s, counted in whole
	// requests, 0.6% of them failing (under the 1% target).
	perStep := make([]float64, n)
	total := make([]float64, n)
	for i := 1; i < n; i++ {
		hour := float64(h.from.Add(time.Duration(i)*h.step).Hour()) + float64(h.from.Add(time.Duration(i)*h.step).Minute())/60
		perStep[i] = math.Round(sec * (10 + 5*math.Sin(2*math.Pi*hour/24)))
		total[i] = total[i-1] + perStep[i]
	}
	b = append(b, "# TYPE http_requests counter\n"...)
	series(`http_requests_total{code="200"}`, func(i int) float64 { return total[i] - math.Floor(total[i]*0.006) })
	series(`http_requests_total{code="500"}`, func(i int) float64 { return math.Floor(total[i] * 0.006) })

	// Latency: fixed shares per bucket, so the p95 sits between 0.25
	// and 0.5 s (interpolated at about 0.4 s).
	b = append(b, "# TYPE http_request_duration_seconds histogram\n"...)
	for _, bk := range []struct {
		le    string
		share float64
	}{{"0.1", 0.60}, {"0.25", 0.85}, {"0.5", 0.97}, {"1", 0.995}, {"+Inf", 1}} {
		series(`http_request_duration_seconds_bucket{le="`+bk.le+`"}`, func(i int) float64 { return math.Floor(total[i] * bk.share) })
	}
	series(`http_request_duration_seconds_sum`, func(i int) float64 { return total[i] * 0.12 })
	series(`http_request_duration_seconds_count`, func(i int) float64 { return total[i] })

	b = append(b, "# TYPE disk_usage_ratio gauge\n"...)
	series(`disk_usage_ratio{mountpoint="/data"}`, func(i int) float64 {
		return diskStart + diskPerDay*(time.Duration(i)*h.step).Hours()/24
	})
	series(`disk_usage_ratio{mountpoint="/"}`, func(int) float64 { return diskFlat })
	series(`disk_usage_ratio{mountpoint="/archive"}`, func(int) float64 { return diskFull })

	// Login failures, with the counter starting again from 0 half way
	// (the application restarted): increase() adds both runs.
	b = append(b, "# TYPE auth_login_attempts counter\n"...)
	fails := 0
	series(`auth_login_attempts_total{result="failure"}`, func(i int) float64 {
		if i == n/2 {
			fails = 0
		}
		fails += failuresAt(i)
		return float64(fails)
	})
	b = append(b, "# EOF\n"...)
	return string(b)
}

// lines counts the samples of an OpenMetrics text, for the logs.
func lines(om string) int { return strings.Count(om, "\n") }
