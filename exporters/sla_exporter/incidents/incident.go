// Package incidents reads escalator's incidents and computes the figures
// the spec's reports quote per period: count by severity and category,
// MTTR, MTBF and the automation rate.
package incidents

import (
	"time"

	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/period"
)

// Incident is what the figures need of one escalator incident.
type Incident struct {
	ID        string
	Alertname string
	Severity  string
	Category  string
	Summary   string
	Status    string // open, acknowledged, resolved
	OpenedAt  time.Time
	AckedAt   time.Time // zero: never acknowledged by a person
	AckedBy   string
	// ResolvedAt is zero while the incident is open.
	ResolvedAt time.Time
	// ClosedBy is who closed it when Alertmanager did not: "reconciler",
	// or the person who resolved it by hand (from PagerDuty).
	ClosedBy string
	// Automated: an auto-recovery action succeeded for it.
	Automated bool
}

// Figures are one period's incident figures.
type Figures struct {
	Period     period.Period
	Count      int            // incidents opened in the period
	BySeverity map[string]int // opened, by severity label
	ByCategory map[string]int // opened, by category label
	Resolved   int            // opened in the period and resolved by now
	// MTTR is the mean time from opening to resolution of those resolved.
	MTTR time.Duration
	// Critical is how many of them had severity critical: the failures
	// the MTBF counts.
	Critical int
	// MTBF is the elapsed part of the period over the number of critical
	// incidents opened in it; zero when there were none (∞).
	MTBF time.Duration
	// Automated is how many resolved incidents an auto-recovery action
	// fixed with no person acknowledging them; AutomationRate is that
	// over Resolved (0 when none resolved).
	Automated      int
	AutomationRate float64
	// Incidents are those opened in the period, oldest first.
	Incidents []Incident
}
