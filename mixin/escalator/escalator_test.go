package escalator

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
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
	// Each alert's first step pages, at once, the channels routing names
	// (escalator sends the first page, with its acknowledgement link), and
	// its escalation follows: from アラート設定 / escalation.
	for _, tc := range []struct {
		labels map[string]string
		first  []string
		after  time.Duration // of the escalation; 0: none after the first page
		to     string
	}{
		// system_down: 15分後にマネージャーに通知
		{map[string]string{"alertname": "HotelAppDown", "severity": "critical"}, []string{"pagerduty", "slack", "email"}, 15 * time.Minute, "manager"},
		{map[string]string{"alertname": "HotelAppUnreachable", "severity": "critical"}, []string{"pagerduty", "slack", "email"}, 15 * time.Minute, "manager"},
		// database_down: 即座にDBAに通知
		{map[string]string{"alertname": "PostgresDown", "severity": "critical"}, []string{"pagerduty", "slack", "email", "dba"}, 0, ""},
		// security_breach: pagerduty, security_team; 即座にセキュリティチームに通知
		{map[string]string{"alertname": "BruteForceSuspected", "severity": "critical"}, []string{"pagerduty", "security_team"}, 0, ""},
		// resource_usage: notification ['slack'], 2時間後にエスカレーション
		{map[string]string{"alertname": "NodeCPUHigh", "severity": "warning"}, []string{"slack"}, 2 * time.Hour, "manager"},
		// high_error_rate: ['slack', 'email'], 1時間後にエスカレーション
		{map[string]string{"alertname": "HotelAppErrorRateHigh", "severity": "warning"}, []string{"slack", "email"}, time.Hour, "manager"},
		// every other critical escalates too (suite default: as system_down)
		{map[string]string{"alertname": "HotelAppErrorRateCritical", "severity": "critical"}, []string{"pagerduty", "slack", "email"}, 15 * time.Minute, "manager"},
		{map[string]string{"alertname": "PostgresReplicationLagCritical", "severity": "critical"}, []string{"pagerduty", "slack", "email", "dba"}, 15 * time.Minute, "manager"},
		{map[string]string{"alertname": "SLOAvailabilityBudgetBurn", "severity": "critical"}, []string{"pagerduty", "slack", "email"}, 15 * time.Minute, "manager"},
		{map[string]string{"alertname": "SLOAvailabilityBudgetBurn", "severity": "warning"}, []string{"slack", "email"}, time.Hour, "manager"},
		// an alert written by hand outside the spec
		{map[string]string{"alertname": "MyOwnAlert", "severity": "critical"}, []string{"pagerduty", "slack", "email"}, 15 * time.Minute, "manager"},
	} {
		p := c.Match(tc.labels)
		if p == nil {
			t.Errorf("%v: no policy", tc.labels)
			continue
		}
		st, after, _ := p.StepAt(0)
		if after != 0 || !slices.Equal(st.Notify, tc.first) {
			t.Errorf("%v (%s): first step %v to %v, want at once to %v", tc.labels, p.Name, after, st.Notify, tc.first)
		}
		next, after, ok := p.StepAt(1)
		switch {
		case tc.to == "" && ok:
			t.Errorf("%v (%s): a second step %v to %v, want none", tc.labels, p.Name, after, next.Notify)
		case tc.to != "" && (!ok || after != tc.after || !slices.Equal(next.Notify, []string{tc.to})):
			t.Errorf("%v (%s): second step %v to %v, want %v to %s", tc.labels, p.Name, after, next.Notify, tc.after, tc.to)
		}
	}
	// Directly paged alerts never reach escalator: it needs no policy for
	// them, and has none.
	for _, p := range c.Policies {
		for _, m := range p.Matchers {
			if strings.Contains(m, "EscalatorDown") || strings.Contains(m, "EscalatorNotificationsFailing") {
				t.Errorf("policy %s names a directly paged alert: %s", p.Name, m)
			}
		}
	}
	if c.Alertmanager == nil || !slices.Equal(c.Alertmanager.URLs, s.Delivery.AlertmanagerURLs) || c.Alertmanager.SilenceOnAck == 0 {
		t.Errorf("alertmanager section %+v: want the spec's peers and silence on acknowledgement", c.Alertmanager)
	}
	// Planned stops: at most 1 h (monthly) and 4 h (quarterly).
	for name, max := range map[string]time.Duration{"monthly": time.Hour, "quarterly": 4 * time.Hour} {
		i := slices.IndexFunc(c.Maintenance, func(m config.Maintenance) bool { return m.Name == name })
		if i < 0 || time.Duration(c.Maintenance[i].Max) != max || len(c.Maintenance[i].Silences) == 0 {
			t.Errorf("planned stop %s: %+v, want at most %v", name, c.Maintenance, max)
		}
	}
	if e := s.Escalations.Steps["system_down"]; e.After.D() != 15*time.Minute {
		t.Errorf("the spec's system_down escalation is %v, the test expects 15m", e.After.D())
	}
}

// An alert no policy escalates is refused, unless the spec says so.
func TestUnescalatedAlertIsRefused(t *testing.T) {
	over := "alerts: {HotelAppErrorRateHigh: {severity: info}}\n"
	s, err := spec.Merge(spec.Layer{Name: "o.yml", Data: []byte(over)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(s); err == nil || !strings.Contains(err.Error(), "HotelAppErrorRateHigh: no policy escalates it") {
		t.Fatalf("Generate: %v, want a refusal naming the alert", err)
	}
	s, err = spec.Merge(spec.Layer{Name: "o.yml", Data: []byte("alerts: {HotelAppErrorRateHigh: {severity: info, escalation: none}}\n")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(s); err != nil {
		t.Fatalf("escalation: none is refused: %v", err)
	}
}
