package rules

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/hotel-ops/hotel-ops/mixin/spec"
)

// A fixture turns the value an alert's expression should have into input
// series for promtool, so tests can put the value just below or just above
// the spec's threshold whatever the threshold is after overrides.
type fixture struct {
	// series returns the input series for a value that changes at segment
	// boundaries.
	series func(g *gen, segs []seg, step time.Duration) []inputSeries
	// labels are those the firing alert carries from its series.
	labels func(g *gen) map[string]string
	// okBad are the values on either side of the threshold v.
	okBad func(g *gen, v spec.Value) (ok, bad float64)
	// earliest is when the expression can first be true (two samples for
	// a rate); warmup is when it is exact (the rate window is full).
	earliest, warmup time.Duration
	// warmupWindow adds the reliability window to warmup: a ratio over
	// increase(...[30d]) is exact only once 30 days of samples are in.
	warmupWindow bool
	// step is the sample interval, 0 meaning a minute; evalEvery is how
	// often the test evaluates rules (0: every step): a week of history
	// evaluated every minute is slow to test.
	step, evalEvery time.Duration
	// baseline is a value held before the test's own segments (a week of
	// normal traffic for week-over-week alerts); baselineFor is how long.
	baseline    float64
	baselineFor time.Duration
}

// seg holds a value for n samples.
type seg struct {
	v float64
	n int
}

// inputSeries is a promtool input series.
type inputSeries struct {
	Series string `yaml:"series"`
	Values string `yaml:"values"`
}

// curve says how a series follows the value: its sample at time t.
type curve func(v, t float64) float64

var (
	constant curve = func(v, _ float64) float64 { return v }
	agoBy    curve = func(v, t float64) float64 { return t - v } // a timestamp v seconds old
	aheadBy  curve = func(v, t float64) float64 { return t + v } // a timestamp v seconds ahead
)

// gaugeValues writes samples of c over the segments in promtool's
// expanding notation ("a+bxn" is n+1 samples from a in steps of b).
func gaugeValues(segs []seg, step time.Duration, c curve) string {
	var parts []string
	k := 0
	for _, s := range segs {
		t0 := float64(k) * step.Seconds()
		start := c(s.v, t0)
		inc := c(s.v, t0+step.Seconds()) - start
		parts = append(parts, notation(start, inc, s.n))
		k += s.n
	}
	return strings.Join(parts, " ")
}

// counterValues writes a counter that grows by perStep(v) each sample.
func counterValues(segs []seg, perStep func(v float64) float64) string {
	var parts []string
	cur := 0.0
	for i, s := range segs {
		inc := perStep(s.v)
		start := cur
		if i > 0 {
			start = cur + inc
		}
		parts = append(parts, notation(start, inc, s.n))
		cur = start + inc*float64(s.n-1)
	}
	return strings.Join(parts, " ")
}

func notation(start, inc float64, n int) string {
	if n <= 1 {
		return num(start)
	}
	sign := "+"
	if inc < 0 {
		sign, inc = "-", -inc
	}
	return fmt.Sprintf("%s%s%sx%d", num(start), sign, num(inc), n-1)
}

