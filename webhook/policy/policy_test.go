package policy

import (
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

const doc = `
policies:
  - name: database-down
    matchers: ['alertname="PostgresDown"']
    steps: [{after: 0s, notify: [dba]}]
  - name: warning
    matchers: ['severity="warning"', 'category!="resource"']
    steps: [{after: 1h, notify: [manager]}]
    repeat: {every: 30m, times: 2}
`

func load(t testing.TB, s string) (*File, error) {
	var f File
	if err := yaml.Unmarshal([]byte(s), &f); err != nil {
		return nil, err
	}
	return &f, f.Validate(map[string]bool{"dba": true, "manager": true}, nil)
}

func TestMatchAndSteps(t *testing.T) {
	f, err := load(t, doc)
	if err != nil {
		t.Fatal(err)
	}
	if p := f.Match(map[string]string{"alertname": "PostgresDown", "severity": "critical"}); p == nil || p.Name != "database-down" {
		t.Errorf("PostgresDown → %v", p)
	}
	if p := f.Match(map[string]string{"alertname": "NodeCPUHigh", "severity": "warning", "category": "resource"}); p != nil {
		t.Errorf("resource warning matched %s", p.Name)
	}
	w := f.Match(map[string]string{"alertname": "X", "severity": "warning"})
	var afters []time.Duration
	for n := 0; ; n++ {
		_, after, ok := w.StepAt(n)
		if !ok {
			break
		}
		afters = append(afters, after)
	}
	if len(afters) != 3 || afters[0] != time.Hour || afters[2] != 2*time.Hour {
		t.Errorf("steps at %v, want 1h 1h30m 2h", afters)
	}
}

func TestInvalidPoliciesNameTheField(t *testing.T) {
	for _, c := range []struct{ doc, want string }{
		{"policies:\n  - {name: a, matchers: ['severity=~\"(\"'], steps: [{after: 0s, notify: [dba]}]}\n", "policies[0] (a).matchers[0]"},
		{"policies:\n  - {name: a, steps: [{after: 1h, notify: [dba]}, {after: 5m, notify: [dba]}]}\n", "steps[1].after"},
		{"policies:\n  - {name: a, steps: [{after: 0s, notify: [pager]}]}\n", `unknown channel "pager"`},
		{"policies: []\n", "none defined"},
	} {
		if _, err := load(t, c.doc); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.doc, err, c.want)
		}
	}
}

func FuzzPolicy(f *testing.F) {
	f.Add(doc)
	f.Fuzz(func(t *testing.T, s string) {
		p, err := load(t, s)
		if err != nil {
			return
		}
		for i := range p.Policies {
			for n := 0; n < 5; n++ {
				p.Policies[i].StepAt(n)
			}
		}
		p.Match(map[string]string{"alertname": "x"})
	})
}
