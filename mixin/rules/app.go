package rules

import (
	"fmt"
	"math/big"
	"time"

	"github.com/hotel-ops/hotel-ops/mixin/spec"
)

// Application rules: error ratio, latency and throughput from the
// application's own http_requests_total and http_request_duration_seconds.

// leMatcher matches a histogram bucket bound however it is written:
// Prometheus 3 stores le="1.0" where a client exposes le="1".
func leMatcher(v spec.Value) string {
	s := v.PromQL()
	if v.Rat().IsInt() {
		return fmt.Sprintf(`le=~"%s|%s\\.0"`, s, s)
	}
	return fmt.Sprintf(`le="%s"`, s)
}

// slowQuantile is the share of requests the latency alerts allow above
// the threshold: 1 − the SLA's percentile (p95 → 0.05).
func (g *gen) slowShare() spec.Value {
	v, _ := spec.ParseValue(spec.Decimal(g.s.SLOs["latency"].Budget()))
	return v
}

func appRecording(g *gen) []Rule {
	app := g.sel("app")
	return []Rule{
		{Record: "job:http_requests:rate5m", Expr: fmt.Sprintf(`sum by (job) (rate(http_requests_total%s[5m]))`, app)},
		{Record: "job:http_requests_errors:ratio_rate5m", Expr: fmt.Sprintf(
			`sum by (job) (rate(http_requests_total%s[5m])) / sum by (job) (rate(http_requests_total%s[5m]))`, g.sel("app", `code=~"5.."`), app)},
		{Record: "job:http_request_duration_seconds:p95_5m", Expr: fmt.Sprintf(
			`histogram_quantile(%s, sum by (job, le) (rate(http_request_duration_seconds_bucket%s[5m])))`, g.s.SLOs["latency"].Objective.PromQL(), app)},
	}
}

// slowRatio is the share of requests slower than the bound over window.
func (g *gen) slowRatio(bound spec.Value, window string) string {
	return fmt.Sprintf(`(1 - sum by (job) (rate(http_request_duration_seconds_bucket%s[%s])) / sum by (job) (rate(http_request_duration_seconds_count%s[%s])))`,
		g.sel("app", leMatcher(bound)), window, g.sel("app"), window)
}

func (g *gen) trafficGuard() string {
	return fmt.Sprintf(`and on (job) job:http_requests:rate5m > %s`, g.minRPS())
}

// appTraffic is the fixture of ratio alerts: 100 requests a second of
// which the share v fail (code 500).
func appErrors(g *gen, segs []seg, step time.Duration) []inputSeries {
	ls := g.mustLabels([]string{"app"}, map[string]string{"instance": "app-1:8080"})
	per := 100 * step.Seconds()
	return []inputSeries{
		{series("http_requests_total", merge(ls, map[string]string{"code": "500"})), counterValues(segs, func(v float64) float64 { return v * per })},
		{series("http_requests_total", merge(ls, map[string]string{"code": "200"})), counterValues(segs, func(v float64) float64 { return (1 - v) * per })},
	}
}

// appLatency: 100 requests a second of which the share v take over a
// second (so they are slower than any threshold up to 1s).
func appLatency(g *gen, segs []seg, step time.Duration) []inputSeries {
	ls := g.mustLabels([]string{"app"}, map[string]string{"instance": "app-1:8080"})
	per := 100 * step.Seconds()
	fast := func(v float64) float64 { return (1 - v) * per }
	all := func(float64) float64 { return per }
	var out []inputSeries
	for _, le := range []string{"0.5", "1"} {
		out = append(out, inputSeries{series("http_request_duration_seconds_bucket", merge(ls, map[string]string{"le": le})), counterValues(segs, fast)})
	}
	out = append(out,
		inputSeries{series("http_request_duration_seconds_bucket", merge(ls, map[string]string{"le": "+Inf"})), counterValues(segs, all)},
		inputSeries{series("http_request_duration_seconds_count", ls), counterValues(segs, all)},
		inputSeries{series("http_requests_total", merge(ls, map[string]string{"code": "200"})), counterValues(segs, all)},
	)
	return out
}

func appJob(g *gen) map[string]string { return jobLabel(g, "app") }

var rateFixture = fixture{earliest: minute, warmup: 5 * minute, labels: appJob, okBad: higherIsWorse}

