package rules

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/template"
	"go.yaml.in/yaml/v3"

	"github.com/hotel-ops/hotel-ops/mixin/spec"
)

// promtool unit tests, generated from the merged spec so that overrides
// stay tested. For every alert with a fixture: a value just below the
// threshold stays silent; just above, it is pending (silent) until its
// `for` has passed; after it fires with the expected labels and
// annotations; and once the value drops it resolves. Scenarios add the
// burn-rate and tiny-traffic cases.

// TestFile is a promtool test file.
type TestFile struct {
	RuleFiles          []string    `yaml:"rule_files"`
	EvaluationInterval string      `yaml:"evaluation_interval"`
	Tests              []TestGroup `yaml:"tests"`
}

// TestGroup is one promtool test.
type TestGroup struct {
	Name        string        `yaml:"name"`
	Interval    string        `yaml:"interval"`
	InputSeries []inputSeries `yaml:"input_series"`
	AlertTests  []alertTest   `yaml:"alert_rule_test"`
}

type alertTest struct {
	EvalTime  string     `yaml:"eval_time"`
	Alertname string     `yaml:"alertname"`
	ExpAlerts []expAlert `yaml:"exp_alerts"`
}

type expAlert struct {
	ExpLabels      map[string]string `yaml:"exp_labels"`
	ExpAnnotations map[string]string `yaml:"exp_annotations"`
}

// Tests returns the test files for rules/tests/, by name, and how many
// test groups they hold.
func (set *Set) Tests(s *spec.Spec) (files map[string][]byte, groups int, err error) {
	defer func() {
		if r := recover(); r != nil {
			fe, ok := r.(fixtureError)
			if !ok {
				panic(r)
			}
			err = fe
		}
	}()
	g := &gen{s: s}
	byFile := map[string]*TestFile{}
	// Test files are per rule file and evaluation interval.
	add := func(ruleFile string, step time.Duration, tg TestGroup, deps string) {
		name := strings.TrimSuffix(ruleFile, ".yml")
		if step != minute {
			name += "_" + durString(step)
		}
		name += "_test.yml"
		tf := byFile[name]
		if tf == nil {
			tf = &TestFile{RuleFiles: []string{"../" + ruleFile}, EvaluationInterval: durString(step)}
			byFile[name] = tf
		}
		// A file whose recording rules this one reads goes first: groups
		// are evaluated in order, and a sample recorded one evaluation
		// ago is already out of the lookback window at a 5m interval.
		if dep := set.definingFile(deps); dep != "" && dep != ruleFile && !contains(tf.RuleFiles, "../"+dep) {
			tf.RuleFiles = append([]string{"../" + dep}, tf.RuleFiles...)
		}
		tf.Tests = append(tf.Tests, tg)
	}
	for _, a := range set.Alerts {
		if a.def.fx.series == nil {
			continue
		}
		step, ev := a.def.fx.step, a.def.fx.evalEvery
		if step == 0 {
			step = minute
		}
		if ev == 0 {
			ev = step
		}
		for _, tg := range g.alertCases(a, step) {
			add(a.File, ev, tg, a.Rule.Expr)
		}
	}
	for _, sc := range g.scenarios(set) {
		add(sc.file, sc.eval, sc.group, sc.deps)
	}
	files = map[string][]byte{}
	for name, tf := range byFile {
		out, err := yaml.Marshal(tf)
		if err != nil {
			return nil, 0, err
		}
		files[name] = append([]byte(Header), out...)
		groups += len(tf.Tests)
	}
	return files, groups, nil
}

