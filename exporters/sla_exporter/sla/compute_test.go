package sla

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/period"
	"github.com/hotel-ops/hotel-ops/internal/testenv"
)

// TestOnBackfilledHistory runs the SLA computations on a real Prometheus
// holding the scenario of history_test.go. The collector's subtest stops
// Prometheus, so it comes last.
func TestOnBackfilledHistory(t *testing.T) {
	prom := startHistory(t)
	t.Run("UptimeAcrossMonthEnd", func(t *testing.T) { testUptime(t, prom, false) })
	t.Run("UptimeMaintenanceCounted", func(t *testing.T) { testUptime(t, prom, true) })
	t.Run("RequestsAcrossMonthEnd", func(t *testing.T) { testRequests(t, prom) })
	t.Run("CacheQueriesOnlyNewestSteps", func(t *testing.T) { testCache(t, prom) })
	t.Run("BearerToken", func(t *testing.T) { testBearerToken(t, prom) })
	t.Run("FailingSLOLeavesTheOthers", func(t *testing.T) { testFailingSLO(t, prom) })
	t.Run("CollectorKeepsLastValuesWhenPrometheusStops", func(t *testing.T) { testCollector(t, prom) })
}

const objective = 0.999 // the web SLO's 99.9 %

// uptimeWant is what the scenario says of one period, in minutes.
type uptimeWant struct {
	elapsed, down, maintDown, maint, unmeasured, measured, excluded, planned float64
	duration                                                                 float64 // the whole period
}

// ratios are the formulas of the doc comment of uptime, worked by hand.
func (w uptimeWant) ratios(count bool) (ratio, budget float64) {
	ratio = 1 - w.down/(w.measured-w.excluded)
	base := w.duration
	if !count {
		base -= w.planned
	}
	return ratio, 1 - w.down/((1-objective)*base)
}

