package report

import (
	"context"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/incidents"
	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/period"
	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/sla"
)

// SLASource computes the SLOs over a period (sla.Computer).
type SLASource interface {
	Compute(ctx context.Context, p period.Period, now time.Time) ([]sla.Result, error)
}

// IncidentSource lists escalator's incidents (incidents.Client).
type IncidentSource interface {
	Incidents(ctx context.Context) ([]incidents.Incident, error)
}

// Sources are where a report's figures come from. Any of them may be nil
// (not configured): its sections then say so.
type Sources struct {
	SLA       SLASource
	Incidents IncidentSource
	// Prometheus answers the trends, forecasts and login failures.
	Prometheus v1.API
	// Timeout bounds each call to a source (default DefaultTimeout), so
	// that one that hangs costs its section, not the whole report.
	Timeout time.Duration
}

// DefaultTimeout is the default of Sources.Timeout.
const DefaultTimeout = time.Minute

func (s Sources) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return DefaultTimeout
}
