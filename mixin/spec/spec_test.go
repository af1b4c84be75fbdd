package spec

import (
	"strings"
	"testing"
)

func TestDefaultsValid(t *testing.T) {
	s, err := Merge()
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Thresholds["response_time"].Warning.PromQL(); got != "0.5" {
		t.Errorf("response_time.warning = %s, want 0.5", got)
	}
	if got := s.SLOs["availability"].Objective.PromQL(); got != "0.9999" {
		t.Errorf("availability objective = %s, want 0.9999", got)
	}
	if len(s.AlertNames()) < 40 {
		t.Errorf("only %d alerts", len(s.AlertNames()))
	}
}

func TestOverrideMerges(t *testing.T) {
	s, err := Merge(Layer{Name: "mine.yml", Data: []byte(`
timezone: Europe/Berlin
selectors: {app: 'job="booking"'}
thresholds:
  replication_lag: {warning: 5s}
alerts:
  NodeCPUHigh: {enabled: false}
  PostgresDown: {for: 3m, labels: {pager: dba-oncall}}
`)})
	if err != nil {
		t.Fatal(err)
	}
	if s.Timezone != "Europe/Berlin" || s.Selectors["app"] != `job="booking"` || s.Selectors["node"] != `job="node"` {
		t.Errorf("selectors or time zone not merged: %q %v", s.Timezone, s.Selectors)
	}
	lag := s.Thresholds["replication_lag"]
	if lag.Warning.Raw != "5s" || lag.Critical.Raw != "30s" || lag.Section == "" {
		t.Errorf("replication_lag merged to %+v", lag)
	}
	if s.Alerts["NodeCPUHigh"].On() {
		t.Error("NodeCPUHigh still enabled")
	}
	pd := s.Alerts["PostgresDown"]
	if pd.For.String() != "3m" || pd.Labels["pager"] != "dba-oncall" || pd.Severity != "critical" {
		t.Errorf("PostgresDown patched to %+v", pd)
	}
}

func TestInvalidOverridesNameTheField(t *testing.T) {
	for _, c := range []struct{ doc, want string }{
		{"thresholds:\n  cpu: {warning: 90%}\n", "mine.yml:2: thresholds.cpu.warning: 90% must be below critical 85%"},
		{"alerts:\n  NoSuchAlert: {for: 5m}\n", "mine.yml:2: alerts.NoSuchAlert: unknown alert"},
		{"alerts:\n  PostgresDown:\n    for: soon\n", `"soon" is not a duration`},
		{"thresholds:\n  error_rate: {warning: 500ms}\n", "thresholds.error_rate.warning: 500ms: expected a percentage"},
		{"thresholds:\n  cpu: {warnign: 50%}\n", "field warnign not found"},
		{"timezone: Mars/Olympus\n", "mine.yml:1: timezone:"},
		{"selectors: {app: 'job=='}\n", "selectors.app"},
		{"maintenance:\n  - {name: x, times: [{start: '22:00', end: '06:00'}], mutes: [{team: app}]}\n", "maintenance.0.times.0: start"},
		{"alerts:\n  PostgresDown: {labels: {v: '{{ $value }}'}}\n", "alerts.PostgresDown.labels.v: labels must not be templated"},
		{"routing:\n  severities: {critical: [carrier_pigeon]}\n", `unknown channel "carrier_pigeon"`},
		{"backup:\n  rpo: {gold: 2h}\n", "backup.rpo.gold: unknown tier (known: critical, high, medium, low)"},
		{"backup:\n  rto: {high: 0s}\n", "backup.rto.high: must be a positive duration"},
		{"backup:\n  verify_every: 0s\n", "backup.verify_every: must be a positive duration"},
	} {
		_, err := Merge(Layer{Name: "mine.yml", Data: []byte(c.doc)})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want it to contain %q", c.doc, err, c.want)
		}
	}
}

func TestValueExact(t *testing.T) {
	for in, want := range map[string]string{"99.99%": "0.9999", "500ms": "0.5", "30d": "2592000", "14.4": "14.4", "1%": "0.01", "0.1%": "0.001"} {
		v, err := ParseValue(in)
		if err != nil || v.PromQL() != want {
			t.Errorf("%s → %s, %v; want %s", in, v.PromQL(), err, want)
		}
	}
	for _, in := range []string{"", "fast", "-1", "1%%", "5 m"} {
		if _, err := ParseValue(in); err == nil {
			t.Errorf("%q parsed", in)
		}
	}
}

// A threshold naming a table by tier is the whole table for the rules and
// its critical row (pitr_exporter's default tier) as a single value.
func TestTableThresholdIsItsCriticalRow(t *testing.T) {
	s, err := Merge(Layer{Name: "mine.yml", Data: []byte("backup:\n  rpo: {critical: 5m}\n")})
	if err != nil {
		t.Fatal(err)
	}
	if v := s.Threshold("RPOExceeded"); v.Raw != "5m" {
		t.Errorf("RPOExceeded's threshold %s, want the critical row 5m", v.Raw)
	}
	if table, ok := s.PerTier(s.Alerts["RPOExceeded"].Threshold); !ok || table["high"].Raw != "1h" {
		t.Errorf("RPOExceeded's table %v, %v", table, ok)
	}
	if _, ok := s.PerTier(s.Alerts["BackupCrossRegionCopyStale"].Threshold); ok {
		t.Error("backup.rpo.critical is one value, not a table")
	}
	if got := TierList(s.Backup.RTO); got != "critical 1h, high 4h, medium 8h, low 24h" {
		t.Errorf("TierList %q", got)
	}
}
