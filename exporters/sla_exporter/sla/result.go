// Package sla computes each SLO per calendar period from Prometheus:
// availability (uptime or good requests), error budget remaining and
// minutes of downtime, with planned maintenance counted or not.
package sla

import (
	"time"

	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/period"
)

// Result is one SLO over one period, as far as the period has elapsed.
type Result struct {
	SLO       string  // the SLO's name
	Kind      string  // uptime or requests
	Objective float64 // e.g. 0.9999
	Period    period.Period
	// Elapsed is the part of the period before the computation's "now".
	Elapsed time.Duration
	// Ratio is the availability (uptime SLOs: up time over measured time
	// outside excluded maintenance) or the good share of requests.
	Ratio float64
	// BudgetRemaining is the share of the whole period's error budget not
	// yet spent: 1 untouched, 0 spent, below 0 the SLA is missed.
	BudgetRemaining float64
	// Uptime SLOs: time down (counted against the SLA), down inside
	// planned maintenance (not counted unless configured so), and with
	// no measurement at all.
	Down, MaintenanceDown, Maintenance, Unmeasured time.Duration
	// Measured is the elapsed time with a reading (up or down), in
	// maintenance or not; Excluded is the part of it inside planned
	// maintenance left out of the ratio (0 when maintenance counts).
	Measured, Excluded time.Duration
	// PlannedMaintenance is the planned maintenance in the whole period,
	// elapsed or not: the error budget is taken of the rest (unless
	// maintenance counts as downtime).
	PlannedMaintenance time.Duration
	// Requests SLOs: the good and total increases over the period.
	Good, Total float64
}

// NoData reports that nothing was measured in the elapsed part (the up
// expression never had a value; no request was counted): the ratio is
// then no figure at all, and must not read as 100 %.
func (r Result) NoData() bool {
	if r.Kind == "uptime" {
		return r.Measured <= 0
	}
	return r.Total <= 0
}

// Coverage is the share of the elapsed part that was measured (uptime
// SLOs; 1 for requests SLOs with any request).
func (r Result) Coverage() float64 {
	if r.Kind != "uptime" {
		if r.NoData() {
			return 0
		}
		return 1
	}
	if r.Elapsed <= 0 {
		return 0
	}
	return r.Measured.Seconds() / r.Elapsed.Seconds()
}

// Met reports whether the objective holds over the elapsed part; never
// when nothing was measured.
func (r Result) Met() bool { return !r.NoData() && r.Ratio >= r.Objective }
