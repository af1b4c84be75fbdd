package escalator

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hotel-ops/hotel-ops/mixin/spec"
	"github.com/hotel-ops/hotel-ops/webhook/config"
)

func load(t *testing.T, layers ...spec.Layer) *config.Config {
	t.Helper()
	s, err := spec.Merge(layers...)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Generate(s)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "escalator.yml")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(path)
	if err != nil {
		t.Fatalf("escalator cannot load the generated file: %v", err)
	}
	return c
}

// トラブルシューティング自動化 / auto_recovery: each of the four recoveries
// runs in the first step of the alerts it answers, and of no other; the
// failover (a major change) waits for a person's approval, the emergency
// ones are dry runs until someone enables them.
func TestRecoveryActionsAnswerTheirAlerts(t *testing.T) {
	c := load(t)
	for _, tc := range []struct {
		labels   map[string]string
		action   string        // "": none in any step
		approval time.Duration // 0: runs without one
		dryRun   bool
	}{
		// failover_execution for the primary that is down: major, approved
		{map[string]string{"alertname": "PostgresDown", "severity": "critical", "job": "pgha"}, "failover_execution", 10 * time.Minute, false},
		// connection_pool_reset for the connections above 85%
		{map[string]string{"alertname": "PostgresConnectionsCritical", "severity": "critical"}, "connection_pool_reset", 0, true},
		// service_restart for the application that is down
		{map[string]string{"alertname": "HotelAppDown", "severity": "critical"}, "service_restart", 0, true},
		// cache_clear for the response time above 500ms
		{map[string]string{"alertname": "HotelAppLatencyHigh", "severity": "warning"}, "cache_clear", 0, true},
		// alerts no action answers, though they share the escalation of one
		{map[string]string{"alertname": "HotelAppUnreachable", "severity": "critical"}, "", 0, false},
		{map[string]string{"alertname": "HotelAppLatencyCritical", "severity": "critical"}, "", 0, false},
		{map[string]string{"alertname": "HotelAppErrorRateHigh", "severity": "warning"}, "", 0, false},
		{map[string]string{"alertname": "PostgresConnectionsHigh", "severity": "warning"}, "", 0, false},
		{map[string]string{"alertname": "PostgresReplicationLagCritical", "severity": "critical"}, "", 0, false},
		{map[string]string{"alertname": "SLOLatencyBudgetBurn", "severity": "critical"}, "", 0, false},
		{map[string]string{"alertname": "MyOwnAlert", "severity": "critical"}, "", 0, false},
		{map[string]string{"alertname": "MyOwnAlert"}, "", 0, false},
	} {
		p := c.Match(tc.labels)
		if p == nil {
			t.Errorf("%v: no policy", tc.labels)
			continue
		}
		if tc.action == "" {
			if p.HasActions() {
				t.Errorf("%v (%s): runs actions %+v, which answer other alerts", tc.labels, p.Name, p.Steps)
			}
			continue
		}
		for i, st := range p.Steps {
			want := []string(nil)
			if i == 0 {
				want = []string{tc.action}
			}
			if !slices.Equal(st.Actions, want) {
				t.Errorf("%v (%s): step %d runs %v, want %v", tc.labels, p.Name, i, st.Actions, want)
			}
		}
		a, ok := c.Actions[tc.action]
		if !ok {
			t.Errorf("%s: not in actions:", tc.action)
			continue
		}
		l := a.Limits()
		if l.Approval != tc.approval || l.DryRun != tc.dryRun {
			t.Errorf("%s: approval %v, dry run %v; want %v, %v", tc.action, l.Approval, l.DryRun, tc.approval, tc.dryRun)
		}
		if l.BudgetMax > 3 || l.Cooldown < 10*time.Minute {
			t.Errorf("%s: budget %d per %v, cooldown %v: not conservative", tc.action, l.BudgetMax, l.BudgetWindow, l.Cooldown)
		}
		if a.Rollback == "" {
			t.Errorf("%s: no rollback plan", tc.action)
		}
	}
	if len(c.Actions) != 4 {
		t.Errorf("actions: %d, want the spec's four", len(c.Actions))
	}
}

// An action's first step pages what it paged without the action, at the
// same time: the split policy keeps its class's steps.
func TestRecoveryKeepsThePages(t *testing.T) {
	with := load(t)
	without := load(t, spec.Layer{Name: "off.yml", Data: []byte(
		"recovery: {service_restart: {answers: [HotelAppUnreachable]}, cache_clear: {answers: [HotelAppLatencyCritical]}, connection_pool_reset: {answers: [PostgresSlowQueriesCritical]}, failover_execution: {answers: [PostgresStandbyDisconnected]}}\n")})
	for _, alert := range []string{"HotelAppDown", "HotelAppLatencyHigh", "PostgresConnectionsCritical", "PostgresDown"} {
		ls := map[string]string{"alertname": alert}
		a, b := with.Match(ls), without.Match(ls)
		if len(a.Steps) != len(b.Steps) {
			t.Fatalf("%s: %d steps with its action, %d without", alert, len(a.Steps), len(b.Steps))
		}
		for i := range a.Steps {
			if a.Steps[i].After != b.Steps[i].After || !slices.Equal(a.Steps[i].Notify, b.Steps[i].Notify) {
				t.Errorf("%s step %d: %+v with its action, %+v without", alert, i, a.Steps[i], b.Steps[i])
			}
		}
		if b.HasActions() {
			t.Errorf("%s: moved answers still run %+v", alert, b.Steps)
		}
	}
}

// Enabling an action is an override of the spec: dry_run: false.
func TestRecoveryEnabledByOverride(t *testing.T) {
	c := load(t, spec.Layer{Name: "on.yml", Data: []byte("recovery: {cache_clear: {action: {dry_run: false}}}\n")})
	clear, restart := c.Actions["cache_clear"], c.Actions["service_restart"]
	if clear.Limits().DryRun {
		t.Errorf("cache_clear is still a dry run")
	}
	if !restart.Limits().DryRun {
		t.Errorf("service_restart was enabled too")
	}
}
