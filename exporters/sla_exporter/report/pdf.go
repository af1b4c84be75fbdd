package report

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"strings"

	"codeberg.org/go-pdf/fpdf"
)

// PDF page geometry, in millimetres (A4 portrait).
const (
	pdfMargin    = 15.0
	pdfTextWidth = 210 - 2*pdfMargin
	pdfFont      = "LiberationSans"
	// chartMM is a chart's height on the page, across the text width.
	chartMM = pdfTextWidth * float64(chartHeight/chartWidth)
)

// WritePDF writes the report as a PDF: the same sections, tables and
// charts as the HTML page (charts as PNG). Headings are in English only:
// the PDF's font is Liberation Sans, embedded from gonum/plot's fonts,
// which has no Japanese glyphs, and no Japanese font can be assumed on
// the machine (or fetched).
func WritePDF(w io.Writer, r *Report) error {
	charts, err := Charts(r)
	if err != nil {
		return fmt.Errorf("report %s: %w", r.Period.Name, err)
	}
	d := layout(r, charts)
	pdf := fpdf.New("P", "mm", "A4", "")
	for _, f := range pdfFonts {
		pdf.AddUTF8FontFromBytes(pdfFont, f.style, f.ttf)
	}
	pdf.SetMargins(pdfMargin, pdfMargin, pdfMargin)
	pdf.SetAutoPageBreak(true, pdfMargin)
	pdf.SetTitle(d.Title, true)
	pdf.SetCreator("hotel-ops sla_exporter", true)
	// The report's own time, not the wall clock. (The file is still not
	// byte-stable: fpdf writes images in map order, and its catalog sort
	// only orders them by width, the same for every chart.)
	pdf.SetCreationDate(d.Generated)
	pdf.SetModificationDate(d.Generated)
	pdf.AliasNbPages("{nb}")
	pdf.SetFooterFunc(func() {
		pdf.SetY(-10)
		pdf.SetFont(pdfFont, "", 8)
		pdf.SetTextColor(120, 120, 120)
		pdf.CellFormat(0, 5, fmt.Sprintf("%s — page %d of {nb}", d.Title, pdf.PageNo()), "", 0, "C", false, 0, "")
	})
	pdf.AddPage()

	pdf.SetFont(pdfFont, "B", 16)
	pdf.MultiCell(0, 8, d.Title, "", "L", false)
	pdf.SetFont(pdfFont, "", 9)
	pdf.SetTextColor(85, 85, 85)
	for _, m := range d.Meta {
		pdf.MultiCell(0, 5, m, "", "L", false)
	}
	for _, s := range d.Sections {
		if err := pdfSection(pdf, s); err != nil {
			return fmt.Errorf("report %s: %w", r.Period.Name, err)
		}
	}
	if err := pdf.Output(w); err != nil {
		return fmt.Errorf("report %s: writing PDF: %w", r.Period.Name, err)
	}
	return nil
}

func pdfSection(pdf *fpdf.Fpdf, s section) error {
	pdf.Ln(4)
	// Keep a heading with what follows it: its lines and first chart.
	room := 30.0
	if len(s.Charts) > 0 {
		room += chartMM
	}
	needRoom(pdf, room)
	pdf.SetFont(pdfFont, "B", 13)
	pdf.SetTextColor(21, 101, 192)
	pdf.CellFormat(0, 8, s.Heading, "B", 1, "L", false, 0, "")
	pdf.Ln(1)
	text := func(style string, r, g, b int, line string) {
		pdf.SetFont(pdfFont, style, 9)
		pdf.SetTextColor(r, g, b)
		pdf.MultiCell(0, 5, line, "", "L", false)
	}
	if s.NotConfigured {
		text("", 120, 120, 120, "Not configured.")
	}
	for _, e := range s.Errors {
		text("", 183, 28, 28, "Error: "+e)
	}
	for _, n := range s.Notes {
		text("", 68, 68, 68, n)
	}
	for _, f := range s.Facts {
		pdf.SetFont(pdfFont, "", 9)
		pdf.SetTextColor(85, 85, 85)
		pdf.CellFormat(70, 5, f.Label, "", 0, "L", false, 0, "")
		pdf.SetFont(pdfFont, "B", 9)
		stateColor(pdf, f.State)
		pdf.MultiCell(0, 5, f.Value, "", "L", false)
	}
	for _, c := range s.Charts {
		png, err := c.PNG()
		if err != nil {
			return err
		}
		opt := fpdf.ImageOptions{ImageType: "PNG"}
		pdf.RegisterImageOptionsReader(c.ID, opt, bytes.NewReader(png))
		pdf.Ln(2)
		needRoom(pdf, chartMM)
		pdf.ImageOptions(c.ID, pdfMargin, -1, pdfTextWidth, chartMM, true, opt, 0, "")
	}
	for _, t := range s.Tables {
		pdfTable(pdf, t)
	}
	return pdf.Error()
}

