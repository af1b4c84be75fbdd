package incidents

import (
	"math"
	"sort"
	"time"

	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/period"
)

// Critical is the severity whose incidents count as failures for the MTBF:
// the spec's 720 hours are between critical failures, not warnings.
const Critical = "critical"

// Compute is the figures of the incidents opened in p, as known at now: an
// incident counts in the period it was opened in (one opened before p and
// resolved inside it belongs to the period before), and one opened or
// resolved after now is not known yet, so that a report computed for a
// past instant says what it would have said then.
func Compute(list []Incident, p period.Period, now time.Time) Figures {
	f := Figures{Period: p, BySeverity: map[string]int{}, ByCategory: map[string]int{}}
	// The repairs are summed as floats: durations from a broken clock
	// (years apart) would overflow a sum of time.Durations, while their
	// mean cannot exceed the longest.
	var repair float64
	for _, inc := range list {
		if !p.Contains(inc.OpenedAt) || inc.OpenedAt.After(now) {
			continue
		}
		f.Count++
		f.BySeverity[inc.Severity]++
		f.ByCategory[inc.Category]++
		if inc.Severity == Critical {
			f.Critical++
		}
		f.Incidents = append(f.Incidents, inc)
		if !resolvedBy(inc, now) {
			continue
		}
		f.Resolved++
		// Escalator stamps both times itself, but a clock stepped back
		// could still order them wrongly: such an incident took no time.
		repair += float64(max(inc.ResolvedAt.Sub(inc.OpenedAt), 0))
		if Automated(inc) {
			f.Automated++
		}
	}
	if f.Resolved > 0 {
		f.MTTR = duration(repair / float64(f.Resolved))
		f.AutomationRate = float64(f.Automated) / float64(f.Resolved)
	}
	if f.Critical > 0 {
		f.MTBF = p.Elapsed(now) / time.Duration(f.Critical)
	}
	// Stable on ID, so that incidents opened in the same instant (one
	// delivery opens many) keep one order from refresh to refresh.
	sort.SliceStable(f.Incidents, func(i, j int) bool {
		a, b := f.Incidents[i], f.Incidents[j]
		if !a.OpenedAt.Equal(b.OpenedAt) {
			return a.OpenedAt.Before(b.OpenedAt)
		}
		return a.ID < b.ID
	})
	return f
}

// duration converts nanoseconds, saturating: float64(math.MaxInt64) is
// 2^63, one past what a Duration holds.
func duration(ns float64) time.Duration {
	if ns >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(math.Round(ns))
}

// resolvedBy reports whether inc was resolved at or before now. Escalator
// clears ResolvedAt when an incident reopens, so a set one is current.
func resolvedBy(inc Incident, now time.Time) bool {
	return !inc.ResolvedAt.IsZero() && !inc.ResolvedAt.After(now)
}

// Automated is the spec's automation: an auto-recovery action fixed the
// incident and no person acknowledged it. The same definition as
// escalator's escalator_incidents_resolved_total{automated="true"}.
func Automated(inc Incident) bool { return inc.Automated && inc.AckedAt.IsZero() }
