package alertmanager

import "github.com/hotel-ops/hotel-ops/mixin/spec"

// timeIntervals turns each maintenance window into a named time interval
// in the spec's time zone (the team's, which the windows are written
// in), in the spec's order.
func timeIntervals(s *spec.Spec) []timeInterval {
	var out []timeInterval
	for _, w := range s.Maintenance {
		ti := timeInterval{Name: w.Name}
		for _, t := range w.Times {
			ti.TimeIntervals = append(ti.TimeIntervals, timeSpec{
				Times:       []timeRange{{StartTime: t.Start, EndTime: t.End}},
				Weekdays:    t.Weekdays,
				DaysOfMonth: t.DaysOfMonth,
				Months:      t.Months,
				Location:    s.Timezone,
			})
		}
		out = append(out, ti)
	}
	return out
}
