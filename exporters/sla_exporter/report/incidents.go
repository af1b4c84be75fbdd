package report

import (
	"context"
	"time"

	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/incidents"
	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/period"
)

// listIncidents reads escalator's incidents once for the whole report.
func listIncidents(ctx context.Context, src Sources) ([]incidents.Incident, Status) {
	var s Status
	if src.Incidents == nil {
		s.NotConfigured = true
		return nil, s
	}
	list, err := call(ctx, src, src.Incidents.Incidents)
	if err != nil {
		s.fail("reading escalator's incidents", err)
	}
	return list, s
}

// buildIncidents is the incident figures of the period.
func buildIncidents(list []incidents.Incident, st Status, p period.Period, now time.Time) IncidentsSection {
	s := IncidentsSection{Status: st}
	if st.OK() {
		s.Figures = incidents.Compute(list, p, now)
	}
	return s
}
