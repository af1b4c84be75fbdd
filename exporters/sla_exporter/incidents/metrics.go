package incidents

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotel-ops/hotel-ops/internal/descset"
)

var descs = descset.New("sla")

// Descriptors returns every metric descriptor of the incident figures, for
// the mixin's check that each metric a rule uses is produced.
func Descriptors() []*prometheus.Desc { return descs.All() }

// The labels of a period's figures: span (month), period (2026-11) and
// which (current or previous), so that a rule or panel can ask for "last
// month" without knowing its name.
var periodLabels = []string{"span", "period", "which"}

var (
	incidentsDesc = descs.Desc("incidents",
		"Incidents opened in the period, by the alert's severity and category labels.",
		"span", "period", "which", "severity", "category")
	mttrDesc = descs.Desc("incident_mttr_seconds",
		"Mean time from opening to resolution of the incidents opened in the period and resolved (MTTR); absent when none is resolved.",
		periodLabels...)
	mtbfDesc = descs.Desc("incident_mtbf_seconds",
		"Elapsed part of the period over the critical incidents opened in it (MTBF); absent when there was none.",
		periodLabels...)
	automationDesc = descs.Desc("automation_ratio",
		"Share of the period's resolved incidents that an auto-recovery action fixed with nobody acknowledging them; absent when none is resolved.",
		periodLabels...)
	automatedDesc = descs.Desc("incidents_automated",
		"Incidents opened in the period and resolved that an auto-recovery action fixed with nobody acknowledging them.",
		periodLabels...)
	resolvedDesc = descs.Desc("incidents_resolved",
		"Incidents opened in the period and resolved: the automation ratio's denominator.",
		periodLabels...)

	upDesc = descs.Desc("escalator_up",
		"Whether the last read of escalator's incidents succeeded (1) or not (0); the figures are from the last success.")
	lastSuccessDesc = descs.Desc("escalator_last_success_timestamp_seconds",
		"When escalator's incidents were last read successfully; 0 before the first success.")
	durationDesc = descs.Desc("escalator_refresh_duration_seconds",
		"How long the last read of escalator's incidents took.")
	errorsDesc = descs.Desc("escalator_refresh_errors_total",
		"Failed reads of escalator's incidents.")
)