// pdfTable draws a table with columns as wide as their text needs (in
// proportion, when the page is too narrow), wrapping long cells.
func pdfTable(pdf *fpdf.Fpdf, t table) {
	const size, lineH = 8.0, 4.0
	pdf.Ln(2)
	if t.Caption != "" {
		pdf.SetFont(pdfFont, "B", 9)
		pdf.SetTextColor(34, 34, 34)
		pdf.MultiCell(0, 5, t.Caption, "", "L", false)
	}
	widths := make([]float64, len(t.Head))
	pdf.SetFont(pdfFont, "B", size)
	for i, h := range t.Head {
		widths[i] = pdf.GetStringWidth(h) + 3
	}
	pdf.SetFont(pdfFont, "", size)
	for _, row := range t.Rows {
		for i, c := range row[:min(len(row), len(widths))] {
			// A column wider than 45% of the page wraps instead.
			widths[i] = math.Max(widths[i], math.Min(pdf.GetStringWidth(c.Text)+3, pdfTextWidth*0.45))
		}
	}
	var total float64
	for _, w := range widths {
		total += w
	}
	for i := range widths {
		widths[i] *= pdfTextWidth / total
	}
	row := func(style string, fill bool, cells []cell) {
		pdf.SetFont(pdfFont, style, size)
		lines := 1
		for i, c := range cells[:min(len(cells), len(widths))] {
			lines = max(lines, len(pdf.SplitText(c.Text, widths[i])))
		}
		h := float64(lines) * lineH
		needRoom(pdf, h)
		x, y := pdf.GetXY()
		for i, c := range cells[:min(len(cells), len(widths))] {
			pdf.SetXY(x, y)
			if fill {
				pdf.SetFillColor(243, 246, 250)
				pdf.Rect(x, y, widths[i], h, "F")
			}
			stateColor(pdf, c.State)
			pdf.MultiCell(widths[i], lineH, strings.TrimSpace(c.Text), "", "L", false)
			x += widths[i]
		}
		pdf.SetDrawColor(221, 221, 221)
		pdf.Line(pdfMargin, y+h, pdfMargin+pdfTextWidth, y+h)
		pdf.SetXY(pdfMargin, y+h)
	}
	head := make([]cell, len(t.Head))
	for i, h := range t.Head {
		head[i] = cell{Text: h}
	}
	row("B", true, head)
	for _, r := range t.Rows {
		row("", false, r)
	}
}

// needRoom starts a new page unless h millimetres fit on this one.
func needRoom(pdf *fpdf.Fpdf, h float64) {
	_, pageH := pdf.GetPageSize()
	if pdf.GetY()+h > pageH-pdfMargin {
		pdf.AddPage()
	}
}

func stateColor(pdf *fpdf.Fpdf, state string) {
	switch state {
	case "ok":
		pdf.SetTextColor(27, 94, 32)
	case "bad":
		pdf.SetTextColor(183, 28, 28)
	default:
		pdf.SetTextColor(34, 34, 34)
	}
}
