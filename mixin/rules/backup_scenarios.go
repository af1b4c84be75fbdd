package rules

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/hotel-ops/hotel-ops/mixin/spec"
)

// Scenarios of the backup rules, from the spec's words where the
// per-alert cases cannot say it: each repository is held to its own tier
// (災害復旧計画 / RTO/RPO目標), only a point-in-time test counts for the
// quarter (復旧テスト / 四半期毎) and only one of kind backup verifies the
// backups (増分バックアップ / 自動検証実行), what was never recorded is
// overdue, a failed test names its outcome, and no PITR window at all is
// too short.

// RestoreOutcomes are the outcomes pitr_exporter writes a series of
// pitr_restore_test_last_outcome for, success first: restore.Outcomes of
// exporters/pitr_exporter/restore, which a test of mixin/generate holds
// this list and the runbooks to.
var RestoreOutcomes = []string{"success", "no_window", "disk_space", "restore_failed", "recovery_incomplete",
	"start_failed", "check_failed", "timeout", "error"}

// alert is the generated rule of an alert; nil when it is disabled.
func (set *Set) alert(name string) *AlertRule {
	for _, a := range set.Alerts {
		if a.Name == name {
			return a
		}
	}
	return nil
}

func (g *gen) backupScenarios(set *Set) []scenario {
	var out []scenario
	out = append(out, g.tierScenarios(set)...)
	out = append(out, g.restoreScenarios(set)...)
	out = append(out, g.noWindowScenarios(set)...)
	return out
}

// repo is the labels of a repository pitr_exporter reads, by instance.
func (g *gen) repo(instance string) map[string]string {
	return g.mustLabels([]string{"pitr"}, map[string]string{"instance": instance})
}

// held is an input series that holds one value for n samples.
func held(metric string, ls map[string]string, v float64, n int) inputSeries {
	return inputSeries{series(metric, ls), gaugeValues([]seg{{v, n}}, minute, constant)}
}

// ago is a timestamp series d seconds old at every sample.
func ago(metric string, ls map[string]string, d float64, n int) inputSeries {
	return inputSeries{series(metric, ls), gaugeValues([]seg{{d, n}}, minute, agoBy)}
}

// firesAt is the first evaluation at which an alert that is true from the
// start fires (its for, and a minute), and how many samples reach it.
func firesAt(a *AlertRule) (time.Duration, int) {
	at := roundUp(durationOf(a.Rule.For), minute) + minute
	return at, int(at/minute) + 1
}

// firing is the alert as Prometheus fires it for a series with labels ls
// and value v.
func firing(a *AlertRule, ls map[string]string, v float64) expAlert {
	return expAlert{ExpLabels: merge(ls, a.Rule.Labels), ExpAnnotations: expand(a.Name, a.Rule.Annotations, ls, v)}
}

func humanSeconds(v float64) string {
	if math.IsInf(v, 1) {
		return "+Inf"
	}
	if d := int64(v); v >= 86400 && float64(d) == v && d%86400 == 0 {
		return fmt.Sprintf("%dd", d/86400) // 91d, not 13w
	}
	return durString(time.Duration(v) * time.Second)
}

