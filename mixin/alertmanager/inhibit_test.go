package alertmanager

import (
	"testing"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"
)

func lset(kv ...string) model.LabelSet {
	ls := model.LabelSet{}
	for i := 0; i < len(kv); i += 2 {
		ls[model.LabelName(kv[i])] = model.LabelValue(kv[i+1])
	}
	return ls
}

func TestInhibitRules(t *testing.T) {
	_, cfg := generated(t, merged(t))
	if len(cfg.InhibitRules) != 2 {
		t.Fatalf("%d inhibit rules, want 2", len(cfg.InhibitRules))
	}
	pair, down := cfg.InhibitRules[0], cfg.InhibitRules[1]

	src, dst := labels.Matchers(pair.SourceMatchers), labels.Matchers(pair.TargetMatchers)
	if !src.Matches(lset("severity", "critical", "signal", "cpu")) || src.Matches(lset("severity", "critical")) || src.Matches(lset("severity", "warning", "signal", "cpu")) {
		t.Errorf("signal rule sources: %v", src)
	}
	if !dst.Matches(lset("severity", "warning", "signal", "cpu")) || dst.Matches(lset("severity", "critical")) {
		t.Errorf("signal rule targets: %v", dst)
	}
	if got := pair.Equal; len(got) != 3 || got[0] != "signal" || got[1] != "instance" || got[2] != "job" {
		t.Errorf("signal rule equal %v", got)
	}

	src, dst = labels.Matchers(down.SourceMatchers), labels.Matchers(down.TargetMatchers)
	if !src.Matches(lset("alertname", "PostgresDown", "severity", "critical", "team", "database")) || src.Matches(lset("alertname", "PostgresConnectionsHigh")) {
		t.Errorf("PostgresDown rule sources: %v", src)
	}
	// Every other alert of that database, critical too (the lag of a
	// stopped standby), but never PostgresDown itself.
	if !dst.Matches(lset("alertname", "PostgresSlowQueries", "severity", "warning", "team", "database")) ||
		!dst.Matches(lset("alertname", "PostgresReplicationLagCritical", "severity", "critical", "team", "database")) ||
		dst.Matches(lset("severity", "warning", "team", "app")) || dst.Matches(lset("alertname", "PostgresDown", "severity", "critical", "team", "database")) {
		t.Errorf("PostgresDown rule targets: %v", dst)
	}
	if len(down.Equal) != 1 || down.Equal[0] != "instance" {
		t.Errorf("PostgresDown rule equal %v", down.Equal)
	}

	// Without PostgresDown there is nothing to inhibit by.
	_, off := generated(t, merged(t, "alerts: {PostgresDown: {enabled: false}}\n"))
	if len(off.InhibitRules) != 1 {
		t.Errorf("PostgresDown disabled: %d inhibit rules, want 1", len(off.InhibitRules))
	}
}
