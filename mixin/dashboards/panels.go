package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/gauge"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// Panel constructors. Each sets what every panel of the suite needs (the
// data source variable on the panel and its queries, a unit, a size, a
// colour scheme that means nothing until a spec threshold is applied)
// and leaves the rest to the dashboard that uses it.

// dsVar names the dashboard variable that selects the Prometheus.
const dsVar = "datasource"

// ds refers to the variable: no data source uid is baked into the files.
func ds() common.DataSourceRef {
	return common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${" + dsVar + "}")}
}

// Heights of the two kinds of panel: a row of figures, a row of graphs.
const (
	statHeight  = 4
	graphHeight = 8
)

// query is one PromQL target and how its series are named.
type query struct {
	expr, legend string
}

func q(expr, legend string) query { return query{expr, legend} }

// targets turns queries into Prometheus targets with stable refIds (A,
// B, …): table transformations refer to them.
func targets(qs []query, instant bool) []cog.Builder[variants.Dataquery] {
	out := make([]cog.Builder[variants.Dataquery], 0, len(qs))
	for i, x := range qs {
		t := prometheus.NewDataqueryBuilder().
			Datasource(ds()).
			RefId(string(rune('A' + i))).
			Expr(x.expr).
			LegendFormat(x.legend)
		if instant {
			t.Instant().Format(prometheus.PromQueryFormatTable)
		} else {
			t.Range()
		}
		out = append(out, t)
	}
	return out
}

// neutral colours a panel that has no spec threshold: without it Grafana
// applies its default red at 80, which would flag 81 active users.
func neutral() *dashboard.ThresholdsConfigBuilder {
	return dashboard.NewThresholdsConfigBuilder().
		Mode(dashboard.ThresholdsModeAbsolute).
		Steps([]dashboard.Threshold{{Color: "green"}})
}

// timeSeries is a graph of the queries over the dashboard's time range.
func timeSeries(title, unit string, width uint32, qs ...query) *timeseries.PanelBuilder {
	return timeseries.NewPanelBuilder().
		Title(title).
		Datasource(ds()).
		Targets(targets(qs, false)).
		Unit(unit).
		Span(width).
		Height(graphHeight).
		Thresholds(neutral()).
		LineWidth(1).
		FillOpacity(10).
		ShowPoints(common.VisibilityModeNever).
		Legend(common.NewVizLegendOptionsBuilder().
			ShowLegend(true).
			DisplayMode(common.LegendDisplayModeList).
			Placement(common.LegendPlacementBottom)).
		Tooltip(common.NewVizTooltipOptionsBuilder().
			Mode(common.TooltipDisplayModeMulti).
			Sort(common.SortOrderDescending))
}

// statPanel shows the latest value of each series, with a sparkline of
// the time range behind it.
func statPanel(title, unit string, width uint32, qs ...query) *stat.PanelBuilder {
	return stat.NewPanelBuilder().
		Title(title).
		Datasource(ds()).
		Targets(targets(qs, false)).
		Unit(unit).
		Span(width).
		Height(statHeight).
		Thresholds(neutral()).
		ColorMode(common.BigValueColorModeValue).
		GraphMode(common.BigValueGraphModeArea).
		Orientation(common.VizOrientationAuto).
		ReduceOptions(lastValue())
}

// gaugePanel shows the latest value of each series against a range.
func gaugePanel(title, unit string, width uint32, qs ...query) *gauge.PanelBuilder {
	return gauge.NewPanelBuilder().
		Title(title).
		Datasource(ds()).
		Targets(targets(qs, false)).
		Unit(unit).
		Span(width).
		Height(graphHeight).
		Thresholds(neutral()).
		ShowThresholdMarkers(true).
		Orientation(common.VizOrientationAuto).
		ReduceOptions(lastValue())
}

// tablePanel lists the current value of instant queries, one row per
// series; merge joins the queries' columns on their labels.
func tablePanel(title, unit string, width uint32, qs ...query) *table.PanelBuilder {
	return table.NewPanelBuilder().
		Title(title).
		Datasource(ds()).
		Targets(targets(qs, true)).
		Unit(unit).
		Span(width).
		Height(graphHeight).
		Thresholds(neutral()).
		// The SDK's default footer has a null reducer, which Grafana's
		// table reads as a list.
		Footer(common.NewTableFooterOptionsBuilder().Show(false).Reducer([]string{})).
		WithTransformation(dashboard.DataTransformerConfig{Id: "merge", Options: map[string]any{}})
}

func lastValue() *common.ReduceDataOptionsBuilder {
	return common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}).Values(false)
}

// row starts a section of a dashboard; the panels added after it belong
// to it. Rows stay expanded: an operator scans the whole page.
func row(title string) *dashboard.RowBuilder {
	return dashboard.NewRowBuilder(title)
}

// span shares the grid's 24 columns between n panels of a row, at least
// six columns each (Grafana wraps the rest to the next line).
func span(n int) uint32 {
	if n < 1 || n > 4 {
		return 6
	}
	return uint32(24 / n)
}
