package rules

import (
	"fmt"
	"math"
	"time"

	"github.com/hotel-ops/hotel-ops/mixin/spec"
)

// Reliability rules: MTTR and MTBF over the spec's window, from the
// incidents escalator opens and resolves.

func reliabilityRecording(g *gen) []Rule {
	w := durString(g.s.Reliability.Window.D())
	esc := g.sel("escalator")
	return []Rule{
		{Record: "hotelops:incident_mttr_seconds:" + w, Expr: fmt.Sprintf(
			`sum(increase(escalator_incident_resolution_seconds_sum%s[%s])) / sum(increase(escalator_incident_resolution_seconds_count%s[%s]))`, esc, w, esc, w)},
		// Critical incidents are the failures; no failure in the window
		// divides by zero, +Inf, which no alert fires on.
		{Record: "hotelops:incident_mtbf_seconds:" + w, Expr: fmt.Sprintf(
			`%s / round(sum(increase(escalator_incident_resolution_seconds_count%s[%s])))`, num(g.s.Reliability.Window.D().Seconds()), g.sel("escalator", `severity="critical"`), w)},
	}
}

func escLabels(g *gen) map[string]string {
	return g.mustLabels([]string{"escalator"}, map[string]string{"instance": "escalator-1:9096"})
}

func init() {
	// MTTR: one incident resolved per step, each taking the value.
	mttrFx := fixture{labels: func(*gen) map[string]string { return map[string]string{} }, okBad: higherIsWorse, earliest: time.Hour, warmup: time.Hour, step: time.Hour,
		series: func(g *gen, segs []seg, step time.Duration) []inputSeries {
			ls := merge(escLabels(g), map[string]string{"severity": "critical"})
			return []inputSeries{
				{series("escalator_incident_resolution_seconds_sum", ls), counterValues(segs, func(v float64) float64 { return v })},
				{series("escalator_incident_resolution_seconds_count", ls), counterValues(segs, func(float64) float64 { return 1 })},
			}
		}}
	// MTBF: incidents at the rate that makes the window/count the value;
	// exact once a whole window of samples is in.
	// Incidents are whole: increase() extrapolates one incident in the
	// window to a little more than one, which the recording rule rounds
	// back, so exactly the most incidents the target allows stays silent
	// and one more fires.
	mtbfOkBad := func(g *gen, v spec.Value) (float64, float64) {
		w := g.s.Reliability.Window.D().Seconds()
		n := math.Max(1, math.Floor(w/v.Float()))
		return w / n, w / (n + 1)
	}
	mtbfFx := fixture{labels: func(*gen) map[string]string { return map[string]string{} }, okBad: mtbfOkBad, step: time.Hour, earliest: time.Hour, warmup: time.Hour, warmupWindow: true,
		series: func(g *gen, segs []seg, step time.Duration) []inputSeries {
			ls := merge(escLabels(g), map[string]string{"severity": "critical"})
			perStep := func(v float64) float64 { return step.Seconds() / v }
			return []inputSeries{{series("escalator_incident_resolution_seconds_count", ls), counterValues(segs, perStep)}}
		}}
	register(map[string]*def{
		"MTTRAboveTarget": {
			expr: func(g *gen, v spec.Value) string {
				return fmt.Sprintf(`hotelops:incident_mttr_seconds:%s > %s`, durString(g.s.Reliability.Window.D()), v.PromQL())
			},
			fx: mttrFx, dashboard: DashSLA,
			describe: "Incidents took {{ $value | humanizeDuration }} on average to resolve over the window; the target is THRESHOLD."},
		"MTBFBelowTarget": {
			expr: func(g *gen, v spec.Value) string {
				return fmt.Sprintf(`hotelops:incident_mtbf_seconds:%s < %s`, durString(g.s.Reliability.Window.D()), v.PromQL())
			},
			fx: mtbfFx, dashboard: DashSLA,
			describe: "Critical incidents came more often than one every THRESHOLD over the window."},
	})
}
