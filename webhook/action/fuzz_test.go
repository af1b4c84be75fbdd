package action

import (
	"errors"
	"strings"
	"testing"

	"github.com/hotel-ops/hotel-ops/internal/yamlconf"
)

// FuzzConfig: whatever escalator.yml holds under actions, decoding and
// Validate do not panic (nor hang: templates cannot loop), every problem
// is a *yamlconf.FieldError under its action's path, and a configuration
// Validate accepts has Limits within the documented bounds and labels
// that Allowed can check.
func FuzzConfig(f *testing.F) {
	for _, s := range []string{
		"actions:\n  a:\n    type: http\n    category: emergency\n    rollback: r\n    url: http://h/{{.i}}\n    labels: {i: '[a-z]+'}\n",
		"actions:\n  a:\n    type: exec\n    category: emergency\n    rollback: r\n    dry_run: false\n    command: [/bin/true, '{{.i}}']\n    env: {A: '{{index . \"i\"}}'}\n    labels: {i: '.*'}\n    target_labels: [i]\n",
		"actions:\n  a:\n    type: redis_cache_clear\n    category: standard\n    rollback: r\n    redis_addr: h:1\n    pattern: 'x:{{.i}}:*'\n    max_keys: 5\n    labels: {i: '.+'}\n    budget: {max: 1, window: 1h}\n",
		"actions:\n  a:\n    type: redis_cache_clear\n    category: major\n    rollback: r\n    redis_addr: h:1\n    flush_db: true\n    redis_db: 2\n",
		"actions:\n  a:\n    type: postgres_pool_reset\n    category: emergency\n    rollback: r\n    dsn_env: DSN\n    database: '{{.db}}'\n    state: idle\n    idle_for: 5m\n    max: 3\n    labels: {db: '\\w+'}\n    timeout: 1m\n    cooldown: 1h\n",
		"actions:\n  a:\n    type: http\n    body: '{{range 100000000}}{{end}}{{define \"x\"}}{{template \"x\"}}{{end}}'\n",
		"actions:\n  a:\n    type: exec\n    command: ['{{.x}}']\n    labels: {'': '('}\n    target_labels: [y, y]\n",
		"actions: {a: {type: http, url: 'http://{{.h}}/', timeout: 99y, budget: {max: -1}}}\n",
		"actions: {a: null, b: {}}\n",
		"actions:\n  a:\n    type: postgres_failover\n    category: major\n    rollback: r\n    primary_dsn_file: /p\n    standby_dsn_env: S\n    other_dsn_files: [/o1, /o2]\n    unreachable_for: 10s\n    max_lag: 5s\n    max_lag_bytes: 1048576\n    timeout: 1m\n    labels: {cluster: main}\n",
		"actions: {a: {type: postgres_failover, category: emergency, rollback: r, primary_dsn_file: /p, primary_dsn_env: P, other_dsn_files: ['', /p, /p], unreachable_for: 1s, max_lag: 1s, max_lag_bytes: -1, timeout: 30s}}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var file struct{ Actions map[string]Config }
		if err := yamlconf.Parse("fuzz.yml", data, &file); err != nil {
			return
		}
		for name, c := range file.Actions {
			path := "actions." + name
			err := c.Validate(path)
			for _, e := range flattenErr(err) {
				var fe *yamlconf.FieldError
				if !errors.As(e, &fe) || !strings.HasPrefix(fe.Path, path+".") {
					t.Fatalf("%v: not a FieldError under %s", e, path)
				}
			}
			if err != nil {
				continue
			}
			l := c.Limits()
			if l.Timeout <= 0 || l.Timeout > MaxTimeout || l.Cooldown <= 0 || l.BudgetMax < 1 || l.BudgetWindow <= 0 {
				t.Fatalf("limits out of bounds: %+v", l)
			}
			if c.Category != CategoryEmergency && l.Approval <= 0 {
				t.Fatalf("a %s change runs without approval", c.Category)
			}
			sample := map[string]string{}
			for k := range c.Labels {
				sample[k] = "sample"
			}
			_, _ = c.Allowed(sample)
			_ = c.Target(sample)
		}
	})
}
