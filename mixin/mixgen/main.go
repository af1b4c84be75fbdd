// Command mixgen generates the suite's Prometheus rules and their promtool
// tests, Grafana dashboards, Alertmanager configuration and runbooks from
// one threshold spec (mixin/spec/defaults.yaml, SPEC-2025-016) and the
// overrides given with --spec.file.
package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/version"

	"github.com/hotel-ops/hotel-ops/mixin/generate"
	"github.com/hotel-ops/hotel-ops/mixin/spec"
)

func main() {
	app := kingpin.New("mixgen", "Generates rules, rule tests, dashboards, Alertmanager configuration and runbooks from the threshold spec.")
	app.Version(version.Print("mixgen"))
	app.HelpFlag.Short('h')
	files := app.Flag("spec.file", "Threshold spec override, deep-merged over the defaults (repeatable, in order).").Strings()
	out := app.Flag("output.dir", "Directory to write rules/, dashboards/, alertmanager/ and runbooks/ into.").Default(".").String()
	check := app.Flag("check", "Write nothing; exit 1 if the files on disk differ from what would be generated.").Bool()
	promRule := app.Flag("prometheus-rule", "Also write rules/kubernetes/prometheusrule.yml (prometheus-operator).").Bool()
	printSpec := app.Flag("print-spec", "Print the merged threshold spec and exit.").Bool()
	kingpin.MustParse(app.Parse(os.Args[1:]))

	s, err := spec.Load(*files...)
	if err != nil {
		fmt.Fprintf(os.Stderr, "mixgen: %v\n", err)
		os.Exit(2)
	}
	if *printSpec {
		if err := printMerged(s); err != nil {
			fmt.Fprintf(os.Stderr, "mixgen: %v\n", err)
			os.Exit(1)
		}
		return
	}
	gen, counts, err := generate.All(s, generate.Options{PrometheusRule: *promRule})
	if err != nil {
		fmt.Fprintf(os.Stderr, "mixgen: %v\n", err)
		os.Exit(1)
	}
	for _, f := range generate.Lint(s) {
		if f.Warning {
			fmt.Fprintf(os.Stderr, "mixgen: warning: %s\n", f.Text)
		}
	}
	if *check {
		diffs := generate.Diff(*out, gen, *promRule)
		for _, d := range diffs {
			fmt.Fprintf(os.Stderr, "mixgen: %s\n", d)
		}
		if len(diffs) > 0 {
			fmt.Fprintf(os.Stderr, "mixgen: generated files are stale; run `make generate` and commit the result\n")
			os.Exit(1)
		}
		fmt.Printf("mixgen: up to date: %s\n", counts)
		return
	}
	if err := generate.Write(*out, gen, *promRule); err != nil {
		fmt.Fprintf(os.Stderr, "mixgen: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("mixgen: wrote %d files to %s: %s\n", len(gen), filepath.Clean(*out), counts)
}

func printMerged(s *spec.Spec) error {
	var b bytes.Buffer
	if err := spec.Encode(&b, s); err != nil {
		return err
	}
	_, err := os.Stdout.Write([]byte(strings.TrimLeft(b.String(), "\n")))
	return err
}
