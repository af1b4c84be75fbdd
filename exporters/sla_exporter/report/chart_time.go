package report

import (
	"fmt"
	"image/color"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// maxSeries is the most series one chart draws: beyond it the lines are
// no longer told apart, and the title says how many were left out.
const maxSeries = 8

var red = color.RGBA{R: 0xc6, G: 0x28, B: 0x28, A: 0xff}

// levelColor draws targets and warning levels: black, so that the
// colors on a chart are all data (the browser test relies on it).
var levelColor = color.Black

// timePlot is a plot over [from, to] with days of loc on the x axis.
func timePlot(title, unit string, from, to time.Time) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	loc := from.Location()
	p.X.Label.Text = "date (" + loc.String() + ")"
	p.X.Tick.Marker = dayTicks{loc: loc}
	p.X.Min, p.X.Max = float64(from.Unix()), float64(to.Unix())
	p.Y.Label.Text = unitLabel(unit)
	p.Add(plotter.NewGrid())
	return p
}

// addSeries draws each series as lines scaled by scale, broken where a
// value is missing so that a gap in the data shows as one.
func addSeries(p *plot.Plot, lg *plot.Legend, series []Series, scale float64, step time.Duration) error {
	for i, s := range series[:min(len(series), maxSeries)] {
		style := draw.LineStyle{Color: plotutil.Color(i), Width: vg.Points(1.2)}
		var first *plotter.Line
		for _, run := range runs(s.Points, scale, step) {
			l, err := plotter.NewLine(run)
			if err != nil {
				return err
			}
			l.LineStyle = style
			p.Add(l)
			if first == nil {
				first = l
			}
		}
		if first != nil && (len(series) > 1 || s.Labels != "") {
			lg.Add(legendName(s.Labels), first)
		}
	}
	return nil
}

// runs splits points into stretches without a gap longer than 1.5 steps
// (a range query leaves out the steps with no value) or a NaN.
func runs(points []Point, scale float64, step time.Duration) []plotter.XYs {
	var out []plotter.XYs
	var cur plotter.XYs
	var last time.Time
	for _, pt := range points {
		if !finite(pt.V) || (len(cur) > 0 && pt.T.Sub(last) > step*3/2) {
			if len(cur) > 0 {
				out = append(out, cur)
			}
			cur = nil
		}
		if finite(pt.V) {
			cur = append(cur, plotter.XY{X: float64(pt.T.Unix()), Y: pt.V * scale})
			last = pt.T
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// hline draws a dashed level across [from, to], named in the legend.
func hline(p *plot.Plot, lg *plot.Legend, name string, y float64, from, to float64, c color.Color) error {
	l, err := plotter.NewLine(plotter.XYs{{X: from, Y: y}, {X: to, Y: y}})
	if err != nil {
		return err
	}
	l.LineStyle = draw.LineStyle{Color: c, Width: vg.Points(1.5), Dashes: []vg.Length{vg.Points(6), vg.Points(3)}}
	p.Add(l)
	lg.Add(name, l)
	return nil
}

// yFromZero starts the value axis at zero for values that are never
// negative, so that a small change does not look like a large one.
func yFromZero(p *plot.Plot) {
	if p.Y.Min > 0 {
		p.Y.Min = 0
	}
	if p.Y.Max <= p.Y.Min {
		p.Y.Max = p.Y.Min + 1
	}
	p.Y.Max += (p.Y.Max - p.Y.Min) * 0.05
}

// legendName is a series' name in a legend or table: its labels, cut
// at 48 characters so that a legend does not squeeze its chart.
func legendName(labels string) string {
	if labels == "" {
		return "value"
	}
	if r := []rune(labels); len(r) > 48 {
		return string(r[:47]) + "…"
	}
	return labels
}

// shownOf is appended to a title when series were left out.
func shownOf(n int) string {
	if n <= maxSeries {
		return ""
	}
	return fmt.Sprintf(" (first %d of %d series)", maxSeries, n)
}

// trendChart is one trend over the period, with its target.
func trendChart(r *Report, i int, tr TrendResult) (Chart, error) {
	c := Chart{ID: fmt.Sprintf("chart-trend-%d", i), Section: "trends",
		Title: tr.Name + " — " + r.Period.Name + shownOf(len(tr.Series)), legend: newLegend()}
	p := timePlot(c.Title, tr.Unit, r.Period.Start, r.Period.End)
	scale := unitScale(tr.Unit)
	// The target first, so that the data is drawn over it.
	if tr.Target != 0 {
		if err := hline(p, &c.legend, "target "+formatValue(tr.Target, tr.Unit), tr.Target*scale, p.X.Min, p.X.Max, levelColor); err != nil {
			return c, err
		}
	}
	if err := addSeries(p, &c.legend, tr.Series, scale, r.Trends.Step); err != nil {
		return c, err
	}
	yFromZero(p)
	c.plot = p
	return c, nil
}

// forecastHorizon is how far past the period a forecast chart draws the
// fitted line: far enough to show a crossing due next month, not so far
// that the period's own data is squeezed into a corner.
const forecastHorizon = 60 * 24 * time.Hour

// forecastChart is one resource over the period, its warning level and
// each series' fitted line continued to the crossing (or the horizon).
func forecastChart(r *Report, i int, fc ForecastResult) (Chart, error) {
	c := Chart{ID: fmt.Sprintf("chart-forecast-%d", i), Section: "capacity",
		Title: fc.Name + " — forecast from " + r.Period.Name + shownOf(len(fc.Series)), legend: newLegend()}
	ahead := time.Duration(0)
	for _, s := range fc.Series[:min(len(fc.Series), maxSeries)] {
		if s.Crossing == CrossingIn {
			ahead = max(ahead, time.Duration(s.Days*24*float64(time.Hour)))
		}
	}
	ahead = min(ahead+7*24*time.Hour, forecastHorizon)
	to := r.Until.Add(ahead)
	p := timePlot(c.Title, "percent", r.Period.Start, to)
	series := make([]Series, len(fc.Series))
	for j, s := range fc.Series {
		series[j] = s.Series
	}
	if err := addSeries(p, &c.legend, series, 100, r.Trends.Step); err != nil {
		return c, err
	}
	for j, s := range fc.Series[:min(len(fc.Series), maxSeries)] {
		if !finite(s.Slope) {
			continue
		}
		// The fitted line over the period and on to the chart's end.
		line := plotter.XYs{}
		for _, t := range []time.Time{r.Period.Start, to} {
			d := days(t.Sub(r.Until))
			line = append(line, plotter.XY{X: float64(t.Unix()), Y: 100 * (s.Intercept + s.Slope*d)})
		}
		l, err := plotter.NewLine(line)
		if err != nil {
			return c, err
		}
		l.LineStyle = draw.LineStyle{Color: plotutil.Color(j), Width: vg.Points(1), Dashes: []vg.Length{vg.Points(2), vg.Points(2)}}
		p.Add(l)
		if j == 0 {
			// A gray sample in the legend: there is one fit per series,
			// each in its series' color.
			thumb := *l
			thumb.LineStyle.Color = color.Gray{Y: 0x66}
			c.legend.Add("linear fit", &thumb)
		}
	}
	if err := hline(p, &c.legend, "warning "+formatShare(fc.Warning), fc.Warning*100, p.X.Min, p.X.Max, levelColor); err != nil {
		return c, err
	}
	p.Y.Min, p.Y.Max = 0, 100 // a share: the whole of it
	c.plot = p
	return c, nil
}