// definingFile is the rule file that records a rule the expression uses,
// so a test file loads it too.
func (set *Set) definingFile(expr string) string {
	for _, name := range set.Names() {
		for _, grp := range set.Files[name].Groups {
			for _, r := range grp.Rules {
				if r.Record != "" && strings.Contains(expr, r.Record) {
					return name
				}
			}
		}
	}
	return ""
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// alertCases are the four cases of one alert.
func (g *gen) alertCases(a *AlertRule, step time.Duration) []TestGroup {
	fx := a.def.fx
	ok, bad := fx.okBad(g, a.value)
	if a.value.Unit == spec.Seconds { // whole seconds: humanizeDuration truncates
		if ok < bad {
			ok, bad = math.Floor(ok), math.Ceil(bad)
		} else { // lower is worse
			ok, bad = math.Ceil(ok), math.Floor(bad)
		}
	}
	forD, keep := durationOf(a.Rule.For), durationOf(a.Rule.KeepFiringFor)
	base := fx.baselineFor
	steps := func(d time.Duration) int { return int((d + step - 1) / step) }
	prefix := func(n int, v float64) []seg {
		out := []seg{}
		if base > 0 {
			out = append(out, seg{fx.baseline, steps(base)})
		}
		return append(out, seg{v, n})
	}
	ev := fx.evalEvery
	if ev == 0 {
		ev = step
	}
	at := func(d time.Duration) string { return durString(roundUp(d, ev)) }
	label := func(what string) string {
		return fmt.Sprintf("%s: %s (threshold %s)", a.Name, what, thresholdText(a.value))
	}
	firing := []expAlert{g.expected(a, bad)}
	if fx.warmupWindow {
		fx.warmup += g.s.Reliability.Window.D()
	}
	// Rules run every ev: the alert turns pending at the first evaluation
	// where the value can be over (earliest) and at the latest at the
	// first where it is exact (warmup), and fires a `for` later.
	fireAt := roundUp(base+fx.warmup, ev) + forD + ev
	beforeAt := roundUp(base+fx.earliest, ev) + forD - ev
	settle := fx.warmup + keep + 5*minute
	var out []TestGroup
	group := func(name string, segs []seg, tests ...alertTest) {
		out = append(out, TestGroup{Name: label(name), Interval: durString(step), InputSeries: withUp(g, fx, a.def.history, fx.series(g, segs, step), total(segs), step), AlertTests: tests})
	}
	n := steps(fireAt-base) + 1
	group(fmt.Sprintf("just below (%s) stays silent", num(ok)), prefix(n+steps(5*minute), ok),
		alertTest{EvalTime: at(fireAt + 5*minute), Alertname: a.Name, ExpAlerts: []expAlert{}})
	if forD >= ev {
		group(fmt.Sprintf("just above (%s) is only pending before its for of %s", num(bad), a.Rule.For), prefix(n, bad),
			alertTest{EvalTime: at(beforeAt), Alertname: a.Name, ExpAlerts: []expAlert{}})
	}
	// A fresh Prometheus has seen less than the window: the spec's time
	// has not passed, whatever the few samples say (fullWindow). Only
	// where the rule would fire by then without the guard.
	if fresh := (a.def.window - historyStep - ev) / ev * ev; a.def.window > 0 && base == 0 && fresh >= roundUp(fx.earliest, ev)+forD {
		group(fmt.Sprintf("just above (%s) with less than its %s window of history stays silent", num(bad), durString(a.def.window)), prefix(n, bad),
			alertTest{EvalTime: at(fresh), Alertname: a.Name, ExpAlerts: []expAlert{}})
	}
	group(fmt.Sprintf("just above (%s) fires once its for has passed", num(bad)), prefix(n, bad),
		alertTest{EvalTime: at(fireAt), Alertname: a.Name, ExpAlerts: firing})
	segs := prefix(n, bad)
	segs = append(segs, seg{ok, steps(settle) + 1})
	group("recovers once the value is back below", segs,
		alertTest{EvalTime: at(fireAt), Alertname: a.Name, ExpAlerts: firing},
		alertTest{EvalTime: at(base + time.Duration(n)*step + settle), Alertname: a.Name, ExpAlerts: []expAlert{}})
	return out
}

func thresholdText(v spec.Value) string {
	if v.IsZero() {
		return "a state"
	}
	return v.Human()
}

func roundUp(d, step time.Duration) time.Duration { return (d + step - 1) / step * step }

func durationOf(s string) time.Duration {
	if s == "" {
		return 0
	}
	d, err := model.ParseDuration(s)
	if err != nil {
		panic(err) // generated by durString
	}
	return time.Duration(d)
}

// expected is the firing alert: the rule's labels and the fixture's, the
// annotations expanded as Prometheus expands them, for the value.
func (g *gen) expected(a *AlertRule, value float64) expAlert {
	ls := merge(a.def.fx.labels(g), a.Rule.Labels)
	return expAlert{ExpLabels: ls, ExpAnnotations: expand(a.Name, a.Rule.Annotations, a.def.fx.labels(g), value)}
}

// expand renders annotation templates with Prometheus's own expander, as
// the rule manager does, so an expected annotation is what Prometheus
// will write.
func expand(alert string, anns, seriesLabels map[string]string, value float64) map[string]string {
	defs := "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}"
	data := template.AlertTemplateData(seriesLabels, nil, "", promql.Sample{F: value})
	out := map[string]string{}
	for k, text := range anns {
		ex := template.NewTemplateExpander(context.Background(), defs+text, "__alert_"+alert, data, model.Time(0), nil, &url.URL{}, nil)
		res, err := ex.Expand()
		if err != nil {
			panic(fmt.Sprintf("alert %s annotation %s: %v", alert, k, err))
		}
		out[k] = res
	}
	return out
}
