package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	slaconfig "github.com/hotel-ops/hotel-ops/exporters/sla_exporter/config"
	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/examples"
	"github.com/hotel-ops/hotel-ops/internal/suite"
)

// slaBusiness: sla_exporter, run with the shipped example configuration,
// gets the hotel application's bookings from the standby (replicated
// from the primary the application writes); the suite's Prometheus
// scrapes it as job sla. Its queries run at its start, once a booking has
// reached the standby, then every minute: the figures are there within a
// scrape.
func (s *stack) slaBusiness(t *testing.T) {
	start := time.Now()
	example, err := slaconfig.Parse("hotel.yml", examples.Hotel)
	if err != nil {
		t.Fatal(err)
	}
	sqlQueries := 0
	for _, q := range example.Queries {
		if q.Source() == "sql" {
			sqlQueries++
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s.waitSLA(ctx, t, "orders", `sla_orders_total{job="sla"} > 0`, nil)
	// Every SQL query of the example succeeds on the standby.
	s.waitSLA(ctx, t, "SQL queries", `sla_query_up{job="sla", source="sql"}`, func(v model.Vector) bool {
		for _, smp := range v {
			if smp.Value != 1 {
				return false
			}
		}
		return len(v) == sqlQueries
	})
	t.Logf("business figures in Prometheus %v after asking", time.Since(start).Round(time.Second))
}

// slaAvailability: the current month's SLA, computed from the suite's
// Prometheus. An SLO with nothing measured yet exports no availability,
// so none comes of sla_exporter's first refresh (at its start, just after
// Prometheus's); the next comes SLARefresh later. Run beside the first
// faults, which do not stop it.
func (s *stack) slaAvailability(t *testing.T) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 2*suite.SLARefresh+time.Minute)
	defer cancel()
	s.waitSLA(ctx, t, "month's availability", `sla_availability_ratio{job="sla", slo="availability", span="month", which="current"}`, nil)
	t.Logf("the month's availability in Prometheus %v after asking", time.Since(start).Round(time.Second))
}

func (s *stack) waitSLA(ctx context.Context, t *testing.T, what, expr string, ok func(model.Vector) bool) {
	t.Helper()
	if _, err := s.Prometheus.WaitForQuery(ctx, expr, ok); err != nil {
		t.Errorf("%s: %v\nsla_exporter's log:\n%s", what, err, s.Sla.Tail())
	}
}
