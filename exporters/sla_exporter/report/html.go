package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
)

//go:embed report.html
var pageSource string

var page = template.Must(template.New("report").Parse(pageSource))

// pageData is what the template reads; charts hold their SVG already.
type pageData struct {
	doc
	FontFace template.CSS
	SVG      map[string]template.HTML // by chart ID
}

// WriteHTML writes the report as one self-contained HTML page: CSS, the
// charts' SVG and their font inline, no script and nothing fetched.
// Everything that comes from outside (alert names, labels, errors) is
// escaped by html/template, and chart text by gonum/plot's SVG canvas.
func WriteHTML(w io.Writer, r *Report) error {
	charts, err := Charts(r)
	if err != nil {
		return fmt.Errorf("report %s: %w", r.Period.Name, err)
	}
	data := pageData{doc: layout(r, charts), FontFace: chartFontFace(), SVG: map[string]template.HTML{}}
	for _, c := range charts {
		svg, err := c.SVG()
		if err != nil {
			return fmt.Errorf("report %s: %w", r.Period.Name, err)
		}
		// gonum/plot escapes every string it draws (html.EscapeString)
		// and writes the rest itself, so the markup is trusted.
		data.SVG[c.ID] = template.HTML(svg)
	}
	if err := page.Execute(w, data); err != nil {
		return fmt.Errorf("report %s: writing HTML: %w", r.Period.Name, err)
	}
	return nil
}
