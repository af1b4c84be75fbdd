package sla

import (
	"time"

	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/config"
)

// inMaintenance reports whether t falls in one of the planned windows.
// The time is passed in UTC, as Alertmanager passes it: a window written
// without a location is then UTC here too, so the same time_intervals
// mean the same minutes to the generated alertmanager.yml and to the SLA.
func inMaintenance(m config.Maintenance, t time.Time) bool {
	t = t.UTC()
	for _, named := range m.TimeIntervals {
		for _, ti := range named.TimeIntervals {
			if ti.ContainsTime(t) {
				return true
			}
		}
	}
	return false
}
