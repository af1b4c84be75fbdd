package rules

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hotel-ops/hotel-ops/internal/testenv"
	"github.com/hotel-ops/hotel-ops/mixin/spec"
)

// writeAll writes the rule files and their tests under dir, as mixgen does.
func writeAll(t *testing.T, s *spec.Spec, dir string) (tests []string) {
	t.Helper()
	set, err := Generate(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "tests"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range set.Names() {
		data, err := set.Files[name].Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files, _, err := set.Tests(s)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		p := filepath.Join(dir, "tests", name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		tests = append(tests, p)
	}
	return tests
}

// TestOverriddenSpecStaysTested generates rules and tests from a spec
// whose thresholds, selectors and `for`s are overridden, and runs the
// generated tests with promtool: they follow the new values.
func TestOverriddenSpecStaysTested(t *testing.T) {
	promtool := testenv.Tool(t, "promtool")
	s, err := spec.Merge(spec.Layer{Name: "team.yml", Data: []byte(`
selectors: {app: 'job="booking", env="prod"', pgha: 'job=~"pg|pgha"'}
thresholds:
  replication_lag: {warning: 4s, critical: 20s}
  error_rate: {warning: 2%}
  disk: {warning: 70%}
backup:
  rpo: {high: 2h}
  rto: {critical: 30m}
  verify_every: 12h
  restore_test_every: 31d
alerts:
  PostgresReplicationLagHigh: {for: 3m}
  NodeCPUHigh: {enabled: false}
`)})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tests := writeAll(t, s, dir)
	body, _ := os.ReadFile(filepath.Join(dir, "database.yml"))
	if !strings.Contains(string(body), `pgha_standby_lag_seconds{job=~"pg|pgha"} > 4`) {
		t.Errorf("database.yml does not use the overridden lag or selector:\n%s", body)
	}
	backup, _ := os.ReadFile(filepath.Join(dir, "backup.yml"))
	for _, want := range []string{`pitr_repository_info{job="pitr", tier="high"} * 7200`, `pitr_repository_info{job="pitr", tier="critical"} * 1800`, `> 43200 + 3600`, `> 2678400`} {
		if !strings.Contains(string(backup), want) {
			t.Errorf("backup.yml does not use the overridden tier, verification or restore test interval (%s):\n%s", want, backup)
		}
	}
	node, _ := os.ReadFile(filepath.Join(dir, "node.yml"))
	if strings.Contains(string(node), "alert: NodeCPUHigh") {
		t.Error("a disabled alert was generated")
	}
	out, err := exec.Command(promtool, append([]string{"test", "rules"}, tests...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}

// TestGeneratedTestsCatchAWrongThreshold edits one generated rule's
// threshold after generation: the generated tests must fail.
func TestGeneratedTestsCatchAWrongThreshold(t *testing.T) {
	promtool := testenv.Tool(t, "promtool")
	s, err := spec.Merge()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeAll(t, s, dir)
	p := filepath.Join(dir, "database.yml")
	body, _ := os.ReadFile(p)
	edited := strings.Replace(string(body), "pgha_standby_lag_seconds{job=\"pgha\"} > 10", "pgha_standby_lag_seconds{job=\"pgha\"} > 11", 1)
	if edited == string(body) {
		t.Fatal("the warning lag expression was not found to edit")
	}
	if err := os.WriteFile(p, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "test", "rules", filepath.Join(dir, "tests", "database_test.yml")).CombinedOutput()
	if err == nil {
		t.Fatalf("promtool passed a rule whose threshold is off the spec:\n%s", out)
	}
	if !strings.Contains(string(out), "PostgresReplicationLagHigh") {
		t.Errorf("the failure does not name the alert:\n%s", out)
	}
}

func TestUnmatchableSelectorIsAnError(t *testing.T) {
	s, err := spec.Merge(spec.Layer{Name: "x.yml", Data: []byte("selectors: {app: 'job=~\"[a-z]+-prod\"'}\n")})
	if err != nil {
		t.Fatal(err)
	}
	set, err := Generate(s)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := set.Tests(s); err == nil || !strings.Contains(err.Error(), "selectors of app") {
		t.Errorf("error %v, want one naming the app selector", err)
	}
}
