package generate

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/hotel-ops/hotel-ops/internal/testenv"
	"github.com/hotel-ops/hotel-ops/mixin/dashboards"
	"github.com/hotel-ops/hotel-ops/mixin/rules"
	"github.com/hotel-ops/hotel-ops/mixin/spec"
)

func defaults(t *testing.T) (*spec.Spec, map[string][]byte) {
	t.Helper()
	s, err := spec.Merge()
	if err != nil {
		t.Fatal(err)
	}
	files, _, err := All(s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s, files
}

// The committed rules/, dashboards/, alertmanager/ and runbooks/ are what
// mixgen generates from the committed spec: CI fails on a stale file.
func TestCommittedFilesAreFresh(t *testing.T) {
	_, files := defaults(t)
	if diffs := Diff(testenv.RepoRoot(t), files, false); len(diffs) > 0 {
		t.Errorf("generated files are stale; run `make generate`:\n%s", strings.Join(diffs, "\n"))
	}
}

func committed(t *testing.T, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(testenv.RepoRoot(t), pattern))
	if err != nil || len(m) == 0 {
		t.Fatalf("no files match %s", pattern)
	}
	return m
}

func TestPromtoolLintsTheRules(t *testing.T) {
	promtool := testenv.Tool(t, "promtool")
	args := append([]string{"check", "rules", "--lint=all", "--lint-fatal"}, committed(t, "rules/*.yml")...)
	if out, err := exec.Command(promtool, args...).CombinedOutput(); err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func TestPromtoolRunsTheRuleTests(t *testing.T) {
	promtool := testenv.Tool(t, "promtool")
	args := append([]string{"test", "rules"}, committed(t, "rules/tests/*_test.yml")...)
	if out, err := exec.Command(promtool, args...).CombinedOutput(); err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}

func TestAmtoolChecksTheConfig(t *testing.T) {
	amtool := testenv.Tool(t, "amtool")
	if out, err := exec.Command(amtool, "check-config", committed(t, "alertmanager/alertmanager.yml")[0]).CombinedOutput(); err != nil {
		t.Fatalf("amtool check-config: %v\n%s", err, out)
	}
}

// exprs returns every PromQL expression of the rules and dashboards.
func exprs(t *testing.T, s *spec.Spec, files map[string][]byte) (map[string]string, *rules.Set) {
	t.Helper()
	set, err := rules.Generate(s)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, name := range set.Names() {
		for _, g := range set.Files[name].Groups {
			for _, r := range g.Rules {
				out["rules/"+name+"/"+r.Record+r.Alert+"/"+r.Labels["long_window"]] = r.Expr
			}
		}
	}
	dash := map[string][]byte{}
	for p, data := range files {
		if strings.HasPrefix(p, "dashboards/") {
			dash[filepath.Base(p)] = data
		}
	}
	d, err := dashboards.Exprs(dash)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range d {
		out["dashboards/"+k] = v
	}
	return out, set
}

// Every metric a rule or a dashboard reads is produced by an exporter of
// the suite (read from its descriptors), a recording rule, the design's
// contract for binaries not built yet, or a declared external exporter.
func TestEveryMetricHasAProducer(t *testing.T) {
	s, files := defaults(t)
	all, set := exprs(t, s, files)
	recorded := map[string]bool{}
	for _, name := range set.Names() {
		for _, g := range set.Files[name].Groups {
			for _, r := range g.Rules {
				if r.Record != "" {
					recorded[r.Record] = true
				}
			}
		}
	}
	producers := Producers()
	if producers["pgha_standby_lag_seconds"] != "pgha_exporter" || producers["pitr_wal_missing_segments"] != "pitr_exporter" {
		t.Fatalf("exporter descriptors not read: %v", producers)
	}
	used := 0
	for where, expr := range all {
		e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
		if err != nil {
			t.Errorf("%s: %q does not parse: %v", where, expr, err)
			continue
		}
		parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
			vs, ok := n.(*parser.VectorSelector)
			if !ok {
				return nil
			}
			used++
			switch {
			case recorded[vs.Name]:
			case producers[vs.Name] != "":
			case isRecording(vs.Name):
				t.Errorf("%s: recording rule %s is not defined", where, vs.Name)
			default:
				t.Errorf("%s: no exporter, recording rule or declared external exporter produces %s", where, vs.Name)
			}
			return nil
		})
	}
	if used < 100 {
		t.Errorf("only %d selectors inspected", used)
	}
}

// A metric the producers do not know is reported: the check can fail.
func TestUnknownMetricIsCaught(t *testing.T) {
	if p := Producers(); p["pgha_made_up_metric"] != "" || p["node_cpu_seconds_total"] == "" {
		t.Fatal("producer table wrong")
	}
}