// tierScenarios: for each tier, a value over its objective (twice it, or
// halfway to the next tier's when twice would reach that) with one
// repository of every tier: the alert fires for exactly the repositories
// whose tier's objective is below the value, and for a repository that
// declares no tier as for a critical one. With the spec's table: a WAL
// archive 30m behind fires for the critical tier and not for high; a
// restore test that took 2h for critical, not high.
func (g *gen) tierScenarios(set *Set) []scenario {
	var out []scenario
	for _, c := range []struct {
		alert, metric string
		table         map[string]spec.Value
		extra         map[string]string
		curve         curve
		what          string
	}{
		{"RPOExceeded", "pitr_wal_last_archived_timestamp_seconds", g.s.Backup.RPO, nil, agoBy, "since the newest archived WAL"},
		{"RestoreRTOExceeded", restoreRTO, g.s.Backup.RTO, map[string]string{"kind": "pitr"}, constant, "measured by the last restore test"},
	} {
		a := set.alert(c.alert)
		if a == nil {
			continue
		}
		at, n := firesAt(a)
		for i, tier := range spec.Tiers {
			obj := c.table[tier].Float()
			v := 2 * obj
			if i+1 < len(spec.Tiers) {
				if next := c.table[spec.Tiers[i+1]].Float(); next > obj && v >= next {
					v = (obj + next) / 2
				}
			}
			v = math.Ceil(v) // whole seconds: humanizeDuration truncates
			var in []inputSeries
			exp := []expAlert{}
			var fire, quiet []string
			add := func(ls map[string]string, tier string, declared bool) {
				in = append(in, inputSeries{series(c.metric, merge(ls, c.extra)), gaugeValues([]seg{{v, n}}, minute, c.curve)},
					held("pitr_up", ls, 1, n))
				if declared {
					in = append(in, held("pitr_repository_info", merge(ls, map[string]string{"tool": "pgbackrest", "tier": tier}), 1, n))
				}
				name := tier
				if !declared {
					name = "no tier declared"
				}
				if c.table[tier].Float() < v {
					exp = append(exp, firing(a, merge(ls, c.extra, map[string]string{"tier": tier}), v))
					fire = append(fire, name)
				} else {
					quiet = append(quiet, name)
				}
			}
			for _, t := range spec.Tiers {
				add(g.repo("pitr-"+t+":9188"), t, true)
			}
			// An exporter older than the tier label: held to critical.
			add(g.repo("pitr-untiered:9188"), "critical", false)
			verdict := "fires for " + strings.Join(fire, ", ")
			if len(quiet) > 0 {
				verdict += ", not for " + strings.Join(quiet, ", ")
			}
			out = append(out, scenario{file: a.File, eval: minute, deps: a.Rule.Expr, group: TestGroup{
				Name:        fmt.Sprintf("%s: %s %s (%s tier's objective %s) %s", a.Name, humanSeconds(v), c.what, tier, c.table[tier].Human(), verdict),
				Interval:    "1m",
				InputSeries: in,
				AlertTests:  []alertTest{{EvalTime: durString(at), Alertname: a.Name, ExpAlerts: exp}},
			}})
		}
	}
	// No WAL archived at all: infinitely old, whatever the tier.
	if a := set.alert("RPOExceeded"); a != nil {
		at, n := firesAt(a)
		ls := g.repo("pitr-high:9188")
		out = append(out, scenario{file: a.File, eval: minute, deps: a.Rule.Expr, group: TestGroup{
			Name:     "RPOExceeded: a repository of the high tier that holds no archived WAL at all fires (+Inf)",
			Interval: "1m",
			InputSeries: []inputSeries{
				held("pitr_up", ls, 1, n),
				held("pitr_repository_info", merge(ls, map[string]string{"tool": "pgbackrest", "tier": "high"}), 1, n),
			},
			AlertTests: []alertTest{{EvalTime: durString(at), Alertname: a.Name,
				ExpAlerts: []expAlert{firing(a, merge(ls, map[string]string{"tier": "high"}), math.Inf(1))}}},
		}})
	}
	return out
}

