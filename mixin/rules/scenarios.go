package rules

import (
	"fmt"
	"math"
	"math/big"
	"time"
)

// Scenario tests: what the per-alert cases cannot show. Burn-rate alerts
// fire on the pair whose factor the burn exceeds and no other, and reset
// as soon as the short window is clean; ratio alerts ignore tiny traffic;
// the backup rules' tiers, kinds and absences (backup_scenarios.go); the
// PgBouncer rules' levels, waits and absences (pgbouncer_scenarios.go).

// sloEval is how often SLO scenarios evaluate rules: their windows are
// hours long, and every minute would make the test slow for nothing.
const sloEval = 5 * time.Minute

type scenario struct {
	file  string
	eval  time.Duration // 0: every minute
	deps  string        // an expression whose recording rules the file needs
	group TestGroup
}

func (g *gen) scenarios(set *Set) []scenario {
	var out []scenario
	for _, a := range set.Alerts {
		if a.def.multi == nil || a.Rule.Labels["burn_rate"] != g.s.BurnRates[0].Factor.PromQL() {
			continue // one set of scenarios per SLO, on its first rule
		}
		out = append(out, g.burnScenarios(set, a.Name, a.Rule.Labels["slo"])...)
	}
	out = append(out, g.tinyTraffic(set)...)
	out = append(out, g.stoppedStandby(set)...)
	out = append(out, g.backupScenarios(set)...)
	out = append(out, g.pgbouncerScenarios(set)...)
	return out
}

// stoppedStandby: a standby that stops answering takes its lag series
// with it. Its lag alerts must go on firing (the lag is unknown and
// growing), never resolve while it is down; a standby promoted to primary
// is not lagging.
func (g *gen) stoppedStandby(set *Set) []scenario {
	var out []scenario
	for _, a := range set.Alerts {
		if a.Name != "PostgresReplicationLagCritical" && a.Name != "PostgresReplicationLagHigh" {
			continue
		}
		ls := pghaLabels(g)
		const up, down = 10, 20 // minutes
		// The exporter answers without the standby's series: Prometheus
		// marks them stale at once.
		lag := fmt.Sprintf("0x%d stale", up)
		at := func(m int) alertTest {
			return alertTest{EvalTime: durString(time.Duration(m) * minute), Alertname: a.Name, ExpAlerts: []expAlert{{
				ExpLabels: merge(ls, a.Rule.Labels), ExpAnnotations: expand(a.Name, a.Rule.Annotations, ls, math.Inf(1))}}}
		}
		// Fires once the rule's for has passed after the standby went
		// silent, and still fires much later.
		first := up + int(math.Ceil(durationOf(a.Rule.For).Seconds()/60)) + 1
		firing := []alertTest{at(first), at(up + down - 1)}
		out = append(out, scenario{file: a.File, eval: minute, deps: a.Rule.Expr, group: TestGroup{
			Name:     fmt.Sprintf("%s: a standby that stops answering keeps it firing, never resolved while down", a.Name),
			Interval: "1m",
			InputSeries: []inputSeries{
				{series("pgha_standby_lag_seconds", ls), lag},
				{series("pgha_in_recovery", ls), fmt.Sprintf("1x%d stale", up)},
				{series("up", ls), fmt.Sprintf("1x%d", up+down)},
			},
			AlertTests: firing,
		}})
		out = append(out, scenario{file: a.File, eval: minute, deps: a.Rule.Expr, group: TestGroup{
			Name:     fmt.Sprintf("%s: a standby promoted to primary reports no lag and is not lagging", a.Name),
			Interval: "1m",
			InputSeries: []inputSeries{
				{series("pgha_standby_lag_seconds", ls), lag},
				{series("pgha_in_recovery", ls), fmt.Sprintf("1x%d 0x%d", up, down)},
				{series("up", ls), fmt.Sprintf("1x%d", up+down)},
			},
			AlertTests: []alertTest{{EvalTime: durString(time.Duration(up+down-1) * minute), Alertname: a.Name, ExpAlerts: []expAlert{}}},
		}})
	}
	return out
}

