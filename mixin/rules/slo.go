package rules

import (
	"fmt"
	"math/big"
	"sort"
	"time"

	"github.com/hotel-ops/hotel-ops/mixin/spec"
)

// SLO rules: the error ratio of each SLO over every window a burn-rate
// pair uses and over the SLO's own window, the error budget left, and one
// multi-window multi-burn-rate alert per burn-rate pair.

// sloWindows are the windows recorded: both of every pair, and the SLO's.
func (g *gen) sloWindows(slo string) []string {
	seen := map[time.Duration]bool{g.s.SLOs[slo].Window.D(): true}
	for _, b := range g.s.BurnRates {
		seen[b.Long.D()], seen[b.Short.D()] = true, true
	}
	var ds []time.Duration
	for d := range seen {
		ds = append(ds, d)
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	var out []string
	for _, d := range ds {
		out = append(out, durString(d))
	}
	return out
}

// sliError is the SLO's bad-event ratio over a window.
func (g *gen) sliError(slo, window string) string {
	if slo == "latency" {
		return g.slowRatio(g.s.SLOs["latency"].Threshold, window)
	}
	return fmt.Sprintf(`sum by (job) (rate(http_requests_total%s[%s])) / sum by (job) (rate(http_requests_total%s[%s]))`,
		g.sel("app", `code=~"5.."`), window, g.sel("app"), window)
}

// budget is 1 − objective, exactly.
func (g *gen) budget(slo string) *big.Rat {
	return g.s.SLOs[slo].Budget()
}

// SLOErrorRecord names the recorded error ratio of a window.
func SLOErrorRecord(window string) string { return "slo:sli_error:ratio_rate" + window }

func sloRecording(g *gen) []Rule {
	var out []Rule
	for _, slo := range sortedSLOs(g.s) {
		for _, w := range g.sloWindows(slo) {
			out = append(out, Rule{Record: SLOErrorRecord(w), Expr: g.sliError(slo, w), Labels: map[string]string{"slo": slo}})
		}
		win := durString(g.s.SLOs[slo].Window.D())
		out = append(out, Rule{
			Record: "slo:error_budget_remaining:ratio",
			Expr:   fmt.Sprintf(`1 - %s{slo="%s"} / %s`, SLOErrorRecord(win), slo, spec.Decimal(g.budget(slo))),
			Labels: map[string]string{"slo": slo},
		})
	}
	return out
}

func sortedSLOs(s *spec.Spec) []string {
	var out []string
	for k := range s.SLOs {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// burnAlerts is one rule per burn-rate pair: both windows' error ratios
// above factor × budget, with enough traffic to mean it.
func burnAlerts(g *gen, name string, a spec.Alert) []*AlertRule {
	var out []*AlertRule
	for _, b := range g.s.BurnRates {
		limit := new(big.Rat).Mul(b.Factor.Rat(), g.budget(a.SLO))
		lim := spec.Decimal(limit)
		labels := map[string]string{"severity": b.Severity, "team": a.Team, "category": a.Category, "slo": a.SLO,
			"long_window": durString(b.Long.D()), "short_window": durString(b.Short.D()), "burn_rate": b.Factor.PromQL()}
		for k, v := range a.Labels {
			labels[k] = v
		}
		r := Rule{
			Alert: name,
			Expr: fmt.Sprintf(`%s{slo="%s"} > %s and %s{slo="%s"} > %s %s`,
				SLOErrorRecord(durString(b.Long.D())), a.SLO, lim, SLOErrorRecord(durString(b.Short.D())), a.SLO, lim, g.rawTrafficGuard(durString(b.Short.D()))),
			For:    durString(b.For.D()),
			Labels: labels,
			Annotations: map[string]string{
				"summary": a.Summary,
				"description": fmt.Sprintf("The %s SLO (%s over %s) loses error budget %s times faster than it can afford: over %s and %s, {{ $value | humanizePercentage }} of requests were bad (limit %s). At this rate a %s budget lasts %s. Spec: %s.",
					a.SLO, g.s.SLOs[a.SLO].Objective.Raw, g.s.SLOs[a.SLO].Window.Raw, b.Factor.Raw, durString(b.Long.D()), durString(b.Short.D()), lim,
					g.s.SLOs[a.SLO].Window.Raw, durString(time.Duration(float64(g.s.SLOs[a.SLO].Window.D())/b.Factor.Float())), a.Section),
				"runbook_url":   RunbookURL(g.s, name),
				"dashboard_url": g.dashURL(DashSLA),
			},
		}
		out = append(out, &AlertRule{Name: name, Rule: r, def: catalog[name]})
	}
	return out
}

// rawTrafficGuard is trafficGuard without the recording rule of another
// file: rule groups run independently, so within one file the guard never
// reads a value recorded an evaluation earlier than the ratios it guards.
// It averages traffic over the burn rate's short window: a slow burn's
// `for` of hours must not restart each time traffic dips for a few
// minutes (a 5-minute guard did, and the 1× ticket never fired).
func (g *gen) rawTrafficGuard(window string) string {
	return fmt.Sprintf(`and on (job) sum by (job) (rate(http_requests_total%s[%s])) > %s`, g.sel("app"), window, g.minRPS())
}

func (g *gen) dashURL(uid string) string { return trimSlash(g.s.Links.Grafana) + "/d/" + uid }

func init() {
	register(map[string]*def{
		"SLOAvailabilityBudgetBurn": {multi: burnAlerts, dashboard: DashSLA},
		"SLOLatencyBudgetBurn":      {multi: burnAlerts, dashboard: DashSLA},
	})
}
