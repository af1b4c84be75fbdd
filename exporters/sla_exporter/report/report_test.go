package report

import (
	"bytes"
	"context"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/config"
	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/period"
	"github.com/hotel-ops/hotel-ops/internal/testenv"
)

var tokyo = mustLoad("Asia/Tokyo")

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

func mustPeriod(t testing.TB, name string) period.Period {
	t.Helper()
	p, err := period.Parse(name, tokyo)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// reportsConfig is the shipped example's kind of reports section, on the
// synthetic history's metrics. Its rates are over 15m, not the usual 5m:
// the history has a sample every 5 minutes, and a range holds the samples
// in (t-15m, t], so 5m would hold one and give no rate.
var reportsConfig = config.Reports{
	Title: "Hotel Ops",
	Trends: []config.Trend{
		{Name: "Request rate", Expr: `sum(rate(http_requests_total[15m]))`, Unit: "req/s"},
		{Name: "Requests by code", Expr: `sum by (code) (rate(http_requests_total[15m]))`, Unit: "req/s"},
		{Name: "Error rate", Expr: `sum(rate(http_requests_total{code=~"5.."}[15m])) / sum(rate(http_requests_total[15m]))`, Unit: "percent", Target: 0.01},
		{Name: "Response time p95", Expr: `histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[15m])))`, Unit: "s", Target: 0.5},
	},
	Forecasts:     []config.Forecast{{Name: "Disk usage", Expr: `disk_usage_ratio`, Warning: 0.8}},
	LoginFailures: `auth_login_attempts_total{result="failure"}`,
}

// promAPI is a Prometheus API client for url.
func promAPI(t testing.TB, url string) v1.API {
	t.Helper()
	c, err := api.NewClient(api.Config{Address: url})
	if err != nil {
		t.Fatal(err)
	}
	return v1.NewAPI(c)
}

// monthOnPrometheus starts a real Prometheus holding November 2026 (in
// Tokyo) at 5-minute resolution, and a sample at its very end.
func monthOnPrometheus(t *testing.T) (history, *testenv.Prometheus) {
	t.Helper()
	p := mustPeriod(t, "2026-11")
	h := history{from: p.Start, to: p.End, step: 5 * time.Minute}
	began := time.Now()
	om := h.OpenMetrics()
	prom := testenv.StartPrometheus(t, testenv.PrometheusOptions{Backfill: om})
	t.Logf("%s with %d samples backfilled in %s", prom, lines(om), time.Since(began).Round(time.Millisecond))
	return h, prom
}

// The reports of a month and of a week of real Prometheus history, with
// the figures a person computes by hand from what was written; then the
// HTML in a real browser and the PDF.
func TestReportsOnRealPrometheus(t *testing.T) {
	h, prom := monthOnPrometheus(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	month := mustPeriod(t, "2026-11")
	now := month.End.Add(time.Hour)
	src := Sources{SLA: fixedSLA{}, Incidents: fixedIncidents{someIncidents(month)}, Prometheus: promAPI(t, prom.URL)}
	r, err := Build(ctx, src, reportsConfig, month, now)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("trends", func(t *testing.T) {
		checkTrends(t, r, 2*time.Hour, 360)
	})
	t.Run("forecast", func(t *testing.T) {
		checkForecast(t, ctx, r, prom)
	})
	t.Run("security", func(t *testing.T) {
		sec := r.Security
		if sec == nil || !sec.LoginStatus.OK() || !sec.IncidentsStatus.OK() {
			t.Fatalf("security section: %+v", sec)
		}
		// Exact: see history.loginFailures for why increase() does not
		// extrapolate here.
		if want := float64(h.loginFailures()); math.Abs(sec.LoginFailures-want) > 1e-9 {
			t.Errorf("login failures %v, wrote %v", sec.LoginFailures, want)
		}
		if len(sec.Incidents) != 2 || sec.Incidents[0].Alertname != "LoginBruteForce" || sec.Incidents[1].Alertname != hostile {
			t.Errorf("security incidents %+v, want LoginBruteForce and the hostile one", sec.Incidents)
		}
	})
	t.Run("incidents", func(t *testing.T) {
		checkIncidents(t, r, 360*time.Hour)
	})
	t.Run("sla", func(t *testing.T) {
		if !r.SLA.OK() || len(r.SLA.Results) != 2 || r.SLA.Results[0].SLO != "api_uptime" {
			t.Errorf("SLA section %+v", r.SLA)
		}
	})

	t.Run("week", func(t *testing.T) {
		week := mustPeriod(t, "2026-W47") // 2026-11-16 to 11-23, inside the history
		src := src
		src.Incidents = fixedIncidents{someIncidents(week)}
		w, err := Build(ctx, src, reportsConfig, week, week.End.Add(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		checkTrends(t, w, 30*time.Minute, 337)
		if w.Capacity != nil || w.Security != nil {
			t.Errorf("a weekly report has no capacity or security section: %+v %+v", w.Capacity, w.Security)
		}
		// 168 h over 2 critical incidents.
		checkIncidents(t, w, 84*time.Hour)
	})

	t.Run("html in a browser", func(t *testing.T) {
		checkInBrowser(t, r)
	})
	t.Run("pdf", func(t *testing.T) {
		checkPDF(t, r)
	})
}

// checkTrends: every trend has a series per result with one point per
// step from the period's start to its end, both included (the month has
// none at its first instant, where the history starts: a rate needs two
// samples), and values where the history puts them.
func checkTrends(t *testing.T, r *Report, step time.Duration, wantPoints int) {
	t.Helper()
	if !r.Trends.OK() || r.Trends.Step != step {
		t.Fatalf("trends: step %s (want %s), status %+v", r.Trends.Step, step, r.Trends.Status)
	}
	ranges := map[string][2]float64{
		"Request rate":      {4.99, 15.01},
		"Requests by code":  {0.02, 15},
		"Error rate":        {0.005, 0.007}, // 0.6% of whole requests, rounded per step
		"Response time p95": {0.25, 0.5},
	}
	for _, tr := range r.Trends.Trends {
		wantSeries := 1
		if tr.Name == "Requests by code" {
			wantSeries = 2
		}
		if tr.Err != "" || len(tr.Series) != wantSeries {
			t.Errorf("trend %s: %d series (want %d), error %q", tr.Name, len(tr.Series), wantSeries, tr.Err)
			continue
		}
		for _, s := range tr.Series {
			if len(s.Points) != wantPoints {
				t.Errorf("trend %s %s: %d points, want %d", tr.Name, s.Labels, len(s.Points), wantPoints)
			}
			lo, hi := ranges[tr.Name][0], ranges[tr.Name][1]
			for _, pt := range s.Points {
				if !(pt.V >= lo && pt.V <= hi) || pt.T.Location() != tokyo {
					t.Errorf("trend %s %s: %v at %s, want within [%v, %v] in Asia/Tokyo", tr.Name, s.Labels, pt.V, pt.T, lo, hi)
					break
				}
			}
		}
	}
}

// checkForecast: /data grows by diskPerDay from diskStart, so at the end
// of November (30 days) it is at 0.60 and reaches 0.80 in 20 days. The
// history is exactly linear and the 2h points fall on samples, so the fit
// is exact up to float rounding; the tolerance (0.01 day, about 15
// minutes) would still hold if a point read a sample up to 5 minutes
// stale (0.0035 days). Prometheus's own predict_linear over the raw
// samples must say the same.
func checkForecast(t *testing.T, ctx context.Context, r *Report, prom *testenv.Prometheus) {
	t.Helper()
	c := r.Capacity
	if c == nil || !c.OK() || len(c.Forecasts) != 1 {
		t.Fatalf("capacity section %+v", c)
	}
	got := map[string]ForecastSeries{}
	for _, s := range c.Forecasts[0].Series {
		got[s.Labels] = s
	}
	data := got[`{mountpoint="/data"}`]
	wantNow := diskStart + diskPerDay*30
	wantDays := (0.8 - wantNow) / diskPerDay
	if data.Crossing != CrossingIn || math.Abs(data.Days-wantDays) > 0.01 || math.Abs(data.Current-wantNow) > 1e-9 {
		t.Errorf("/data: %s in %v days at %v now, want in %v days at %v", data.Crossing, data.Days, data.Current, wantDays, wantNow)
	}
	if math.Abs(data.Slope-diskPerDay) > 1e-9 {
		t.Errorf("/data grows %v a day, wrote %v", data.Slope, diskPerDay)
	}
	if s := got[`{mountpoint="/"}`]; s.Crossing != CrossingNever {
		t.Errorf("/ (flat at %v): %s %v days, want never", diskFlat, s.Crossing, s.Days)
	}
	if s := got[`{mountpoint="/archive"}`]; s.Crossing != CrossingCrossed {
		t.Errorf("/archive (at %v): %s, want crossed", diskFull, s.Crossing)
	}
	api := promAPI(t, prom.URL)
	expr := `predict_linear(disk_usage_ratio{mountpoint="/data"}[30d], 20 * 86400)`
	v, _, _, err := api.Query(ctx, expr, r.Until)
	if err != nil {
		t.Fatal(err)
	}
	if s := v.String(); !strings.Contains(s, " => 0.8") && !strings.Contains(s, " => 0.79999") {
		t.Errorf("%s = %s, want 0.8: the fit and Prometheus disagree", expr, s)
	}
}

// checkIncidents: the six incidents someIncidents opens in the period.
func checkIncidents(t *testing.T, r *Report, mtbf time.Duration) {
	t.Helper()
	f := r.Incidents.Figures
	if !r.Incidents.OK() || f.Count != 6 || f.Resolved != 5 || f.Automated != 2 {
		t.Fatalf("incidents: %+v", r.Incidents)
	}
	// (1.5 + 0.25 + 6 + 0.5 + 1) h over 5 resolved.
	if want := 111 * time.Minute; f.MTTR != want || !r.Incidents.MTTRMet() {
		t.Errorf("MTTR %s, want %s (met)", f.MTTR, want)
	}
	if f.MTBF != mtbf || r.Incidents.MTBFMet() {
		t.Errorf("MTBF %s, want %s (not met)", f.MTBF, mtbf)
	}
}

// A Prometheus that is down costs the sections that need it, each with
// an error line, and nothing else; only an invalid period aborts.
func TestPartialFailure(t *testing.T) {
	ctx := context.Background()
	month := mustPeriod(t, "2026-11")
	down := promAPI(t, "http://127.0.0.1:"+strconv.Itoa(testenv.FreePort(t)))
	src := Sources{SLA: fixedSLA{err: errors.New("prometheus said no")}, Incidents: fixedIncidents{someIncidents(month)}, Prometheus: down, Timeout: 5 * time.Second}
	r, err := Build(ctx, src, reportsConfig, month, month.End.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Trends.Errors) != len(reportsConfig.Trends) || len(r.Capacity.Errors) != 1 || len(r.Security.LoginStatus.Errors) != 1 {
		t.Errorf("want one error per trend, forecast and the login count: %+v %+v %+v", r.Trends.Status, r.Capacity.Status, r.Security.LoginStatus)
	}
	if len(r.SLA.Errors) != 1 || !strings.Contains(r.SLA.Errors[0], "prometheus said no") {
		t.Errorf("SLA errors %q", r.SLA.Errors)
	}
	if !r.Incidents.OK() || r.Incidents.Figures.Count != 6 {
		t.Errorf("the incidents do not need Prometheus: %+v", r.Incidents)
	}
	var page bytes.Buffer
	if err := WriteHTML(&page, r); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(page.String(), `<p class="error">`); n < 1+len(reportsConfig.Trends)+2 {
		t.Errorf("%d error lines in the page, want one per failure", n)
	}
	if err := WritePDF(&bytes.Buffer{}, r); err != nil {
		t.Errorf("PDF of a report with failures: %v", err)
	}

	// Nothing configured: every section says so.
	r, err = Build(ctx, Sources{}, config.Reports{}, month, month.End)
	if err != nil {
		t.Fatal(err)
	}
	page.Reset()
	if err := WriteHTML(&page, r); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(page.String(), `class="not-configured"`); n != 5 {
		t.Errorf("%d sections say not configured, want all 5", n)
	}

	for _, bad := range []struct {
		name string
		p    period.Period
		now  time.Time
	}{
		{"a quarter", mustPeriod(t, "2026-Q4"), month.End},
		{"a month with a wrong end", period.Period{Span: "month", Name: "2026-11", Start: month.Start, End: month.End.Add(time.Hour)}, month.End},
		{"a month not started", month, month.Start.Add(-time.Minute)},
		{"the zero period", period.Period{}, month.End},
	} {
		if _, err := Build(ctx, src, reportsConfig, bad.p, bad.now); err == nil {
			t.Errorf("%s: no error", bad.name)
		}
	}
}

func TestStep(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		step time.Duration
	}{
		{7 * 24 * time.Hour, 30 * time.Minute},
		{28 * 24 * time.Hour, 2 * time.Hour},
		{31 * 24 * time.Hour, 2 * time.Hour},
		{92 * 24 * time.Hour, 6 * time.Hour},
	} {
		if got := Step(tc.d); got != tc.step || tc.d/got > maxPoints || tc.d/got < 200 {
			t.Errorf("Step(%s) = %s (%d points), want %s", tc.d, got, tc.d/got, tc.step)
		}
	}
}
