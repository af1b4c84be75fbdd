package escalator

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hotel-ops/hotel-ops/mixin/spec"
	"github.com/hotel-ops/hotel-ops/webhook/config"
)

// The generated configuration loads as escalator loads it, and each of
// the spec's escalations selects the alerts that name it, at its delay,
// to its channel.
func TestGeneratedPoliciesFollowTheSpec(t *testing.T) {
	s, err := spec.Load()
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
	for _, tc := range []struct {
		labels  map[string]string
		policy  string
		after   time.Duration
		channel string
	}{
		{map[string]string{"alertname": "HotelAppDown", "severity": "critical"}, "system_down", 15 * time.Minute, "manager"},
		{map[string]string{"alertname": "PostgresDown", "severity": "critical"}, "database_down", 0, "dba"},
		{map[string]string{"alertname": "BruteForceSuspected", "severity": "critical"}, "security_breach", 0, "security_team"},
		{map[string]string{"alertname": "NodeCPUHigh", "severity": "warning"}, "resource_usage", 2 * time.Hour, "manager"},
		{map[string]string{"alertname": "HotelAppErrorRateHigh", "severity": "warning"}, "warning", time.Hour, "manager"},
	} {
		p := c.Match(tc.labels)
		if p == nil || p.Name != tc.policy {
			t.Errorf("%v: policy %v, want %s", tc.labels, p, tc.policy)
			continue
		}
		st, after, _ := p.StepAt(0)
		if after != tc.after || len(st.Notify) != 1 || st.Notify[0] != tc.channel {
			t.Errorf("%s: first step %v to %v, want %v to %s", tc.policy, after, st.Notify, tc.after, tc.channel)
		}
	}
	if e := s.Escalations.Steps["system_down"]; e.After.D() != 15*time.Minute {
		t.Errorf("the spec's system_down escalation is %v, the test expects 15m", e.After.D())
	}
}
