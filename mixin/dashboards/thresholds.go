package dashboards

import (
	"sort"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"

	"github.com/hotel-ops/hotel-ops/mixin/spec"
)

// Colour steps from the spec. A spec value is kept in base units (a
// ratio 0..1, seconds), which are exactly what Grafana's percentunit and
// s units display, so the step is the value and the unit follows it.

// unitOf is the Grafana unit that displays a spec value's base unit.
func unitOf(v spec.Value) string {
	switch v.Unit {
	case spec.Ratio:
		return "percentunit"
	case spec.Seconds:
		return "s"
	}
	return "short"
}

// step is one colour change at a value.
type step struct {
	at    float64
	color string
}

// steps builds absolute thresholds: base colour below the first step.
// Grafana needs the steps in ascending order.
func steps(base string, at ...step) *dashboard.ThresholdsConfigBuilder {
	sort.SliceStable(at, func(i, j int) bool { return at[i].at < at[j].at })
	out := []dashboard.Threshold{{Color: base}}
	for _, s := range at {
		out = append(out, dashboard.Threshold{Value: cog.ToPtr(s.at), Color: s.color})
	}
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(out)
}

// levels are the spec's levels of a figure where higher is worse: green,
// yellow from the warning level, red from the critical level. A level
// the spec leaves out adds no step.
func levels(t spec.Threshold) *dashboard.ThresholdsConfigBuilder {
	var at []step
	if !t.Warning.IsZero() {
		at = append(at, step{t.Warning.Float(), "yellow"})
	}
	if !t.Critical.IsZero() {
		at = append(at, step{t.Critical.Float(), "red"})
	}
	return steps("green", at...)
}

// above turns red from a single limit: a target the spec states without
// a warning level (an RPO, an MTTR).
func above(limit spec.Value) *dashboard.ThresholdsConfigBuilder {
	return steps("green", step{limit.Float(), "red"})
}

// atLeast is green from a target and red below it: an objective, an
// MTBF, a retention window.
func atLeast(target spec.Value) *dashboard.ThresholdsConfigBuilder {
	return steps("red", step{target.Float(), "green"})
}

// graded is a panel that can take a unit and thresholds: every panel
// builder of the SDK.
type graded[T any] interface {
	Unit(unit string) T
	Thresholds(thresholds cog.Builder[dashboard.ThresholdsConfig]) T
}

// against colours a panel by a spec threshold and sets the unit from the
// threshold's own, so a ratio is never compared in seconds.
func against[T graded[T]](p T, t spec.Threshold) T {
	v := t.Critical
	if v.IsZero() {
		v = t.Warning
	}
	return p.Unit(unitOf(v)).Thresholds(levels(t))
}

// lines draws a graph's thresholds as lines, so the level an alert fires
// at is visible on the graph that shows the signal.
func lines(p *timeseries.PanelBuilder) *timeseries.PanelBuilder {
	return p.ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeLine))
}

// thresholdsOverride gives the fields an override matches their own
// steps: one panel can show series held to different spec values.
func thresholdsOverride(th *dashboard.ThresholdsConfigBuilder) []dashboard.DynamicConfigValue {
	built, err := th.Build()
	if err != nil { // steps() always builds; keep the panel's own colours
		return nil
	}
	return []dashboard.DynamicConfigValue{{Id: "thresholds", Value: built}}
}

// named maps the values 0 and 1 of a flag to words and colours.
func named(zero, zeroColour, one, oneColour string) []dashboard.ValueMapping {
	return []dashboard.ValueMapping{{ValueMap: &dashboard.ValueMap{
		Type: dashboard.MappingTypeValueToText,
		Options: map[string]dashboard.ValueMappingResult{
			"0": {Text: cog.ToPtr(zero), Color: cog.ToPtr(zeroColour), Index: cog.ToPtr(int32(0))},
			"1": {Text: cog.ToPtr(one), Color: cog.ToPtr(oneColour), Index: cog.ToPtr(int32(1))},
		},
	}}}
}

// upDown names an up-style flag: 0 is an outage.
func upDown() []dashboard.ValueMapping { return named("DOWN", "red", "UP", "green") }

// onOff names a setting: off is a finding, not an outage.
func onOff() []dashboard.ValueMapping { return named("off", "yellow", "on", "green") }
