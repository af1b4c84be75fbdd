package report

import (
	"context"
	"time"

	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/incidents"
	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/period"
	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/sla"
)

// The SLA and incident sources of the tests return fixed values. They
// are interfaces of this package, not outside servers: sla.Computer is
// tested against Prometheus in package sla, and the incident client
// against a real escalator in package incidents. Here they only have to
// hand the report known figures.

type fixedSLA struct{ err error }

func (f fixedSLA) Compute(_ context.Context, p period.Period, now time.Time) ([]sla.Result, error) {
	if f.err != nil {
		return nil, f.err
	}
	return []sla.Result{
		{SLO: "api_uptime", Kind: "uptime", Objective: 0.9999, Period: p, Elapsed: p.Elapsed(now),
			Ratio: 0.99995, BudgetRemaining: 0.5, Down: 2*time.Minute + 10*time.Second, MaintenanceDown: 40 * time.Minute},
		{SLO: "api_requests", Kind: "requests", Objective: 0.99, Period: p, Elapsed: p.Elapsed(now),
			Ratio: 0.9899, BudgetRemaining: -0.01, Good: 989900, Total: 1000000},
	}, nil
}

type fixedIncidents struct{ list []incidents.Incident }

func (f fixedIncidents) Incidents(context.Context) ([]incidents.Incident, error) { return f.list, nil }

// hostile is an alert name that would run script if it reached the page
// unescaped.
const hostile = `<img src=x onerror="document.title='pwned'">`

// someIncidents are incidents around p: six opened in it (one of them
// still open, two security ones, two fixed by an action alone), one
// before it and one after.
func someIncidents(p period.Period) []incidents.Incident {
	at := func(days, hours float64) time.Time {
		return p.Start.Add(time.Duration((days*24 + hours) * float64(time.Hour)))
	}
	return []incidents.Incident{
		{ID: "0", Alertname: "Before", Severity: "critical", Category: "availability", OpenedAt: at(-1, 0), ResolvedAt: at(0, 2)},
		{ID: "1", Alertname: "APIDown", Severity: "critical", Category: "availability", OpenedAt: at(1, 3), ResolvedAt: at(1, 4.5)},
		{ID: "2", Alertname: "HighLatencyP95", Severity: "warning", Category: "latency", OpenedAt: at(2, 10), ResolvedAt: at(2, 10.25), Automated: true},
		{ID: "3", Alertname: "LoginBruteForce", Severity: "critical", Category: "security", OpenedAt: at(3, 1), ResolvedAt: at(3, 7), AckedAt: at(3, 1.1), AckedBy: "tanaka"},
		{ID: "4", Alertname: hostile, Severity: "warning", Category: "security", OpenedAt: at(4, 0), ResolvedAt: at(4, 0.5), Automated: true},
		{ID: "5", Alertname: "CacheHitRateLow", Severity: "info", Category: "cache", OpenedAt: at(5, 12), ResolvedAt: at(5, 13), Automated: true, AckedAt: at(5, 12.5)},
		{ID: "6", Alertname: "DiskFillingUp", Severity: "warning", Category: "capacity", OpenedAt: at(6, 20)},
		{ID: "7", Alertname: "After", Severity: "critical", Category: "availability", OpenedAt: p.End.Add(time.Hour)},
	}
}
