package report

import (
	"encoding/base64"
	"html/template"
	"sync"

	"codeberg.org/go-fonts/liberation/liberationsansbold"
	"codeberg.org/go-fonts/liberation/liberationsansregular"
	"codeberg.org/go-fonts/liberation/liberationserifregular"
)

// The fonts are the Liberation fonts gonum/plot itself ships (SIL Open
// Font License), so nothing is read from the machine or the network.
// They have no Japanese glyphs: the PDF's headings are in English, and
// Japanese text from outside (an alert's summary) shows as missing
// glyphs there; the HTML page falls back to the reader's fonts for it.

// chartFontFace is the @font-face of the font gonum/plot writes its
// charts' text in (Liberation Serif), embedded once in the HTML page for
// all the inline SVG charts: they then look as laid out, on any machine,
// at the cost of one 0.5 MB font rather than one per chart.
var chartFontFace = sync.OnceValue(func() template.CSS {
	return template.CSS(`@font-face{font-family:"Liberation Serif";font-style:normal;font-weight:normal;` +
		`src:url(data:font/ttf;base64,` + base64.StdEncoding.EncodeToString(liberationserifregular.TTF) + `) format("truetype")}`)
})

// pdfFonts are the PDF's text fonts by fpdf style, in a fixed order so
// that the same report gives the same file.
var pdfFonts = []struct {
	style string
	ttf   []byte
}{
	{"", liberationsansregular.TTF},
	{"B", liberationsansbold.TTF},
}
