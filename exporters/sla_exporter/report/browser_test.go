package report

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hotel-ops/hotel-ops/internal/testenv"
)

// checkInBrowser opens the HTML page from a file (so nothing could be
// fetched even if it tried), checks that every chart is there and has
// drawn its data, and that the hostile alert name is shown as text.
func checkInBrowser(t *testing.T, r *Report) {
	var page bytes.Buffer
	if err := WriteHTML(&page, r); err != nil {
		t.Fatal(err)
	}
	html := page.String()
	checkSelfContained(t, html)
	charts, err := Charts(r)
	if err != nil {
		t.Fatal(err)
	}
	// One SLA chart, four trends, two incident charts, one forecast.
	if len(charts) != 8 {
		t.Errorf("%d charts, want 8", len(charts))
	}
	file := filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(file, page.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := testenv.Browser(t, 45*time.Second)
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(1200, 900),
		chromedp.Navigate("file://"+file),
		chromedp.WaitVisible(chromedp.ID("#security")),
	); err != nil {
		t.Fatal(err)
	}
	if title, _ := chromedp.Run(ctx, chromedp.Title()); title == "pwned" || !strings.Contains(title, "Monthly report 2026-11") {
		t.Errorf("page title %q", title)
	}
	shown, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("#security")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(shown, hostile) {
		t.Errorf("the hostile alert name is not shown as text in the security section:\n%s", shown)
	}
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("figure.chart svg").length`))
	if err != nil || n != len(charts) {
		t.Errorf("%d inline SVG charts in the page (%v), want %d", n, err, len(charts))
	}
	for _, c := range charts {
		shot, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.ID("#"+c.ID)))
		if err != nil {
			t.Errorf("%s: %v", c.ID, err)
			continue
		}
		img, err := png.Decode(bytes.NewReader(shot))
		if err != nil {
			t.Errorf("%s: screenshot: %v", c.ID, err)
			continue
		}
		ink, colored := inked(img)
		t.Logf("%s: %v, %.1f%% ink, %.2f%% colored", c.ID, img.Bounds().Size(), 100*ink, 100*colored)
		// Axes, grid, text, targets and warning levels are black or
		// gray, and ink a few percent; only data (lines, bars, their
		// legend samples) is colored. 0.1% of a 960×400 shot is 384
		// pixels: a line across a third of the plot, more than the
		// legend samples of a chart whose lines are missing.
		if ink < 0.02 || colored < 0.001 {
			t.Errorf("%s looks blank: %.1f%% of pixels inked, %.2f%% colored", c.ID, 100*ink, 100*colored)
			_ = os.WriteFile(filepath.Join(os.TempDir(), c.ID+".png"), shot, 0o600)
		}
	}

	// The control: the same trend charts with their series taken away
	// (axes, grid, title and the target line left) must look blank.
	empty := *r
	empty.Trends.Trends = append([]TrendResult(nil), r.Trends.Trends...)
	for i := range empty.Trends.Trends {
		empty.Trends.Trends[i].Series = nil
	}
	page.Reset()
	if err := WriteHTML(&page, &empty); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, page.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+file), chromedp.WaitVisible(chromedp.ID("#security"))); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"chart-trend-0", "chart-trend-2"} {
		shot, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.ID("#"+id)))
		if err != nil {
			t.Fatalf("%s without data: %v", id, err)
		}
		img, err := png.Decode(bytes.NewReader(shot))
		if err != nil {
			t.Fatal(err)
		}
		if ink, colored := inked(img); colored >= 0.001 {
			t.Errorf("%s without data passes for drawn: %.1f%% inked, %.2f%% colored", id, 100*ink, 100*colored)
		}
	}
}

// inked is the share of pixels that are not white, and of those that
// are colored (not a shade of gray).
func inked(img image.Image) (ink, colored float64) {
	b := img.Bounds()
	var n, nInk, nColor int
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			r, g, bl = r>>8, g>>8, bl>>8
			n++
			if r < 240 || g < 240 || bl < 240 {
				nInk++
			}
			if max(r, g, bl)-min(r, g, bl) > 60 {
				nColor++
			}
		}
	}
	return float64(nInk) / float64(n), float64(nColor) / float64(n)
}

// checkSelfContained: no script, nothing fetched, and outside text
// escaped.
func checkSelfContained(t *testing.T, html string) {
	t.Helper()
	low := strings.ToLower(html)
	for _, bad := range []string{"<script", "<link", `src="http`, `href="http`, "url(http", "@import", hostile} {
		if strings.Contains(low, strings.ToLower(bad)) {
			t.Errorf("the page contains %q", bad)
		}
	}
	if !strings.Contains(html, "&lt;img src=x onerror=") {
		t.Errorf("the hostile alert name is not in the page, escaped")
	}
}