// burnScenarios: for each burn-rate pair, errors at 1.25× its factor (and
// under the next larger factor) fire that pair alone once its `for` has
// passed; errors at 0.9× the smallest factor fire nothing.
func (g *gen) burnScenarios(set *Set, alert, slo string) []scenario {
	budget, _ := g.budget(slo).Float64()
	rules := map[string]*AlertRule{}
	for _, a := range set.Alerts {
		if a.Name == alert {
			rules[a.Rule.Labels["burn_rate"]] = a
		}
	}
	series := appErrors
	if slo == "latency" {
		series = appLatency
	}
	// due are the alerts firing at a time into a constant burn.
	due := func(burn, ratio float64, at time.Duration) []expAlert {
		exp := []expAlert{}
		for _, o := range g.s.BurnRates {
			if o.Factor.Float() < burn && roundUp(sloEval+o.For.D(), sloEval) <= at {
				r := rules[o.Factor.PromQL()]
				exp = append(exp, expAlert{
					ExpLabels:      merge(appJob(g), r.Rule.Labels),
					ExpAnnotations: expand(alert, r.Rule.Annotations, appJob(g), ratio),
				})
			}
		}
		return exp
	}
	var out []scenario
	smallest := g.s.BurnRates[0].Factor.Float()
	for _, b := range g.s.BurnRates {
		smallest = min(smallest, b.Factor.Float())
	}
	for _, b := range g.s.BurnRates {
		f := b.Factor.Float()
		burn := 1.25 * f
		for _, o := range g.s.BurnRates { // stay under every larger factor
			if of := o.Factor.Float(); of > f && burn >= of {
				burn = (f + of) / 2
			}
		}
		ratio := burn * budget
		// Errors start with the series, so every window is over the limit
		// from the first evaluation that has two samples; the pair then
		// fires a `for` later (rounded to evaluations).
		fireAt := roundUp(sloEval+b.For.D(), sloEval) + sloEval
		// Every pair whose factor this burn exceeds fires too, each after
		// its own `for`; list those due by fireAt.
		exp := due(burn, ratio, fireAt)
		n := int(fireAt/minute) + 1
		out = append(out, scenario{file: "slo.yml", eval: sloEval, group: TestGroup{
			Name:        fmt.Sprintf("%s: a burn of %s× the budget fires the %s/%s pair (factor %s)", alert, num(burn), durString(b.Long.D()), durString(b.Short.D()), b.Factor.Raw),
			Interval:    "1m",
			InputSeries: series(g, []seg{{ratio, n}}, minute),
			AlertTests:  []alertTest{{EvalTime: durString(fireAt), Alertname: alert, ExpAlerts: exp}},
		}})
	}
	// Under every factor: silent for as long as the slowest pair's for
	// plus its short window.
	var longest time.Duration
	for _, b := range g.s.BurnRates {
		longest = max(longest, b.For.D()+b.Short.D())
	}
	quiet := roundUp(longest+10*minute, sloEval)
	out = append(out, scenario{file: "slo.yml", eval: sloEval, group: TestGroup{
		Name:        fmt.Sprintf("%s: a burn of 0.9× the smallest factor (%s) fires nothing", alert, num(smallest)),
		Interval:    "1m",
		InputSeries: series(g, []seg{{0.9 * smallest * budget, int(quiet/minute) + 1}}, minute),
		AlertTests:  []alertTest{{EvalTime: durString(quiet), Alertname: alert, ExpAlerts: []expAlert{}}},
	}})
	// A fast burn that stops: once the short windows hold no errors the
	// alert resolves, long before the long windows forget.
	fast := g.s.BurnRates[0]
	for _, b := range g.s.BurnRates {
		if b.Factor.Float() > fast.Factor.Float() {
			fast = b
		}
	}
	var maxShort time.Duration
	for _, b := range g.s.BurnRates {
		maxShort = max(maxShort, b.Short.D())
	}
	fastAt := roundUp(sloEval+fast.For.D(), sloEval) + sloEval
	on := int(fastAt/minute) + 1
	off := int(roundUp(time.Duration(on)*minute+maxShort+5*minute, sloEval)/minute) - on + 1
	// Twice the factor, or halfway to every request bad where the budget
	// is so large (a 95% latency objective) that twice would be over 100%.
	burn, _ := new(big.Rat).Mul(big.NewRat(2, 1), fast.Factor.Rat()).Float64()
	if burn*budget > 1 {
		burn = (fast.Factor.Float() + 1/budget) / 2
	}
	ratio := burn * budget
	out = append(out, scenario{file: "slo.yml", eval: sloEval, group: TestGroup{
		Name:        fmt.Sprintf("%s: a fast burn that stops resolves once the short windows are clean", alert),
		Interval:    "1m",
		InputSeries: series(g, []seg{{ratio, on}, {0, off}}, minute),
		AlertTests: []alertTest{
			{EvalTime: durString(fastAt), Alertname: alert, ExpAlerts: due(burn, ratio, fastAt)},
			{EvalTime: durString(time.Duration(on+off-1) * minute), Alertname: alert, ExpAlerts: []expAlert{}},
		},
	}})
	return out
}

