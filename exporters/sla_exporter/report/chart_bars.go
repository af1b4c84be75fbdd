package report

import (
	"fmt"
	"image/color"
	"math"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

var (
	green = color.RGBA{R: 0x2e, G: 0x7d, B: 0x32, A: 0xff}
	blue  = color.RGBA{R: 0x15, G: 0x65, B: 0xc0, A: 0xff}
)

// slaChart is a bar per SLO of the availability achieved, green when it
// meets its objective and red when not, with the objective marked over
// each bar. Availabilities sit near 100%, so the axis starts just below
// the lowest bar or objective (and says so in the title): from zero,
// 99.9% and 99.99% would be the same bar.
func slaChart(r *Report) (Chart, error) {
	c := Chart{ID: "chart-sla", Section: "sla", legend: newLegend()}
	res := r.SLA.Results
	if len(res) == 0 {
		return c, nil
	}
	lowest := 100.0
	for _, x := range res {
		lowest = math.Min(lowest, x.Objective*100)
		if finite(x.Ratio) && !x.NoData() {
			lowest = math.Min(lowest, x.Ratio*100)
		}
	}
	floor := axisFloor(lowest)
	c.Title = fmt.Sprintf("SLA achieved vs objective — %s (axis from %s%%)", r.Period.Name, trimFloat(floor))
	p := plot.New()
	p.Title.Text = c.Title
	p.X.Label.Text = "SLO"
	p.Y.Label.Text = "availability (%)"
	names := make([]string, len(res))
	var labels plotter.XYLabels
	for i, x := range res {
		names[i] = x.SLO
		v, text := x.Ratio*100, formatRatio(x.Ratio)
		if !finite(x.Ratio) || x.NoData() {
			v, text = floor, "no data"
		}
		bar, err := plotter.NewBarChart(plotter.Values{v}, vg.Points(40))
		if err != nil {
			return c, err
		}
		bar.XMin = float64(i)
		bar.Color = green
		if !x.Met() {
			bar.Color = red
		}
		bar.LineStyle.Width = 0
		p.Add(bar)
		obj, err := plotter.NewLine(plotter.XYs{{X: float64(i) - 0.3, Y: x.Objective * 100}, {X: float64(i) + 0.3, Y: x.Objective * 100}})
		if err != nil {
			return c, err
		}
		obj.LineStyle = draw.LineStyle{Color: color.Black, Width: vg.Points(2), Dashes: []vg.Length{vg.Points(4), vg.Points(2)}}
		p.Add(obj)
		if i == 0 {
			c.legend.Add("objective", obj)
		}
		// Above the bar and its objective mark, whichever is higher.
		labels.XYs = append(labels.XYs, plotter.XY{X: float64(i), Y: math.Min(math.Max(v, x.Objective*100), 100)})
		labels.Labels = append(labels.Labels, text)
	}
	l, err := plotter.NewLabels(labels)
	if err != nil {
		return c, err
	}
	for i := range l.TextStyle {
		l.TextStyle[i].XAlign = draw.XCenter
	}
	l.Offset = vg.Point{Y: vg.Points(4)}
	p.Add(l)
	p.NominalX(names...)
	p.Y.Min, p.Y.Max = floor, 100+(100-floor)*0.15
	c.plot = p
	return c, nil
}

// axisFloor is a round value below lowest leaving as much room again
// under it: 99.99 gives 99.98, 99.5 gives 99, 80 gives 60.
func axisFloor(lowest float64) float64 {
	gap := 2 * (100 - lowest)
	if gap <= 0 {
		gap = 0.01
	}
	mag := math.Pow(10, math.Floor(math.Log10(gap)))
	gap = math.Ceil(gap/mag) * mag
	return math.Max(100-gap, 0)
}

func trimFloat(v float64) string { return fmt.Sprintf("%.6g", v) }

// incidentCharts are the incidents of the period by severity and by
// category; none when there were none (the table says so).
func incidentCharts(r *Report) ([]Chart, error) {
	f := r.Incidents.Figures
	if !r.Incidents.OK() || f.Count == 0 {
		return nil, nil
	}
	sev, err := countChart("chart-incidents-severity", "Incidents by severity — "+r.Period.Name, "severity", bySeverity(f.BySeverity))
	if err != nil {
		return nil, err
	}
	cat, err := countChart("chart-incidents-category", "Incidents by category — "+r.Period.Name, "category", byCount(f.ByCategory))
	if err != nil {
		return nil, err
	}
	return []Chart{sev, cat}, nil
}

// countChart is one bar per key.
func countChart(id, title, axis string, counts []keyCount) (Chart, error) {
	c := Chart{ID: id, Section: "incidents", Title: title}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = axis
	p.Y.Label.Text = "incidents (count)"
	p.Y.Tick.Marker = countTicks{}
	vals := make(plotter.Values, len(counts))
	names := make([]string, len(counts))
	top := 1.0
	for i, kc := range counts {
		vals[i], names[i] = float64(kc.n), kc.key
		top = math.Max(top, float64(kc.n))
	}
	bar, err := plotter.NewBarChart(vals, vg.Points(30))
	if err != nil {
		return c, err
	}
	bar.Color = blue
	bar.LineStyle.Width = 0
	p.Add(bar)
	p.NominalX(names...)
	p.Y.Min, p.Y.Max = 0, top*1.1
	c.plot = p
	return c, nil
}

type keyCount struct {
	key string
	n   int
}

// severityOrder puts the spec's severities first, most severe first.
var severityOrder = map[string]int{"critical": 0, "warning": 1, "info": 2}

func bySeverity(m map[string]int) []keyCount {
	out := keys(m)
	rank := func(k string) int {
		if r, ok := severityOrder[k]; ok {
			return r
		}
		return len(severityOrder)
	}
	sort.SliceStable(out, func(i, j int) bool { return rank(out[i].key) < rank(out[j].key) })
	return out
}

// byCount is the largest first, then by name.
func byCount(m map[string]int) []keyCount {
	out := keys(m)
	sort.SliceStable(out, func(i, j int) bool { return out[i].n > out[j].n })
	return out
}

// keys is m sorted by key, an empty key named "(none)".
func keys(m map[string]int) []keyCount {
	out := make([]keyCount, 0, len(m))
	for k, n := range m {
		if k == "" {
			k = "(none)"
		}
		out = append(out, keyCount{k, n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}
