package sla

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hotel-ops/hotel-ops/internal/metrictest"
	"github.com/hotel-ops/hotel-ops/internal/testenv"
)

func testCollector(t *testing.T, prom *testenv.Prometheus) {
	cfg := testConfig(t, prom.URL, false)
	tr := newCountingTransport()
	api, err := newAPI(cfg, tr)
	if err != nil {
		t.Fatal(err)
	}
	col := NewCollector(cfg, New(cfg, api), nil)
	clock := histEnd
	col.now = func() time.Time { return clock }
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(col)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	began := time.Now()
	if err := col.Refresh(ctx); err != nil {
		t.Fatalf("first refresh: %v", err)
	}
	n, m := tr.take()
	t.Logf("first refresh of month, quarter and year, current and previous: %d range and %d instant queries in %s",
		n, m, time.Since(began).Round(time.Millisecond))

	s := metrictest.Gather(t, reg)
	series := func(name, slo, span, p, which string) string {
		return fmt.Sprintf(`%s{period="%s",slo="%s",span="%s",which="%s"}`, name, p, slo, span, which)
	}
	const day = 24 * 60.0
	for _, w := range []struct {
		series string
		want   float64
	}{
		{series("sla_availability_ratio", "web", "month", "2025-10", "previous"), 1 - 10/(7*day)},
		{series("sla_error_budget_remaining_ratio", "web", "month", "2025-10", "previous"), 1 - 10/((1-objective)*31*day)},
		{series("sla_downtime_seconds", "web", "month", "2025-10", "previous"), 600},
		{series("sla_downtime_seconds", "web", "month", "2025-11", "current"), 420},
		{series("sla_maintenance_downtime_seconds", "web", "month", "2025-11", "current"), 1800},
		{series("sla_unmeasured_seconds", "web", "month", "2025-11", "current"), 55 * 60},
		{series("sla_availability_ratio", "web", "month", "2025-11", "current"), 1 - 7/(4*day-55-60)},
		{series("sla_downtime_seconds", "web", "quarter", "2025-Q4", "current"), 17 * 60},
		{series("sla_downtime_seconds", "web", "year", "2025", "current"), 17 * 60},
		// Nothing was measured in the third quarter nor in 2024: no
		// availability (below), all of it unmeasured.
		{series("sla_unmeasured_seconds", "web", "year", "2024", "previous"), 366 * day * 60},
		{series("sla_availability_ratio", "booking_requests", "month", "2025-10", "previous"), 403000.0 / 403100},
		{`sla_objective_ratio{slo="web"}`, objective},
		{`sla_objective_ratio{slo="booking_requests"}`, 0.99},
		{`sla_period_elapsed_ratio{period="2025-11",span="month",which="current"}`, 4.0 / 30},
		{`sla_period_elapsed_ratio{period="2025-10",span="month",which="previous"}`, 1},
		{`sla_refresh_last_success_timestamp_seconds`, float64(histEnd.Unix())},
		{`sla_refresh_errors_total`, 0},
	} {
		if got := s.Get(t, w.series); !near(got, w.want) {
			t.Errorf("%s = %v, want %v", w.series, got, w.want)
		}
	}
	for _, absent := range []string{
		series("sla_availability_ratio", "web", "quarter", "2025-Q3", "previous"),
		series("sla_error_budget_remaining_ratio", "web", "quarter", "2025-Q3", "previous"),
		series("sla_availability_ratio", "booking_requests", "year", "2024", "previous"),
	} {
		if v, ok := s[absent]; ok {
			t.Errorf("%s = %v exported for a period with nothing measured", absent, v)
		}
	}
	for k := range s {
		if strings.Contains(k, "seconds{") && strings.Contains(k, `slo="booking_requests"`) {
			t.Errorf("%s: a requests SLO has no downtime", k)
		}
	}
	if problems, err := testutil.CollectAndLint(col); err != nil || len(problems) > 0 {
		t.Errorf("promlint: %v %v", problems, err)
	}

	// Five minutes later: the current periods only (previous ones are
	// final), their uptime from one range query, two instant queries
	// each for the requests SLO.
	clock = clock.Add(5 * time.Minute)
	if err := col.Refresh(ctx); err != nil {
		t.Fatalf("second refresh: %v", err)
	}
	if n, m := tr.take(); n != 1 || m != 6 {
		t.Errorf("second refresh: %d range and %d instant queries, want 1 and 6", n, m)
	}
	good := metrictest.Gather(t, reg)

	// Prometheus gone: the refresh fails, counted, and every figure
	// stays as it was, with the time of the last success.
	if err := prom.Stop(); err != nil {
		t.Fatalf("stopping prometheus: %v", err)
	}
	lastOK := clock
	clock = clock.Add(5 * time.Minute)
	if err := col.Refresh(ctx); err == nil {
		t.Fatalf("refresh with Prometheus stopped: no error")
	}
	after := metrictest.Gather(t, reg)
	figures := func(s metrictest.Sample) metrictest.Sample {
		out := metrictest.Sample{}
		for k, v := range s {
			if !strings.HasPrefix(k, "sla_refresh_") {
				out[k] = v
			}
		}
		return out
	}
	if !maps.Equal(figures(good), figures(after)) {
		t.Errorf("figures changed while Prometheus was down:\nbefore %v\nafter  %v", figures(good), figures(after))
	}
	if got := after.Get(t, "sla_refresh_errors_total"); got != 1 {
		t.Errorf("sla_refresh_errors_total = %v, want 1", got)
	}
	if got := after.Get(t, "sla_refresh_last_success_timestamp_seconds"); got != float64(lastOK.Unix()) {
		t.Errorf("last success %v, want %v", got, lastOK.Unix())
	}

	// Run refreshes at once, in the background, and stops with its context.
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { col.Run(runCtx); close(done) }()
	deadline := time.Now().Add(time.Minute)
	for metrictest.Gather(t, reg).Get(t, "sla_refresh_errors_total") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("Run made no refresh in a minute")
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("Run did not return when its context ended")
	}
}