func TestRunbookAnchorsExist(t *testing.T) {
	s, files := defaults(t)
	book := string(files["runbooks/README.md"])
	set, err := rules.Generate(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range set.Alerts {
		u := a.Rule.Annotations["runbook_url"]
		base, anchor, ok := strings.Cut(u, "#")
		if !ok || base != s.Links.Runbooks {
			t.Errorf("%s: runbook_url %q is not under %s", a.Name, u, s.Links.Runbooks)
			continue
		}
		if a.Name == "EscalatorFallback" {
			// Points at the runbook of the alert it stands for: every
			// alert's anchor is checked here already.
			if anchor != "{{ $labels.fallback_for | toLower }}" {
				t.Errorf("%s: runbook anchor %q does not follow fallback_for", a.Name, anchor)
			}
			continue
		}
		if !strings.Contains(book, `<a id="`+anchor+`"></a>`) {
			t.Errorf("%s: runbooks/README.md has no anchor %q", a.Name, anchor)
		}
		if a.Rule.Annotations["dashboard_url"] == "" || a.Rule.For == "" {
			t.Errorf("%s: missing dashboard_url or for", a.Name)
		}
		for k, v := range a.Rule.Labels {
			if strings.Contains(v, "$value") || strings.Contains(v, "{{") {
				t.Errorf("%s: label %s is templated", a.Name, k)
			}
		}
	}
}

// Every threshold, objective and target of the spec appears in the
// generated output with its spec value: as the literal in a rule, or as
// written in an alert's description, runbook or dashboard.
func TestEveryThresholdAppears(t *testing.T) {
	s, files := defaults(t)
	all, set := exprs(t, s, files)
	var exprText strings.Builder
	for _, e := range all {
		exprText.WriteString(e + "\n")
	}
	var annText strings.Builder
	for _, a := range set.Alerts {
		annText.WriteString(a.Rule.Annotations["description"] + "\n")
	}
	var dashText strings.Builder
	for p, data := range files {
		if strings.HasPrefix(p, "dashboards/") {
			var v any
			if err := json.Unmarshal(data, &v); err != nil {
				t.Fatal(err)
			}
			dashText.Write(data)
		}
	}
	book := string(files["runbooks/README.md"])
	literal := func(v spec.Value) *regexp.Regexp {
		return regexp.MustCompile(`[^0-9.]` + regexp.QuoteMeta(v.PromQL()) + `([^0-9.]|$)`)
	}
	check := func(path string, v spec.Value) {
		if v.IsZero() {
			return
		}
		inRule := literal(v).MatchString(exprText.String())
		inText := strings.Contains(annText.String(), v.Human()) || strings.Contains(book, v.Human())
		if !inRule && !inText {
			t.Errorf("%s (%s) appears in no rule, description or runbook", path, v.Raw)
		}
	}
	for name, th := range s.Thresholds {
		check("thresholds."+name+".warning", th.Warning)
		check("thresholds."+name+".critical", th.Critical)
	}
	for name, o := range s.SLOs {
		check("slos."+name+".objective", o.Objective)
		check("slos."+name+".threshold", o.Threshold)
	}
	check("reliability.mttr", s.Reliability.MTTR)
	check("reliability.mtbf", s.Reliability.MTBF)
	check("backup.full.every", s.Backup.Full.Every)
	check("backup.incr.every", s.Backup.Incr.Every)
	check("backup.full.retention", s.Backup.Full.Retention)
	check("backup.incr.retention", s.Backup.Incr.Retention)
	check("backup.pitr_window", s.Backup.PITRWindow)
	check("backup.restore_test_every", s.Backup.RestoreTestEvery)
	check("backup.verify_every", s.Backup.VerifyEvery)
	for tier, v := range s.Backup.RPO {
		check("backup.rpo."+tier, v)
	}
	for tier, v := range s.Backup.RTO {
		check("backup.rto."+tier, v)
	}
	// The thresholds the dashboards colour by are the spec's.
	for _, name := range []string{"cpu", "memory", "disk", "db_connections", "pgbouncer_pool", "pgbouncer_clients", "pgbouncer_wait"} {
		if !strings.Contains(dashText.String(), `"value": `+s.Thresholds[name].Warning.PromQL()) {
			t.Errorf("no dashboard threshold step at %s's warning %s", name, s.Thresholds[name].Warning.PromQL())
		}
	}
}

// With the spec's 99.99% over 30 days, the budget is 4m19s: a critical
// alert that waits 5 minutes has spent it before paging.
func TestLintPricesCriticalAlertsInBudget(t *testing.T) {
	s, _ := defaults(t)
	found := map[string]Finding{}
	for _, f := range Lint(s) {
		found[f.Alert] = f
	}
	if f := found["HotelAppErrorRateCritical"]; !f.Warning || !strings.Contains(f.Text, "4m19s") {
		t.Errorf("HotelAppErrorRateCritical (for 5m): %+v", f)
	}
	if f := found["HotelAppDown"]; f.Warning || !strings.Contains(f.Text, "46%") {
		t.Errorf("HotelAppDown (for 2m): %+v", f)
	}
	if _, ok := found["NodeCPUHigh"]; ok {
		t.Error("a warning alert was priced")
	}
}