func num(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// series names a series: metric{labels} with labels sorted.
func series(metric string, ls map[string]string) string {
	keys := make([]string, 0, len(ls))
	for k := range ls {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(metric + "{")
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%q", k, ls[k])
	}
	b.WriteString("}")
	return b.String()
}

// candidates are label values tried for matchers that are not equalities.
var candidates = map[string][]string{
	"job": {"hotel-saas", "node", "pgha", "pitr"}, "device": {"eth0"},
	"fstype": {"ext4"}, "mountpoint": {"/", "/var/lib/postgresql"},
}

// labelsFor returns labels that the selectors of the named jobs (and the
// given extra labels) match, as a test series needs: the value of each
// equality matcher, the first literal alternative of a regexp, or a
// candidate value. A selector no such label set satisfies is an error the
// generator reports, naming the selector.
func (g *gen) labelsFor(jobs []string, extra map[string]string) (map[string]string, error) {
	out := map[string]string{}
	var all []*labels.Matcher
	for _, job := range jobs {
		ms, err := parser.NewParser(parser.Options{}).ParseMetricSelector("{" + g.s.Selectors[job] + "}")
		if err != nil {
			return nil, fmt.Errorf("selectors.%s: %w", job, err)
		}
		all = append(all, ms...)
	}
	for _, m := range all {
		if _, ok := out[m.Name]; ok {
			continue
		}
		switch m.Type {
		case labels.MatchEqual:
			out[m.Name] = m.Value
		case labels.MatchRegexp:
			first := strings.SplitN(m.Value, "|", 2)[0]
			if m.Matches(first) {
				out[m.Name] = first
			}
		}
		if _, ok := out[m.Name]; !ok {
			for _, c := range candidates[m.Name] {
				if m.Matches(c) {
					out[m.Name] = c
					break
				}
			}
		}
	}
	for k, v := range extra {
		if _, ok := out[k]; !ok {
			out[k] = v
		}
	}
	for _, m := range all {
		if !m.Matches(out[m.Name]) {
			return nil, fmt.Errorf("selectors of %s: no test label value found for %s; use = or a literal alternative", strings.Join(jobs, ", "), m)
		}
	}
	return out, nil
}

// mustLabels is labelsFor for the generator's own fixtures, whose jobs
// Validate has checked; an unmatched override surfaces as a panic naming
// the selector, caught by Tests.
func (g *gen) mustLabels(jobs []string, extra map[string]string) map[string]string {
	ls, err := g.labelsFor(jobs, extra)
	if err != nil {
		panic(fixtureError{err})
	}
	return ls
}

type fixtureError struct{ error }

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// higherIsWorse puts the value 2% either side of the threshold.
func higherIsWorse(_ *gen, v spec.Value) (float64, float64) {
	return v.Float() * 0.98, v.Float() * 1.02
}

// lowerIsWorse is higherIsWorse mirrored (certificates, windows, MTBF).
func lowerIsWorse(_ *gen, v spec.Value) (float64, float64) {
	return v.Float() * 1.02, v.Float() * 0.98
}

// fixed is for alerts on a state rather than a level (down, missing).
func fixed(ok, bad float64) func(*gen, spec.Value) (float64, float64) {
	return func(*gen, spec.Value) (float64, float64) { return ok, bad }
}

// upFixture is a target that answers its scrape (up 1) and then does not
// (up 0); labels are what the alert keeps of the series, which carries
// every label the job's selector needs.
func upFixture(job string, labels func(*gen) map[string]string) fixture {
	return fixture{labels: labels, okBad: fixed(1, 0), series: func(g *gen, segs []seg, step time.Duration) []inputSeries {
		ls := merge(g.mustLabels([]string{job}, map[string]string{"instance": "target-1:9000"}), labels(g))
		return []inputSeries{{series("up", ls), gaugeValues(segs, step, constant)}}
	}}
}

// withUp adds a target that answers (up 1, with the job and instance of
// the fixture's labels) unless the fixture's series have one: an alert
// whose expression also fires on absent(up{...}) must see its target,
// and a windowed one its history (fullWindow: every label of the
// history job's selector).
func withUp(g *gen, fx fixture, history string, in []inputSeries, samples int, step time.Duration) []inputSeries {
	for _, s := range in {
		if strings.HasPrefix(s.Series, "up{") {
			return in
		}
	}
	ls := map[string]string{}
	for _, k := range []string{"job", "instance"} {
		if v, ok := fx.labels(g)[k]; ok {
			ls[k] = v
		}
	}
	if history != "" {
		ls = g.mustLabels([]string{history}, ls)
	}
	if ls["job"] == "" {
		return in
	}
	return append(in, inputSeries{series("up", ls), gaugeValues([]seg{{1, samples}}, step, constant)})
}