// tinyTraffic: every request failing, at a tenth of the traffic guard,
// fires no ratio alert; HotelAppDown fires on a count of requests.
func (g *gen) tinyTraffic(set *Set) []scenario {
	rps := g.s.Traffic.MinRequestsPerSecond.Float() / 10
	var out []scenario
	for _, a := range set.Alerts {
		ls := g.mustLabels([]string{"app"}, map[string]string{"instance": "app-1:8080", "code": "500"})
		end := roundUp(15*minute+durationOf(a.Rule.For), minute)
		// The target answers its scrapes throughout: the rules' history
		// guard (fullWindow) is met, so silence is the traffic's doing.
		up := inputSeries{series("up", g.mustLabels([]string{"app"}, map[string]string{"instance": "app-1:8080"})), gaugeValues([]seg{{1, int(end/minute) + 1}}, minute, constant)}
		if a.Name == "HotelAppDown" {
			// system_down counts requests in its window, not a rate: every
			// request failing at night pages once the window holds
			// down_min_requests of them, and not below.
			min := g.s.Traffic.DownMinRequests.Float()
			window := a.def.window.Seconds()
			for _, c := range []struct {
				share float64
				exp   []expAlert
			}{{1.5, []expAlert{g.expected(a, 1)}}, {0.5, []expAlert{}}} {
				perSec := c.share * min / window
				verdict := "fires"
				if len(c.exp) == 0 {
					verdict = "stays silent"
				}
				out = append(out, scenario{file: a.File, eval: minute, deps: a.Rule.Expr, group: TestGroup{
					Name:     fmt.Sprintf("%s: every request failing at %s requests a second (%s in its window, guard %s) %s", a.Name, num(perSec), num(c.share*min), num(min), verdict),
					Interval: "1m",
					InputSeries: []inputSeries{{series("http_requests_total", ls),
						counterValues([]seg{{1, int(end/minute) + 1}}, func(float64) float64 { return perSec * 60 })}, up},
					AlertTests: []alertTest{{EvalTime: durString(end), Alertname: a.Name, ExpAlerts: c.exp}},
				}})
			}
			continue
		}
		switch a.Name {
		case "HotelAppErrorRateCritical", "HotelAppErrorRateHigh":
		default:
			continue
		}
		out = append(out, scenario{file: a.File, eval: minute, deps: a.Rule.Expr, group: TestGroup{
			Name:     fmt.Sprintf("%s: every request failing at %s requests a second (under the guard of %s) stays silent", a.Name, num(rps), g.minRPS()),
			Interval: "1m",
			InputSeries: []inputSeries{{series("http_requests_total", ls),
				counterValues([]seg{{1, int(end/minute) + 1}}, func(float64) float64 { return rps * 60 })}, up},
			AlertTests: []alertTest{{EvalTime: durString(end), Alertname: a.Name, ExpAlerts: []expAlert{}}},
		}})
	}
	return out
}
