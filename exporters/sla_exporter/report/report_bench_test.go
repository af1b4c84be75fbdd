package report

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/config"
	"github.com/hotel-ops/hotel-ops/internal/testenv"
)

// BenchmarkMonthReport is the issue's "report generation time for a month
// of data at 5 s resolution": Build, WriteHTML and WritePDF of November
// 2026 from a real Prometheus holding 13 series at one sample every 5 s
// (518,401 samples each, 6.7 million in all), the SLA and incident
// sources fixed as in the tests. The trends use the usual 5m rates here,
// as the samples are 5 s apart.
//
// Setup is outside the measurement and logged: generating the OpenMetrics
// text (about 400 MB) takes about 2.5 s; promtool's backfill, which reads
// the whole text again for each 2-hour block (361 times for a month),
// takes 2 to 2.5 minutes on 2 cores.
func BenchmarkMonthReport(b *testing.B) {
	month := mustPeriod(b, "2026-11")
	h := history{from: month.Start, to: month.End, step: 5 * time.Second}
	began := time.Now()
	om := h.OpenMetrics()
	generated := time.Since(began)
	n, size := lines(om), len(om)
	prom := testenv.StartPrometheus(b, testenv.PrometheusOptions{Backfill: om})
	om = ""
	b.Logf("setup: %d samples (%d series, %d MB of OpenMetrics) generated in %s; backfilled and Prometheus ready after %s",
		n, n/h.samples(), size>>20, generated.Round(time.Millisecond), time.Since(began).Round(time.Second))

	cfg := reportsConfig
	cfg.Trends = append([]config.Trend(nil), cfg.Trends...)
	for i := range cfg.Trends {
		cfg.Trends[i].Expr = strings.ReplaceAll(cfg.Trends[i].Expr, "[15m]", "[5m]")
	}
	src := Sources{SLA: fixedSLA{}, Incidents: fixedIncidents{someIncidents(month)}, Prometheus: promAPI(b, prom.URL)}
	ctx := context.Background()
	now := month.End.Add(time.Hour)

	// Once outside the loop: the report must hold the month, or the
	// benchmark would time an empty one.
	r, err := Build(ctx, src, cfg, month, now)
	if err != nil {
		b.Fatal(err)
	}
	if !r.Trends.OK() || !r.Capacity.OK() || !r.Security.LoginStatus.OK() || len(r.Trends.Trends[0].Series) != 1 {
		b.Fatalf("the report misses data: trends %+v, capacity %+v, logins %+v", r.Trends.Status, r.Capacity.Status, r.Security.LoginStatus)
	}
	if got, want := r.Security.LoginFailures, float64(h.loginFailures()); got != want {
		b.Fatalf("login failures %v, wrote %v", got, want)
	}

	// Each step's share is reported too: the queries are Prometheus's
	// time, the rest rendering here.
	var build, html, pdf time.Duration
	ops := 0
	for b.Loop() {
		t0 := time.Now()
		r, err := Build(ctx, src, cfg, month, now)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := WriteHTML(io.Discard, r); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if err := WritePDF(io.Discard, r); err != nil {
			b.Fatal(err)
		}
		build, html, pdf = build+t1.Sub(t0), html+t2.Sub(t1), pdf+time.Since(t2)
		ops++
	}
	ms := func(d time.Duration) float64 { return float64(d.Milliseconds()) / float64(ops) }
	b.ReportMetric(ms(build), "build-ms/op")
	b.ReportMetric(ms(html), "html-ms/op")
	b.ReportMetric(ms(pdf), "pdf-ms/op")
}