func testUptime(t *testing.T, prom *testenv.Prometheus, count bool) {
	cfg := testConfig(t, prom.URL, count)
	api, err := NewAPI(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := New(cfg, api)
	const day = 24 * 60
	// Counted downtime in November: the outage's 7 minutes, plus the 30
	// down in maintenance when maintenance counts; excluded: the 60
	// measured minutes of the window, when it does not.
	novDown, excluded := 7.0, 60.0
	if count {
		novDown, excluded = 37, 0
	}
	cases := []struct {
		period string
		now    time.Time
		want   uptimeWant
	}{{
		// History starts on the 25th: the 24 days before are unmeasured.
		"2025-10", histEnd,
		uptimeWant{elapsed: 31 * day, down: 10, unmeasured: 24 * day, measured: 7 * day, duration: 31 * day},
	}, {
		"2025-11", histEnd,
		uptimeWant{elapsed: 4 * day, down: novDown, maintDown: 30, maint: 60, unmeasured: 55,
			measured: 4*day - 55, excluded: excluded, planned: 60, duration: 30 * day},
	}, {
		// Seven minutes into November, all of them down.
		"2025-11", outageEnd,
		uptimeWant{elapsed: 7, down: 7, measured: 7, planned: 60, duration: 30 * day},
	}, {
		// Half a step later: the step of 00:07 stands for 30 s, up.
		"2025-11", outageEnd.Add(30 * time.Second),
		uptimeWant{elapsed: 7.5, down: 7, measured: 7.5, planned: 60, duration: 30 * day},
	}, {
		"2025-Q4", histEnd,
		uptimeWant{elapsed: 35 * day, down: 10 + novDown, maintDown: 30, maint: 60, unmeasured: 24*day + 55,
			measured: 11*day - 55, excluded: excluded, planned: 60, duration: 92 * day},
	}, {
		"2025", histEnd,
		uptimeWant{elapsed: 308 * day, down: 10 + novDown, maintDown: 30, maint: 60, unmeasured: 297*day + 55,
			measured: 11*day - 55, excluded: excluded, planned: 60, duration: 365 * day},
	}}
	for _, tc := range cases {
		p, err := period.Parse(tc.period, tokyo)
		if err != nil {
			t.Fatal(err)
		}
		r := compute(t, c, p, tc.now, "web")
		w := tc.want
		ratio, budget := w.ratios(count)
		minutes := func(d time.Duration) float64 { return d.Minutes() }
		for _, f := range []struct {
			name      string
			got, want float64
		}{
			{"elapsed", minutes(r.Elapsed), w.elapsed},
			{"down", minutes(r.Down), w.down},
			{"maintenance down", minutes(r.MaintenanceDown), w.maintDown},
			{"maintenance", minutes(r.Maintenance), w.maint},
			{"unmeasured", minutes(r.Unmeasured), w.unmeasured},
			{"measured", minutes(r.Measured), w.measured},
			{"excluded", minutes(r.Excluded), w.excluded},
			{"planned maintenance", minutes(r.PlannedMaintenance), w.planned},
			{"ratio", r.Ratio, ratio},
			{"budget remaining", r.BudgetRemaining, budget},
		} {
			if math.Abs(f.got-f.want) > 1e-12 {
				t.Errorf("%s at %s: %s = %v, want %v", tc.period, tc.now.Format(time.DateTime), f.name, f.got, f.want)
			}
		}
		if r.Kind != "uptime" || r.Objective != objective || r.Period.Name != tc.period {
			t.Errorf("%s: result %+v", tc.period, r)
		}
	}
}

func testRequests(t *testing.T, prom *testenv.Prometheus) {
	cfg := testConfig(t, prom.URL, false)
	api, err := NewAPI(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := New(cfg, api)
	cases := []struct {
		period      string
		now         time.Time
		good, total float64
	}{
		// October, from the counters' start (0) to the sample at
		// 2025-11-01 00:00:00: 7 days of 2,880 intervals, 20 of them in
		// the outage. 200: 20,140×20 + 20×10; 500: 20×5.
		{"2025-10", histEnd, 403000, 403100},
		// The first seven minutes of November, 14 intervals all in the
		// outage: 200 gains 14×10, 500 14×5. The interval ending at the
		// sample of 00:00:30 is split off October's last sample by
		// extrapolation, exact here as the rate is even.
		{"2025-11", outageEnd, 140, 210},
	}
	for _, tc := range cases {
		p, err := period.Parse(tc.period, tokyo)
		if err != nil {
			t.Fatal(err)
		}
		r := compute(t, c, p, tc.now, "booking_requests")
		ratio := tc.good / tc.total
		budget := 1 - (1-ratio)/(1-0.99)
		if !near(r.Good, tc.good) || !near(r.Total, tc.total) || !near(r.Ratio, ratio) || !near(r.BudgetRemaining, budget) {
			t.Errorf("%s at %s: good %v total %v ratio %v budget %v; want %v %v %v %v", tc.period, tc.now.Format(time.DateTime),
				r.Good, r.Total, r.Ratio, r.BudgetRemaining, tc.good, tc.total, ratio, budget)
		}
		if r.Kind != "requests" || r.Down != 0 || r.Unmeasured != 0 {
			t.Errorf("%s: result %+v", tc.period, r)
		}
	}
	// Before a period starts there is nothing to query and nothing missed.
	p, _ := period.Parse("2025-12", tokyo)
	if r := compute(t, c, p, histEnd, "booking_requests"); r.Ratio != 1 || r.BudgetRemaining != 1 || r.Total != 0 {
		t.Errorf("December before it starts: %+v", r)
	}
}

func testCache(t *testing.T, prom *testenv.Prometheus) {
	cfg := testConfig(t, prom.URL, false)
	tr := newCountingTransport()
	api, err := newAPI(cfg, tr)
	if err != nil {
		t.Fatal(err)
	}
	c := New(cfg, api)
	var periods []period.Period
	for _, name := range []string{"2025-11", "2025-Q4", "2025"} {
		p, _ := period.Parse(name, tokyo)
		periods = append(periods, p)
	}
	all := func(now time.Time) (down time.Duration) {
		for _, p := range periods {
			down = compute(t, c, p, now, "web").Down
		}
		return down
	}

	all(histEnd)
	cold, _ := tr.take()
	// Jan 1 to Nov 5 is 443,520 steps: 45 chunks of 10,000, one more if
	// the grid cuts them unevenly.
	if cold < 45 || cold > 46 {
		t.Errorf("cold month+quarter+year: %d range queries, want the year's 45 or 46 chunks, each once", cold)
	}
	all(histEnd)
	if n, m := tr.take(); n != 0 || m != 6 {
		t.Errorf("the same three periods at the same now: %d range queries (want 0: all cached) and %d instant ones (want 6, 2 per period for the requests SLO)", n, m)
	}
	later := histEnd.Add(5 * time.Minute)
	if down := all(later); down != 17*time.Minute {
		t.Errorf("year at %s: down %s, want 17m", later, down)
	}
	// One query for the three: the steps of the last Settle and the five
	// new minutes, in the newest chunk, which the three share. Nothing
	// older is asked for again, not even for the year.
	if n, _ := tr.take(); n != 1 {
		t.Errorf("month+quarter+year five minutes later: %d range queries, want 1", n)
	}
	// It reads again the steps that had not settled (ended less than
	// Settle before the first now), up to the last step begun.
	start, end := tr.lastRangeQuery()
	if want := fmt.Sprint(histEnd.Add(-Settle).Unix()); start != want {
		t.Errorf("the newest steps' query starts at %s, want %s (Settle before the first now)", start, want)
	}
	if want := fmt.Sprint(later.Add(-time.Minute).Unix()); end != want {
		t.Errorf("the newest steps' query ends at %s, want %s (the last step begun)", end, want)
	}
	year := compute(t, c, periods[2], later, "web")
	if year.Elapsed != 308*24*time.Hour+5*time.Minute || year.Measured != (11*24*60-55+5)*time.Minute {
		t.Errorf("year five minutes later: elapsed %s measured %s", year.Elapsed, year.Measured)
	}
	if n, _ := tr.take(); n != 0 {
		t.Errorf("the year again at the same now: %d range queries, want 0", n)
	}
}

func testBearerToken(t *testing.T, prom *testenv.Prometheus) {
	cfg := testConfig(t, prom.URL, false)
	t.Setenv("SLA_TEST_PROMETHEUS_TOKEN", "s3cret-token")
	cfg.BearerTokenEnv = "SLA_TEST_PROMETHEUS_TOKEN"
	tr := newCountingTransport()
	api, err := newAPI(cfg, tr)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := period.Parse("2025-11", tokyo)
	compute(t, New(cfg, api), p, histEnd, "web")
	if got := tr.lastAuth(); got != "Bearer s3cret-token" {
		t.Errorf("Authorization %q, want the configured bearer token", got)
	}
	cfg.BearerTokenEnv = "SLA_TEST_UNSET_VARIABLE"
	if _, err := NewAPI(cfg); err == nil {
		t.Errorf("NewAPI with an unset token variable: no error")
	}
}

// compute is the Result of slo over p at now.
func compute(t *testing.T, c *Computer, p period.Period, now time.Time, slo string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := c.Compute(ctx, p, now)
	if err != nil {
		t.Fatalf("%s at %s: %v", p.Name, now, err)
	}
	for _, r := range res {
		if r.SLO == slo {
			return r
		}
	}
	t.Fatalf("%s: no result for %s in %+v", p.Name, slo, res)
	return Result{}
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// An SLO whose expression Prometheus refuses at evaluation costs only its
// own result; a period with nothing measured is no data, never met.
func testFailingSLO(t *testing.T, prom *testenv.Prometheus) {
	cfg := testConfig(t, prom.URL, false)
	bad := cfg.SLOs[0]
	bad.Name, bad.Up = "broken", `label_replace(up, "x", "$1", "job", "(")` // an invalid regular expression, found only when evaluated
	cfg.SLOs = append(cfg.SLOs, bad)
	api, err := NewAPI(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := New(cfg, api)
	nov, _ := period.Parse("2025-11", tokyo)
	res, err := c.Compute(context.Background(), nov, histEnd)
	if err == nil || !strings.Contains(err.Error(), "slo broken") {
		t.Fatalf("error %v, want one naming slo broken", err)
	}
	if len(res) != 2 || res[0].SLO != "web" || res[1].SLO != "booking_requests" {
		t.Fatalf("results %+v, want web and booking_requests", res)
	}
	q3, _ := period.Parse("2025-Q3", tokyo)
	res, _ = c.Compute(context.Background(), q3, histEnd)
	for _, r := range res {
		if !r.NoData() || r.Met() || r.Coverage() != 0 {
			t.Errorf("%s in %s, before any sample: no data %v, met %v, coverage %v", r.SLO, q3.Name, r.NoData(), r.Met(), r.Coverage())
		}
	}
}
