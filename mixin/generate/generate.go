// Package generate runs every mixgen generator on one merged threshold
// spec and returns the files, by path relative to the repository root:
// rules/ and their tests, dashboards/, alertmanager/, runbooks/.
package generate

import (
	"encoding/json"
	"fmt"
	"path"
	"sort"

	"github.com/hotel-ops/hotel-ops/mixin/alertmanager"
	"github.com/hotel-ops/hotel-ops/mixin/dashboards"
	"github.com/hotel-ops/hotel-ops/mixin/escalator"
	"github.com/hotel-ops/hotel-ops/mixin/rules"
	"github.com/hotel-ops/hotel-ops/mixin/runbooks"
	"github.com/hotel-ops/hotel-ops/mixin/spec"
)

// Folders are the generated folders, each owned by mixgen but for their
// README.md.
var Folders = []string{"rules", "rules/tests", "dashboards", "alertmanager", "runbooks"}

// Options select the optional outputs.
type Options struct {
	PrometheusRule bool // also rules/kubernetes/prometheusrule.yml
}

// Counts are what the generated output holds.
type Counts struct {
	Alerts, AlertRules, RecordingRules, TestGroups, Dashboards, Panels, Runbooks int
}

func (c Counts) String() string {
	return fmt.Sprintf("%d alerts (%d alerting rules), %d recording rules, %d promtool test groups, %d dashboards with %d panels, %d runbook sections",
		c.Alerts, c.AlertRules, c.RecordingRules, c.TestGroups, c.Dashboards, c.Panels, c.Runbooks)
}

// All generates every file from s.
func All(s *spec.Spec, opts Options) (map[string][]byte, Counts, error) {
	var c Counts
	out := map[string][]byte{}
	set, err := rules.Generate(s)
	if err != nil {
		return nil, c, err
	}
	names := map[string]bool{}
	for _, name := range set.Names() {
		f := set.Files[name]
		data, err := f.Marshal()
		if err != nil {
			return nil, c, err
		}
		out[path.Join("rules", name)] = data
		for _, g := range f.Groups {
			for _, r := range g.Rules {
				if r.Record != "" {
					c.RecordingRules++
				} else {
					c.AlertRules++
					names[r.Alert] = true
				}
			}
		}
	}
	c.Alerts = len(names)
	c.Runbooks = len(names)
	tests, groups, err := set.Tests(s)
	if err != nil {
		return nil, c, err
	}
	c.TestGroups = groups
	for name, data := range tests {
		out[path.Join("rules/tests", name)] = data
	}
	if opts.PrometheusRule {
		data, err := set.PrometheusRule("hotel-ops")
		if err != nil {
			return nil, c, err
		}
		out["rules/kubernetes/prometheusrule.yml"] = data
	}
	dash, err := dashboards.Generate(s)
	if err != nil {
		return nil, c, fmt.Errorf("dashboards: %w", err)
	}
	for name, data := range dash {
		out[path.Join("dashboards", name)] = data
		c.Dashboards++
		n, err := countPanels(data)
		if err != nil {
			return nil, c, fmt.Errorf("dashboards/%s: %w", name, err)
		}
		c.Panels += n
	}
	am, err := alertmanager.Generate(s)
	if err != nil {
		return nil, c, fmt.Errorf("alertmanager: %w", err)
	}
	out["alertmanager/alertmanager.yml"] = am
	esc, err := escalator.Generate(s)
	if err != nil {
		return nil, c, fmt.Errorf("escalator: %w", err)
	}
	out["alertmanager/escalator.yml"] = esc
	out["runbooks/README.md"] = runbooks.Generate(s, set)
	return out, c, nil
}

// countPanels counts the panels of a dashboard, rows' children included,
// rows themselves not.
func countPanels(data []byte) (int, error) {
	var d struct {
		Panels []panel `json:"panels"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return 0, err
	}
	var count func([]panel) int
	count = func(ps []panel) int {
		n := 0
		for _, p := range ps {
			if p.Type != "row" {
				n++
			}
			n += count(p.Panels)
		}
		return n
	}
	return count(d.Panels), nil
}

type panel struct {
	Type   string  `json:"type"`
	Panels []panel `json:"panels"`
}

// Sorted returns the paths of files in order.
func Sorted(files map[string][]byte) []string {
	out := make([]string, 0, len(files))
	for p := range files {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}
