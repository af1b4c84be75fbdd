// Package dashboards builds the suite's Grafana dashboards from the
// threshold spec with grafana-foundation-sdk: the colours a panel turns
// are the spec's warning and critical levels, so a dashboard and the
// alerts mixgen generates next to it never disagree.
package dashboards

//lint:file-ignore SA1019 The v1 dashboard model is what every Grafana imports; dashboardv2 needs Grafana 12 with a feature flag.

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/hotel-ops/hotel-ops/mixin/rules"
	"github.com/hotel-ops/hotel-ops/mixin/spec"
)

// Tag marks every generated dashboard; the dashboards link to each other
// through it, so a sixth one joins the menu by carrying the tag.
const Tag = "hotel-ops"

// board is one generated dashboard. The uids are the rules package's:
// alerts link to them in their dashboard_url annotations.
type board struct {
	file  string
	uid   string
	build func(s *spec.Spec) *dashboard.DashboardBuilder
}

var boards = []board{
	{"hotel-ops-realtime.json", rules.DashRealtime, realtime},
	{"hotel-ops-sla.json", rules.DashSLA, sla},
	{"hotel-ops-database.json", rules.DashDatabase, database},
	{"hotel-ops-business.json", rules.DashBusiness, business},
	{"hotel-ops-suite.json", rules.DashSuite, suite},
}

// Generate returns each dashboard as indented JSON (ending in "\n"), keyed
// by file name such as "hotel-ops-realtime.json".
func Generate(s *spec.Spec) (map[string][]byte, error) {
	out := make(map[string][]byte, len(boards))
	for _, b := range boards {
		d, err := b.build(s).Build()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.file, err)
		}
		if d.Uid == nil || *d.Uid != b.uid {
			return nil, fmt.Errorf("%s: built with the wrong uid", b.file)
		}
		finish(&d)
		data, err := encode(d)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.file, err)
		}
		out[b.file] = data
	}
	return out, nil
}

// newBoard is what every dashboard shares: uid, tags, the spec's time
// zone, a one-minute refresh, the data source variable, and the links to
// the runbooks and to the other dashboards.
func newBoard(s *spec.Spec, uid, title, description, from string) *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder(title).
		Uid(uid).
		Description(description).
		Tags([]string{Tag}).
		Timezone(s.Timezone).
		Refresh("1m").
		Time(from, "now").
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		// One variable instead of __inputs: the files are provisioned
		// as they are, and the viewer picks the Prometheus to read.
		WithVariable(dashboard.NewDatasourceVariableBuilder(dsVar).
			Label("Data source").
			Type("prometheus")).
		Link(dashboard.NewDashboardLinkBuilder("Runbooks").
			Type(dashboard.DashboardLinkTypeLink).
			Url(s.Links.Runbooks).
			Icon("doc").
			Tooltip("What to do when an alert of this suite fires").
			TargetBlank(true)).
		Link(dashboard.NewDashboardLinkBuilder("Hotel Ops dashboards").
			Type(dashboard.DashboardLinkTypeDashboards).
			Tags([]string{Tag}).
			AsDropdown(true).
			IncludeVars(true).
			KeepTime(true))
}

// finish does what the builders cannot: number the panels, which Grafana
// needs unique to keep a panel's state and links, and put the links in
// the header (the SDK's default placement hides them in the controls
// menu of newer Grafana versions).
func finish(d *dashboard.Dashboard) {
	for i, p := range d.Panels {
		id := uint32(i + 1)
		switch {
		case p.Panel != nil:
			p.Panel.Id = cog.ToPtr(id)
		case p.RowPanel != nil:
			p.RowPanel.Id = id
		}
	}
	for i := range d.Links {
		d.Links[i].Placement = nil
	}
}

// encode writes indented JSON without HTML escaping, so "a > b" in PromQL
// stays readable in the committed file.
func encode(d dashboard.Dashboard) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		return nil, err
	}
	return unescapeHTML(buf.Bytes()), nil
}

// unescapeHTML undoes the \u003c, \u003e and \u0026 escapes that the SDK's
// own MarshalJSON methods apply (they call json.Marshal, whatever the
// outer encoder is told). Escapes are consumed in pairs, so an escaped
// backslash followed by the text "u003e" is left as it is.
func unescapeHTML(b []byte) []byte {
	plain := map[string]byte{"u003c": '<', "u003e": '>', "u0026": '&'}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' || i+1 == len(b) {
			out = append(out, b[i])
			continue
		}
		if i+6 <= len(b) {
			if c, ok := plain[string(b[i+1:i+6])]; ok {
				out = append(out, c)
				i += 5
				continue
			}
		}
		out = append(out, b[i], b[i+1])
		i++
	}
	return out
}
