package sla

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/config"
	"github.com/hotel-ops/hotel-ops/internal/testenv"
)

// The scenario, in Tokyo time, fixed in the past so that the figures
// never depend on when the test runs. One sample every 30 s of each
// series from histStart to histEnd, both included, except in the gap:
//
//   - up{job="hotel-saas"} is 0 from 2025-10-31 23:50:00 to 2025-11-01
//     00:06:30 (an outage across the month end: 10 min in October, 7 in
//     November; the sample at 00:07:00 reads 1 again) and from
//     2025-11-03 02:10:00 to 02:39:30 (30 min down inside the planned
//     window 02:00–03:00 of 2025-11-03), 1 otherwise;
//   - no sample of any series after 2025-11-04 12:00:00 until 13:00:00:
//     Prometheus still reads the 12:00:00 sample for 5 minutes (its
//     lookback), so the steps 12:05 to 12:59 have no value: 55 min
//     unmeasured;
//   - http_requests_total{code="200"} starts at 0 and gains 20 in every
//     30 s interval, 10 in those starting inside the outage;
//     {code="500"} starts at 0 and gains 5 in each interval starting
//     inside the outage, nothing otherwise.
var (
	tokyo = mustLocation("Asia/Tokyo")

	histStart   = jst(2025, 10, 25, 0, 0, 0)
	histEnd     = jst(2025, 11, 5, 0, 0, 0)
	outageStart = jst(2025, 10, 31, 23, 50, 0)
	outageEnd   = jst(2025, 11, 1, 0, 7, 0)
	maintDown   = jst(2025, 11, 3, 2, 10, 0)
	maintUp     = jst(2025, 11, 3, 2, 40, 0)
	gapLast     = jst(2025, 11, 4, 12, 0, 0)
	gapNext     = jst(2025, 11, 4, 13, 0, 0)
)

const sampleEvery = 30 * time.Second

func mustLocation(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

func jst(y int, m time.Month, d, h, mi, s int) time.Time {
	return time.Date(y, m, d, h, mi, s, 0, tokyo)
}

func inRange(t, from, to time.Time) bool { return !t.Before(from) && t.Before(to) }

// history is the scenario as OpenMetrics text for promtool.
func history() string {
	var b strings.Builder
	sampled := func(t time.Time) bool { return !t.After(gapLast) || !t.Before(gapNext) }
	b.WriteString("# TYPE up gauge\n")
	for t := histStart; !t.After(histEnd); t = t.Add(sampleEvery) {
		if !sampled(t) {
			continue
		}
		v := 1
		if inRange(t, outageStart, outageEnd) || inRange(t, maintDown, maintUp) {
			v = 0
		}
		fmt.Fprintf(&b, "up{job=\"hotel-saas\"} %d %d\n", v, t.Unix())
	}
	b.WriteString("# TYPE http_requests counter\n")
	for _, code := range []string{"200", "500"} {
		total := 0
		for t := histStart; !t.After(histEnd); t = t.Add(sampleEvery) {
			if sampled(t) {
				fmt.Fprintf(&b, "http_requests_total{job=\"hotel-saas\",code=%q} %d %d\n", code, total, t.Unix())
			}
			// The increase of the interval starting at t.
			switch out := inRange(t, outageStart, outageEnd); {
			case code == "200" && out:
				total += 10
			case code == "200":
				total += 20
			case out:
				total += 5
			}
		}
	}
	b.WriteString("# EOF\n")
	return b.String()
}

// startHistory starts Prometheus on the scenario's history.
func startHistory(t *testing.T) *testenv.Prometheus {
	t.Helper()
	began := time.Now()
	p := testenv.StartPrometheus(t, testenv.PrometheusOptions{Backfill: history()})
	t.Logf("%s on the backfilled history in %s", p, time.Since(began).Round(time.Millisecond))
	return p
}

// testConfig is the configuration of the tests, through config.Parse so
// that the time interval is read as users write it.
func testConfig(t *testing.T, url string, countMaintenance bool) *config.SLA {
	t.Helper()
	y := fmt.Sprintf(`
sla:
  prometheus_url: %s
  timezone: Asia/Tokyo
  spans: [month, quarter, year]
  maintenance:
    count_as_downtime: %t
    time_intervals:
      - name: monthly-maintenance
        time_intervals:
          - times: [{start_time: "02:00", end_time: "03:00"}]
            days_of_month: ["3"]
            months: ["november"]
            years: ["2025"]
            location: Asia/Tokyo
  slos:
    - name: web
      objective: 99.9%%
      up: up{job="hotel-saas"}
    - name: booking_requests
      objective: 99%%
      good: http_requests_total{job="hotel-saas",code!~"5.."}
      total: http_requests_total{job="hotel-saas"}
`, url, countMaintenance)
	c, err := config.Parse("sla-test.yml", []byte(y))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return c.SLA
}