// restoreScenarios: the quarter's restore test (RestoreTestOverdue) a day
// either side of its interval, counting only point-in-time tests; the daily
// verification (BackupVerificationOverdue) counting only kind backup;
// both overdue when nothing was ever recorded; a failed test naming its
// outcome and kind.
func (g *gen) restoreScenarios(set *Set) []scenario {
	var out []scenario
	ls := pitrLabels(g)
	kind := func(k string) map[string]string { return merge(ls, map[string]string{"kind": k}) }
	if a := set.alert("RestoreTestOverdue"); a != nil {
		at, n := firesAt(a)
		every := a.value.Float()
		delta := math.Min(86400, every/10) // a day, with the spec's 92d
		before, after := every-delta, every+delta
		group := func(name string, in []inputSeries, exp ...expAlert) {
			if exp == nil {
				exp = []expAlert{}
			}
			out = append(out, scenario{file: a.File, eval: minute, deps: a.Rule.Expr, group: TestGroup{
				Name: "RestoreTestOverdue: " + name, Interval: "1m",
				InputSeries: append(in, held("pitr_up", ls, 1, n)),
				AlertTests:  []alertTest{{EvalTime: durString(at), Alertname: a.Name, ExpAlerts: exp}},
			}})
		}
		group(fmt.Sprintf("a pitr test that succeeded %s ago (every %s) stays silent", humanSeconds(before), a.value.Human()),
			[]inputSeries{ago(restoreSuccessTime, kind("pitr"), before, n)})
		group(fmt.Sprintf("a pitr test that succeeded %s ago (every %s) fires", humanSeconds(after), a.value.Human()),
			[]inputSeries{ago(restoreSuccessTime, kind("pitr"), after, n)}, firing(a, ls, after))
		group(fmt.Sprintf("a pitr test %s ago and a backup test %s ago fire: a backup restored to its end is no point-in-time test", humanSeconds(after), humanSeconds(before)),
			[]inputSeries{ago(restoreSuccessTime, kind("pitr"), after, n), ago(restoreSuccessTime, kind("backup"), before, n)}, firing(a, ls, after))
	}
	// Nothing ever recorded: both overdue rules, infinitely old.
	var tests []alertTest
	samples := 0
	var file, deps string
	for _, name := range []string{"RestoreTestOverdue", "BackupVerificationOverdue"} {
		if a := set.alert(name); a != nil {
			at, n := firesAt(a)
			samples = max(samples, n)
			file, deps = a.File, deps+a.Rule.Expr+"\n"
			tests = append(tests, alertTest{EvalTime: durString(at), Alertname: a.Name, ExpAlerts: []expAlert{firing(a, ls, math.Inf(1))}})
		}
	}
	if len(tests) > 0 {
		out = append(out, scenario{file: file, eval: minute, deps: deps, group: TestGroup{
			Name:        "a repository with no restore test ever recorded: RestoreTestOverdue and BackupVerificationOverdue fire (+Inf)",
			Interval:    "1m",
			InputSeries: []inputSeries{held("pitr_up", ls, 1, samples)},
			AlertTests:  tests,
		}})
	}
	if a := set.alert("BackupVerificationOverdue"); a != nil {
		at, n := firesAt(a)
		out = append(out, scenario{file: a.File, eval: minute, deps: a.Rule.Expr, group: TestGroup{
			Name:     "BackupVerificationOverdue: a pitr test an hour ago does not verify the backups; with none of kind backup ever, it fires (+Inf)",
			Interval: "1m",
			InputSeries: []inputSeries{
				held("pitr_up", ls, 1, n),
				ago(restoreSuccessTime, kind("pitr"), 3600, n),
			},
			AlertTests: []alertTest{{EvalTime: durString(at), Alertname: a.Name, ExpAlerts: []expAlert{firing(a, ls, math.Inf(1))}}},
		}})
	}
	if a := set.alert("RestoreTestFailed"); a != nil {
		at, n := firesAt(a)
		record := func(k, outcome string) []inputSeries {
			ok := 0.0
			if outcome == "success" {
				ok = 1
			}
			in := []inputSeries{held(restoreSuccess, kind(k), ok, n)}
			for _, o := range RestoreOutcomes {
				v := 0.0
				if o == outcome {
					v = 1
				}
				in = append(in, held(restoreOutcome, merge(kind(k), map[string]string{"outcome": o}), v, n))
			}
			return in
		}
		out = append(out, scenario{file: a.File, eval: minute, deps: a.Rule.Expr, group: TestGroup{
			Name:        "RestoreTestFailed: a pitr test that ended recovery_incomplete fires and names it; the backup test that succeeded does not",
			Interval:    "1m",
			InputSeries: append(record("backup", "success"), record("pitr", "recovery_incomplete")...),
			AlertTests: []alertTest{{EvalTime: durString(at), Alertname: a.Name,
				ExpAlerts: []expAlert{firing(a, merge(kind("pitr"), map[string]string{"outcome": "recovery_incomplete"}), 0)}}},
		}})
		out = append(out, scenario{file: a.File, eval: minute, deps: a.Rule.Expr, group: TestGroup{
			Name:        "RestoreTestFailed: a failed test whose outcome series is missing still fires, without an outcome",
			Interval:    "1m",
			InputSeries: []inputSeries{held(restoreSuccess, kind("backup"), 0, n)},
			AlertTests: []alertTest{{EvalTime: durString(at), Alertname: a.Name,
				ExpAlerts: []expAlert{firing(a, kind("backup"), 0)}}},
		}})
	}
	return out
}

// noWindowScenarios: pitr_exporter exports no window at all when no
// backup's chain is unbroken; while it reads the repository (pitr_up 1)
// that is a window too short, and while it cannot, PITRRefreshFailing's.
func (g *gen) noWindowScenarios(set *Set) []scenario {
	a := set.alert("PITRWindowTooShort")
	if a == nil {
		return nil
	}
	at, n := firesAt(a)
	ls := pitrLabels(g)
	return []scenario{
		{file: a.File, eval: minute, deps: a.Rule.Expr, group: TestGroup{
			Name:        "PITRWindowTooShort: no window exported while pitr_exporter reads the repository (pitr_up 1) fires",
			Interval:    "1m",
			InputSeries: []inputSeries{held("pitr_up", ls, 1, n)},
			AlertTests:  []alertTest{{EvalTime: durString(at), Alertname: a.Name, ExpAlerts: []expAlert{firing(a, ls, 0)}}},
		}},
		{file: a.File, eval: minute, deps: a.Rule.Expr, group: TestGroup{
			Name:        "PITRWindowTooShort: no window while pitr_exporter cannot read the repository (pitr_up 0) stays silent (PITRRefreshFailing's case)",
			Interval:    "1m",
			InputSeries: []inputSeries{held("pitr_up", ls, 0, n)},
			AlertTests:  []alertTest{{EvalTime: durString(at), Alertname: a.Name, ExpAlerts: []expAlert{}}},
		}},
	}
}
