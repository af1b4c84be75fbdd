package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hotel-ops/hotel-ops/internal/testenv"
	"github.com/hotel-ops/hotel-ops/mixin/spec"
)

// The scrape_configs the demo prints for users to copy are a valid
// prometheus.yml, with the /probe relabelling intact.
func TestPrintedScrapeConfigsCheck(t *testing.T) {
	promtool := testenv.Tool(t, "promtool")
	jobs := []testenv.ScrapeJob{
		{JobName: "hotel-saas", Targets: []string{"127.0.0.1:8080"}},
		{JobName: "pgha", MetricsPath: "/probe", Targets: []string{"primary", "standby1"}, RelabelConfigs: `
- source_labels: [__address__]
  target_label: __param_target
- source_labels: [__param_target]
  target_label: instance
- target_label: __address__
  replacement: 127.0.0.1:9187
`},
	}
	out := scrapeConfigs(jobs)
	for _, want := range []string{"job_name: hotel-saas", "metrics_path: /probe", "target_label: __param_target", "replacement: 127.0.0.1:9187"} {
		if !strings.Contains(out, want) {
			t.Errorf("printed configuration lacks %q:\n%s", want, out)
		}
	}
	cfg := filepath.Join(t.TempDir(), "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(promtool, "check", "config", cfg).CombinedOutput(); err != nil {
		t.Fatalf("promtool check config: %v\n%s\n%s", err, b, out)
	}
}

// Every fault `demo fault -h` lists says which alerts it causes, and
// those are alerts of the shipped spec: a renamed alert must not leave
// the demo promising a page that no longer exists.
func TestFaultsNameShippedAlerts(t *testing.T) {
	s, err := spec.Load()
	if err != nil {
		t.Fatal(err)
	}
	name := regexp.MustCompile(`\b[A-Z][a-z]+(?:[A-Z][a-z]+)+\b`)
	for _, f := range faultNames() {
		help := faultTable[f].help
		if faultTable[f].do == nil || help == "" {
			t.Errorf("fault %s has no action or no help", f)
		}
		for _, a := range name.FindAllString(help, -1) {
			if _, ok := s.Alerts[a]; !ok {
				t.Errorf("fault %s promises %s, which is not an alert of the spec", f, a)
			}
		}
	}
	if got := name.FindAllString(faultTable["system-down"].help, -1); !slices.Equal(got, []string{"HotelAppDown"}) {
		t.Errorf("alert names read from system-down's help: %q", got)
	}
}
