package sla

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotel-ops/hotel-ops/internal/descset"
)

var descs = descset.New("sla")

// Descriptors returns the descriptors of the SLA figures, for the mixin's
// check that every metric a rule or dashboard uses has a producer.
func Descriptors() []*prometheus.Desc { return descs.All() }

// The labels of a period's figures: span is week, month, quarter or year;
// period its name (2026-11, 2026-Q4, ...); which is "current" or
// "previous", so that a rule selects the running month without knowing
// its name.
var periodLabels = []string{"slo", "span", "period", "which"}

var (
	availabilityDesc = descs.Desc("availability_ratio",
		"Availability over the elapsed part of the period: uptime SLOs 1 − down / (measured − excluded maintenance), requests SLOs good / total; 1 when nothing was measured or requested.",
		periodLabels...)
	budgetDesc = descs.Desc("error_budget_remaining_ratio",
		"Share of the whole period's error budget not yet spent: 1 untouched, 0 spent, below 0 the SLA is missed.",
		periodLabels...)
	objectiveDesc = descs.Desc("objective_ratio", "The SLO's objective, e.g. 0.9999.", "slo")
	downtimeDesc  = descs.Desc("downtime_seconds",
		"Downtime counted against the SLA over the elapsed part of the period (uptime SLOs): outside planned maintenance, and inside it too when maintenance counts.",
		periodLabels...)
	maintenanceDownDesc = descs.Desc("maintenance_downtime_seconds",
		"Downtime inside planned maintenance windows over the elapsed part of the period (uptime SLOs), counted against the SLA or not.",
		periodLabels...)
	unmeasuredDesc = descs.Desc("unmeasured_seconds",
		"Time of the elapsed part of the period for which the uptime expression had no value (uptime SLOs).",
		periodLabels...)
	elapsedDesc = descs.Desc("period_elapsed_ratio",
		"Share of the period elapsed: 1 for a finished period.",
		"span", "period", "which")

	lastSuccessDesc = descs.Desc("refresh_last_success_timestamp_seconds",
		"When the SLA figures were last refreshed without error; 0 before the first success.")
	refreshErrorsDesc = descs.Desc("refresh_errors_total",
		"Refreshes of the SLA figures that failed in part or whole; the figures of a failed period are the last good ones.")
	refreshDurationDesc = descs.Desc("refresh_duration_seconds", "How long the last refresh of the SLA figures took.")
)
