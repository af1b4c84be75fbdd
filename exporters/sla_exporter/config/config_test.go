package config

import (
	"os"
	"strings"
	"testing"
	"time"

	amconfig "github.com/prometheus/alertmanager/config"
	"go.yaml.in/yaml/v3"
)

func TestShippedExampleParses(t *testing.T) {
	data, err := os.ReadFile("../examples/hotel.yml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse("hotel.yml", data)
	if err != nil {
		t.Fatal(err)
	}
	if c.SLA.Location.String() != "Asia/Tokyo" || c.SLA.Maintenance.CountAsDowntime {
		t.Errorf("SLA: %s, maintenance counted %v", c.SLA.Location, c.SLA.Maintenance.CountAsDowntime)
	}
	if got := c.SLA.SLOs[0].Objective.Value; got != 0.9999 {
		t.Errorf("availability objective %v", got)
	}
	// The monthly window holds the first Sunday of December 2026 at 03:00 in Tokyo.
	sunday := time.Date(2026, 12, 6, 3, 0, 0, 0, c.SLA.Location)
	if !c.SLA.Maintenance.TimeIntervals[0].TimeIntervals[0].ContainsTime(sunday) {
		t.Error("monthly maintenance window does not hold the first Sunday 03:00")
	}
}

// Each mistake is reported with its file, line and field.
func TestErrorsPointAtTheLine(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{"redis: {addr: x:1}\nqueries:\n  - name: a\n    redis: {command: SET, key: k, metric: m}\n", `t.yml:4: queries[0].redis.command: "SET" is not an allowed read-only command`},
		{"redis: {addr: x:1}\nqueries:\n  - name: a\n    redis: {command: ZCOUNT, key: k, metric: m}\n", `queries[0].redis.min: required for ZCOUNT`},
		{"database: {dsn_file: /x}\nqueries:\n  - name: a\n    interval: 5s\n    timeout: 10s\n    sql: select 1 as v\n    metrics: [{name: m, value: v}]\n", `t.yml:5: queries[0].timeout: must be positive and at most the interval`},
		{"database: {dsn_file: /x}\nqueries:\n  - name: a\n    sql: select 1 as v\n    metrics: [{name: orders, type: counter, value: v}]\n", `a counter's name ends in _total`},
		{"database: {dsn_file: /x}\nqueries:\n  - name: a\n    sql: select 1 as v\n    metrics: [{name: sla_query_up, value: v}]\n", `one of the exporter's own metrics`},
		{"database: {dsn_file: /x}\nqueries:\n  - name: a\n    sql: select 1 as v\n    metrics: [{name: m, value: v, labels: [query]}]\n", `label query is the exporter's own`},
		{"database: {dsn_file: /x}\nqueries:\n  - name: a\n    sql: select 1 as v\n    metrics: [{name: m, value: v}]\n  - name: a\n    sql: select 1 as v\n    metrics: [{name: m2, value: v}]\n", `"a" is used by another query`},
		{"database: {dsn_file: /x}\nqueries:\n  - name: a\n    metrics: [{name: m, value: v}]\n", `queries[0].sql: required`},
		{"queries:\n  - name: a\n    sql: select 1 as v\n    metrics: [{name: m, value: v}]\n", `an sql query needs the database section`},
		{"database: {dsn_file: /x, dsn_env: Y}\n", `set only one of dsn_file and dsn_env`},
		{"sla:\n  prometheus_url: ftp://x\n  slos: [{name: a, objective: 99.99%, up: up}]\n", `sla.prometheus_url: must be an http or https URL`},
		{"sla:\n  prometheus_url: http://x\n  timezone: Mars/Olympus\n  slos: [{name: a, objective: 99.99%, up: up}]\n", `t.yml:3: sla.timezone: unknown time zone`},
		{"sla:\n  prometheus_url: http://x\n  step: 7m\n  slos: [{name: a, objective: 99.99%, up: up}]\n", `sla.step: must divide an hour`},
		{"sla:\n  prometheus_url: http://x\n  slos: [{name: a, objective: 100%, up: up}]\n", `must be between 0 and 100%`},
		{"sla:\n  prometheus_url: http://x\n  slos: [{name: a, objective: 99%, up: up, good: g, total: t}]\n", `either uptime (up) or requests`},
		{"sla:\n  prometheus_url: http://x\n  slos: [{name: a, objective: 99%, good: g}]\n", `give up (uptime), or good and total`},
		{"sla:\n  prometheus_url: http://x\n  slos:\n    - {name: a, objective: 99.99%, up: 'min(up{job=\"x\"}'}\n", `t.yml:4: sla.slos[0].up: invalid PromQL`},
		{"sla:\n  prometheus_url: http://x\n  slos:\n    - {name: a, objective: 199.99%, up: up}\n", `t.yml:4: sla.slos[0].objective: "199.99%" must be between 0 and 100%`},
		{"sla:\n  prometheus_url: http://x\n  slos:\n    - {name: a, objective: 99.99, up: up}\n", `99.99 is not a ratio: write 99.99% (or 0.9999 as a fraction)`},
		{"sla:\n  prometheus_url: http://x\n  slos:\n    - {name: a, objective: 99%, good: 'sum(g)', total: t}\n", `sla.slos[0].good: want a series selector`},
		{"sla:\n  prometheus_url: http://x\n  slos: [{name: a, objective: 99%, up: up}]\nreports:\n  forecasts: [{name: d, expr: 'rate(x)'}]\n", `reports.forecasts[0].expr: invalid PromQL`},
		{"escalator: {url: http://x}\n", `escalator.token_file: required`},
		{"{}\n", `nothing to do`},
		{"database: {dsn_file: /x}\nqueries:\n  - name: a\n    nonsense: 1\n", `field nonsense not found`},
	} {
		_, err := Parse("t.yml", []byte(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q:\n got %v\nwant %q", tc.doc, err, tc.want)
		}
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse("t.yml", []byte("database: {dsn_env: DSN}\nqueries:\n  - name: a\n    interval: 5s\n    sql: select 1 as v\n    metrics: [{name: m, value: v}]\nsla:\n  prometheus_url: http://127.0.0.1:9090\n  slos: [{name: a, objective: '0.999', up: up}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	q := c.Queries[0]
	if time.Duration(q.Timeout) != 5*time.Second || q.MaxSeries != DefaultMaxSeries || q.Metrics[0].Type != "gauge" {
		t.Errorf("query defaults: %+v", q)
	}
	s := c.SLA
	if s.Timezone != "Asia/Tokyo" || len(s.Spans) != 3 || time.Duration(s.Step) != time.Minute || s.SLOs[0].Objective.Value != 0.999 {
		t.Errorf("sla defaults: %+v", s)
	}
}

func TestScoreAt(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	for in, want := range map[string]string{"now": "1000000", "now-15m": "999100", "-inf": "-inf", "+inf": "+inf", "12.5": "12.5"} {
		s, err := ParseScore(in)
		if err != nil || s.At(now) != want {
			t.Errorf("%s: %q %v, want %s", in, s.At(now), err, want)
		}
	}
	for _, bad := range []string{"", "now+5m", "now-x", "soon"} {
		if _, err := ParseScore(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// The example's maintenance windows are the spec's, as mixgen writes
// them into alertmanager.yml: the SLA excludes exactly the windows the
// alerts are muted in.
func TestExampleWindowsAreTheGenerated(t *testing.T) {
	data, err := os.ReadFile("../examples/hotel.yml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse("hotel.yml", data)
	if err != nil {
		t.Fatal(err)
	}
	am, err := os.ReadFile("../../../alertmanager/alertmanager.yml")
	if err != nil {
		t.Fatal(err)
	}
	var generated struct {
		TimeIntervals []amconfig.TimeInterval `yaml:"time_intervals"`
	}
	if err := yaml.Unmarshal(am, &generated); err != nil {
		t.Fatal(err)
	}
	canon := func(ti amconfig.TimeInterval) string {
		b, err := yaml.Marshal(ti)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	want := map[string]string{}
	for _, ti := range generated.TimeIntervals {
		want[ti.Name] = canon(ti)
	}
	if len(c.SLA.Maintenance.TimeIntervals) == 0 {
		t.Fatal("the example has no maintenance windows")
	}
	for _, ti := range c.SLA.Maintenance.TimeIntervals {
		if got := canon(ti); got != want[ti.Name] {
			t.Errorf("window %s:\n%s\nalertmanager.yml has:\n%s", ti.Name, got, want[ti.Name])
		}
	}
}
