package report

import (
	"context"
	"time"

	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/period"
	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/sla"
)

// buildSLA is each SLO's achievement over the period.
func buildSLA(ctx context.Context, src Sources, p period.Period, now time.Time) SLASection {
	var s SLASection
	if src.SLA == nil {
		s.NotConfigured = true
		return s
	}
	res, err := call(ctx, src, func(ctx context.Context) ([]sla.Result, error) { return src.SLA.Compute(ctx, p, now) })
	if err != nil {
		s.fail("computing the SLA", err)
		return s
	}
	s.Results = res
	return s
}