func init() {
	errRatio := func(g *gen, v spec.Value) string {
		return fmt.Sprintf(`job:http_requests_errors:ratio_rate5m > %s %s`, v.PromQL(), g.trafficGuard())
	}
	errFx := rateFixture
	errFx.series = appErrors
	latency := func(g *gen, v spec.Value) string {
		return fmt.Sprintf(`%s > %s %s`, g.slowRatio(v, "5m"), g.slowShare().PromQL(), g.trafficGuard())
	}
	latFx := rateFixture
	latFx.series = appLatency
	latFx.okBad = func(g *gen, _ spec.Value) (float64, float64) { return higherIsWorse(g, g.slowShare()) }
	downFx := errFx
	downFx.warmup = 2 * minute
	register(map[string]*def{
		"HotelAppDown": {
			// The guard counts requests in the window rather than a rate:
			// an outage under one request a second must page too.
			expr: func(g *gen, v spec.Value) string {
				return fmt.Sprintf(`sum by (job) (rate(http_requests_total%s[2m])) / sum by (job) (rate(http_requests_total%s[2m])) > %s and on (job) sum by (job) (increase(http_requests_total%s[2m])) >= %s`,
					g.sel("app", `code=~"5.."`), g.sel("app"), v.PromQL(), g.sel("app"), g.s.Traffic.DownMinRequests.PromQL())
			},
			describe:  "{{ $value | humanizePercentage }} of requests to {{ $labels.job }} answer 5xx (system down above THRESHOLD).",
			dashboard: DashRealtime, fx: downFx, window: 2 * minute, history: "app", on: "job",
		},
		// A dead process answers no request, so no 5xx either: its
		// absence from the scrape is the outage. absent() covers a job
		// that service discovery no longer lists at all.
		"HotelAppUnreachable": {
			expr: func(g *gen, _ spec.Value) string {
				return fmt.Sprintf(`sum by (job) (up%s) == 0 or absent(up%s)`, g.sel("app"), g.sel("app"))
			},
			describe:  "Prometheus cannot scrape any instance of {{ $labels.job }}: the application is down or unreachable.",
			dashboard: DashRealtime, fx: upFixture("app", appJob),
		},
		"HotelAppErrorRateHigh": {expr: errRatio, dashboard: DashRealtime, fx: errFx, window: 5 * minute, history: "app", on: "job",
			describe: "{{ $value | humanizePercentage }} of requests to {{ $labels.job }} answer 5xx over 5 minutes (warning above THRESHOLD)."},
		"HotelAppErrorRateCritical": {expr: errRatio, dashboard: DashRealtime, fx: errFx, window: 5 * minute, history: "app", on: "job",
			describe: "{{ $value | humanizePercentage }} of requests to {{ $labels.job }} answer 5xx over 5 minutes (critical above THRESHOLD)."},
		"HotelAppLatencyHigh": {expr: latency, dashboard: DashRealtime, fx: latFx, window: 5 * minute, history: "app", on: "job",
			describe: "{{ $value | humanizePercentage }} of requests to {{ $labels.job }} take longer than THRESHOLD: the 95th percentile is above it."},
		"HotelAppLatencyCritical": {expr: latency, dashboard: DashRealtime, fx: latFx, window: 5 * minute, history: "app", on: "job",
			describe: "{{ $value | humanizePercentage }} of requests to {{ $labels.job }} take longer than THRESHOLD: the 95th percentile is above it."},
	})

	// Week over week: the rate now against the same 5 minutes a week ago.
	// Raw rates, not the recording rule, so a fresh Prometheus compares as
	// soon as it has a week of samples.
	drop := func(g *gen, v spec.Value) string {
		ratio := new(big.Rat).Sub(big.NewRat(1, 1), v.Rat())
		return fmt.Sprintf(`sum by (job) (rate(http_requests_total%s[5m])) / sum by (job) (rate(http_requests_total%s[5m] offset 1w)) < %s and on (job) sum by (job) (rate(http_requests_total%s[5m] offset 1w)) > %s`,
			g.sel("app"), g.sel("app"), spec.Decimal(ratio), g.sel("app"), g.minRPS())
	}
	dropFx := fixture{
		earliest: minute, warmup: 5 * minute, labels: appJob, evalEvery: 5 * minute,
		baseline: 1, baselineFor: 7 * 24 * time.Hour,
		// The value is the ratio to last week: (1 − drop) is the threshold.
		okBad: func(_ *gen, v spec.Value) (float64, float64) {
			r, _ := new(big.Rat).Sub(big.NewRat(1, 1), v.Rat()).Float64()
			return r * 1.02, r * 0.98
		},
		series: func(g *gen, segs []seg, step time.Duration) []inputSeries {
			ls := g.mustLabels([]string{"app"}, map[string]string{"instance": "app-1:8080", "code": "200"})
			per := 100 * step.Seconds()
			return []inputSeries{{series("http_requests_total", ls), counterValues(segs, func(v float64) float64 { return v * per })}}
		},
	}
	register(map[string]*def{
		"HotelAppThroughputDropWarning": {expr: drop, dashboard: DashRealtime, fx: dropFx, window: 5 * minute, history: "app", on: "job",
			describe: "{{ $labels.job }} serves {{ $value | humanizePercentage }} of the requests it served a week ago (warning at a drop of THRESHOLD)."},
		"HotelAppThroughputDropCritical": {expr: drop, dashboard: DashRealtime, fx: dropFx, window: 5 * minute, history: "app", on: "job",
			describe: "{{ $labels.job }} serves {{ $value | humanizePercentage }} of the requests it served a week ago (critical at a drop of THRESHOLD)."},
	})
}
