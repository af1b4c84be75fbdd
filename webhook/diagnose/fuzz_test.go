package diagnose

import (
	"testing"

	"github.com/hotel-ops/hotel-ops/internal/yamlconf"
)

// FuzzChecks feeds arbitrary configuration to the decoder and Validate,
// then to New and For, which must never panic whatever the file holds.
func FuzzChecks(f *testing.F) {
	for _, seed := range []string{
		"diagnostics:\n  - name: api\n    type: http\n    url: http://h/health\n    expect_status: [200]\n    max_latency: 1s\n",
		"diagnostics:\n  - name: db\n    type: postgres\n    dsn_file: /x\n    timeout: 31s\n",
		"diagnostics:\n  - name: c\n    type: redis\n    addr: h:6379\n    db: -1\n    matchers: ['a=~\"(\"', 'b!=\"\"']\n",
		"diagnostics:\n  - {name: t, type: tcp, addr: ':0'}\n  - {name: t, type: tcp, addr: 'h:1'}\n",
		"diagnostics:\n  - name: x\n    type: http\n    url: '%zz'\n    method: get\n    timeout: -1s\n",
		"diagnostics: []\n",
		"diagnostics:\n  - {}\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var cfg struct {
			Diagnostics []Check `yaml:"diagnostics"`
		}
		if err := yamlconf.Parse("fuzz.yml", data, &cfg); err != nil {
			return
		}
		valid := true
		for i := range cfg.Diagnostics {
			if err := cfg.Diagnostics[i].Validate("diagnostics[0]"); err != nil {
				valid = false
				_ = err.Error()
			}
		}
		r, err := New(cfg.Diagnostics)
		if err != nil {
			return
		}
		if !valid {
			t.Fatalf("New accepted checks that Validate rejects: %+v", cfg.Diagnostics)
		}
		defer r.Close()
		_ = r.For(nil)
		_ = r.For(map[string]string{"service": "api", "severity": "critical", "": "x"})
	})
}
