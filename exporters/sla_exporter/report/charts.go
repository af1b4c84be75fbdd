package report

import (
	"bytes"
	"fmt"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Chart is one chart of a report, drawn with gonum/plot and rendered as
// SVG for the HTML page and as PNG for the PDF.
type Chart struct {
	// ID is the chart's stable element id in the HTML page: chart-sla,
	// chart-trend-N, chart-forecast-N, chart-incidents-severity,
	// chart-incidents-category (N counts from 0 in configuration order).
	ID string
	// Section is the report section it belongs in: sla, trends,
	// incidents or capacity.
	Section string
	Title   string

	plot *plot.Plot
	// legend is drawn beside the plot rather than over its data.
	legend plot.Legend
}

// newLegend is a chart's legend, in a smaller type than the axes.
func newLegend() plot.Legend {
	l := plot.NewLegend()
	l.TextStyle.Font.Size = vg.Points(9)
	l.Top, l.Left = true, true
	l.Padding = vg.Points(2)
	return l
}

// Chart sizes: the width of an A4 page's text (18 cm) and a third of it
// high, so that two charts and their table fit a PDF page.
const (
	chartWidth  = 18 * vg.Centimeter
	chartHeight = 7.5 * vg.Centimeter
	// pngDPI renders the PDF's charts sharp when printed, at about
	// 200 kB a chart.
	pngDPI = 150
)

// Charts are the charts of the report, in the order the report shows
// them. A section without figures has no chart.
func Charts(r *Report) ([]Chart, error) {
	var out []Chart
	add := func(c Chart, err error) error {
		if err != nil {
			return fmt.Errorf("chart %s: %w", c.ID, err)
		}
		if c.plot != nil {
			out = append(out, c)
		}
		return nil
	}
	if err := add(slaChart(r)); err != nil {
		return nil, err
	}
	for i, tr := range r.Trends.Trends {
		if err := add(trendChart(r, i, tr)); err != nil {
			return nil, err
		}
	}
	inc, err := incidentCharts(r)
	if err != nil {
		return nil, fmt.Errorf("incident charts: %w", err)
	}
	out = append(out, inc...)
	if r.Capacity != nil {
		for i, fc := range r.Capacity.Forecasts {
			if err := add(forecastChart(r, i, fc)); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// SVG renders the chart as an <svg> element (without the XML prologue,
// so it can stand inline in HTML). Its text is escaped by gonum/plot's
// SVG canvas (html.EscapeString) and names the Liberation Serif font,
// which the HTML page embeds once for all its charts.
func (c Chart) SVG() ([]byte, error) {
	cv := vgsvg.New(chartWidth, chartHeight)
	if err := draw1(c, cv); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if _, err := cv.WriteTo(&b); err != nil {
		return nil, fmt.Errorf("chart %s: writing SVG: %w", c.ID, err)
	}
	out := b.Bytes()
	if i := bytes.Index(out, []byte("<svg")); i > 0 {
		out = out[i:]
	}
	return out, nil
}

// PNG renders the chart as an opaque PNG (an alpha channel would make
// fpdf add a soft mask image beside each chart).
func (c Chart) PNG() ([]byte, error) {
	cv := vgimg.NewWith(vgimg.UseWH(chartWidth, chartHeight), vgimg.UseDPI(pngDPI))
	if err := draw1(c, cv); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: cv}).WriteTo(&b); err != nil {
		return nil, fmt.Errorf("chart %s: writing PNG: %w", c.ID, err)
	}
	return b.Bytes(), nil
}

// draw1 draws the chart on a canvas; gonum/plot panics on a few
// impossible layouts (an axis of zero length), which become errors here
// rather than taking the report down.
func draw1(c Chart, cv vg.CanvasSizer) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("chart %s: drawing: %v", c.ID, v)
		}
	}()
	dc := draw.New(cv)
	lr := c.legend.Rectangle(dc)
	lw := lr.Max.X - lr.Min.X
	if lw <= 0 {
		c.plot.Draw(dc)
		return nil
	}
	gap := vg.Points(8)
	c.plot.Draw(draw.Crop(dc, 0, -(lw + gap), 0, 0))
	// The legend's column starts below the title, level with the plot.
	top := c.plot.Title.TextStyle.Height(c.plot.Title.Text) + c.plot.Title.Padding + vg.Points(4)
	c.legend.Draw(draw.Crop(dc, dc.Max.X-dc.Min.X-lw, 0, 0, -top))
	return nil
}
