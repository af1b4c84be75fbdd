package dashboards

//lint:file-ignore SA1019 The v1 dashboard model is what every Grafana imports; dashboardv2 needs Grafana 12 with a feature flag.

import (
	"fmt"
	"strings"
	"time"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"

	"github.com/hotel-ops/hotel-ops/mixin/rules"
	"github.com/hotel-ops/hotel-ops/mixin/spec"
)

// sla is the SLA dashboard (運用目標 / SLA目標): each SLO over its own
// window, the SLA per calendar period as sla_exporter reports it, how
// fast the error budget burns, and MTTR and MTBF against their targets.
func sla(s *spec.Spec) *dashboard.DashboardBuilder {
	slos := spec.SortedKeys(s.SLOs)
	var sections []string
	for _, name := range slos {
		sections = append(sections, s.SLOs[name].Section)
	}
	b := newBoard(s, rules.DashSLA, "Hotel Ops / SLA",
		"SLO attainment, error budget, burn rate, MTTR and MTBF against the threshold spec ("+s.Source+"): "+strings.Join(sections, "; ")+".",
		"now-7d")

	// Each SLO over its own window, green from its objective.
	var sli []query
	attained := statPanel("SLI over the SLO window", "percentunit", 12)
	for _, name := range slos {
		o := s.SLOs[name]
		sli = append(sli, q(fmt.Sprintf(`1 - %s`, sliError(name, o.Window.D())), name))
		attained.OverrideByName(name, thresholdsOverride(atLeast(o.Objective)))
	}
	attained.Targets(targets(sli, false)).
		Height(graphHeight).
		Decimals(3).
		Description(describeSLOs(s, slos))

	b = b.WithRow(row("Objectives")).
		WithPanel(attained).
		WithPanel(gaugePanel("Error budget remaining", "percentunit", 12, q(`slo:error_budget_remaining:ratio`, "{{slo}}")).
			Thresholds(budgetLeft()).
			Min(0).Max(1).
			Description("Share of each SLO's error budget left over its window; below 0 the SLO is missed.")).
		WithRow(row("SLA per calendar period (sla_exporter)")).
		WithPanel(slaTable(s))

	b = b.WithRow(row("Burn rate"))
	longs := longWindows(s)
	for _, w := range longs {
		b = b.WithPanel(burnPanel(s, slos, w, span(len(longs))))
	}

	rel := s.Reliability
	w := window(rel.Window.D())
	return b.WithRow(row("Reliability")).
		WithPanel(statPanel("MTTR", "s", 8, q("hotelops:incident_mttr_seconds:"+w, "MTTR")).
			Thresholds(above(rel.MTTR)).
			Description(fmt.Sprintf("Mean time to resolve an incident over %s; target within %s. Spec: %s.", w, rel.MTTR.Human(), rel.Section))).
		WithPanel(statPanel("MTBF", "s", 8, q("hotelops:incident_mtbf_seconds:"+w, "MTBF")).
			Thresholds(atLeast(rel.MTBF)).
			Description(fmt.Sprintf("Mean time between critical incidents over %s; target at least %s (∞ without any). Spec: %s.", w, rel.MTBF.Human(), rel.Section))).
		WithPanel(statPanel("Automation rate", "percentunit", 8,
			q(fmt.Sprintf(`sla_automation_ratio%s`, sel(s, "sla", `span="month"`)), "{{which}} month ({{period}})")).
			Description("Share of the calendar month's resolved incidents that an auto-recovery action fixed with nobody acknowledging them (sla_automation_ratio, from escalator's incidents). Spec: 月次レポート / 運用効率分析 / 自動化率向上."))
}

func describeSLOs(s *spec.Spec, slos []string) string {
	var parts []string
	for _, name := range slos {
		o := s.SLOs[name]
		parts = append(parts, fmt.Sprintf("%s: objective %s over %s (%s)", name, o.Objective.Human(), window(o.Window.D()), o.Section))
	}
	return "Good share of requests over each SLO's window. " + strings.Join(parts, "; ") + "."
}

// budgetLeft is red once a budget is spent: the spec sets no warning
// level for the budget, only the objective that makes it.
func budgetLeft() *dashboard.ThresholdsConfigBuilder {
	return steps("red", step{0, "green"})
}

// slaTable is the SLA of each SLO per calendar period, as sla_exporter
// computes it for reports: one row per SLO and period, the two figures
// joined on their labels.
func slaTable(s *spec.Spec) *table.PanelBuilder {
	src := sel(s, "sla")
	organize := dashboard.DataTransformerConfig{Id: "organize", Options: map[string]any{
		"excludeByName": map[string]any{"Time": true, "__name__": true, "job": true, "instance": true, "which": true},
		"indexByName":   map[string]any{"slo": 0, "span": 1, "period": 2, "Value #A": 3, "Value #B": 4, "Value #C": 5},
		"renameByName": map[string]any{"slo": "SLO", "span": "Span", "period": "Period", "Value #A": "Availability",
			"Value #B": "Error budget remaining", "Value #C": "Downtime"},
	}}
	colour := dashboard.DynamicConfigValue{Id: "custom.cellOptions", Value: map[string]any{"type": "color-text"}}
	return tablePanel("SLA per period", "percentunit", 24,
		q("sla_availability_ratio"+src, ""),
		q("sla_error_budget_remaining_ratio"+src, ""),
		q("sla_downtime_seconds"+src, "")).
		WithTransformation(organize).
		OverrideByName("Error budget remaining", append(thresholdsOverride(budgetLeft()), colour)).
		OverrideByName("Downtime", []dashboard.DynamicConfigValue{{Id: "unit", Value: "s"}, {Id: "decimals", Value: 0}}).
		Decimals(3).
		Description("Availability, error budget left and downtime per SLO and calendar period in the spec's time zone, current and previous month, quarter and year (sla_availability_ratio, sla_error_budget_remaining_ratio, sla_downtime_seconds: uptime SLOs only; planned maintenance is not counted unless sla_exporter is configured so). The figures an SLA report quotes.")
}

// burnPanel is how fast each SLO spends its budget over one long window
// of the burn-rate pairs, with the factors the alerts of that window
// fire above: 1× spends the budget exactly over the SLO window.
func burnPanel(s *spec.Spec, slos []string, long time.Duration, width uint32) *timeseries.PanelBuilder {
	var qs []query
	for _, name := range slos {
		qs = append(qs, q(fmt.Sprintf(`%s / %s`, sliError(name, long), budget(s.SLOs[name])), name))
	}
	var at []step
	var pairs []string
	for _, br := range s.BurnRates {
		if br.Long.D() != long {
			continue
		}
		colour := "yellow"
		if br.Severity == "critical" {
			colour = "red"
		}
		at = append(at, step{br.Factor.Float(), colour})
		pairs = append(pairs, fmt.Sprintf("%s when the %s and %s rates both exceed %s×", br.Severity, window(long), window(br.Short.D()), br.Factor.Human()))
	}
	return lines(timeSeries("Burn rate over "+window(long), "suffix:×", width, qs...)).
		Thresholds(steps("green", at...)).
		Description(fmt.Sprintf("Error ratio over %s divided by each SLO's error budget (1 − objective). Burn-rate alerts: %s.", window(long), strings.Join(pairs, "; ")))
}

// longWindows are the burn-rate pairs' long windows, in the spec's order.
func longWindows(s *spec.Spec) []time.Duration {
	var out []time.Duration
	seen := map[time.Duration]bool{}
	for _, br := range s.BurnRates {
		if d := br.Long.D(); !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}
