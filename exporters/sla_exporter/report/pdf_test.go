package report

import (
	"bytes"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// checkPDF: a PDF with one image per chart (the charts are opaque PNGs,
// so fpdf adds no soft mask image beside them), and, where pdftoppm is
// installed, a first page that renders to something not blank.
func checkPDF(t *testing.T, r *Report) {
	var b bytes.Buffer
	if err := WritePDF(&b, r); err != nil {
		t.Fatal(err)
	}
	out := b.Bytes()
	charts, err := Charts(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(out, []byte("%PDF-")) || !bytes.HasSuffix(bytes.TrimSpace(out), []byte("%%EOF")) {
		t.Fatalf("not a PDF: %.20q … %.20q", out, out[max(len(out)-20, 0):])
	}
	if n := bytes.Count(out, []byte("/Subtype /Image")); n != len(charts) {
		t.Errorf("%d images in the PDF, want one per chart (%d)", n, len(charts))
	}
	t.Logf("PDF: %d bytes, %d charts", len(out), len(charts))

	t.Run("pdftoppm", func(t *testing.T) {
		bin, err := exec.LookPath("pdftoppm")
		if err != nil {
			t.Skip("pdftoppm is not installed (apt-get install poppler-utils): the PDF is not rendered")
		}
		dir := t.TempDir()
		file := filepath.Join(dir, "report.pdf")
		if err := os.WriteFile(file, out, 0o600); err != nil {
			t.Fatal(err)
		}
		if msg, err := exec.Command(bin, "-png", "-r", "50", "-f", "1", "-l", "1", file, filepath.Join(dir, "page")).CombinedOutput(); err != nil {
			t.Fatalf("pdftoppm: %v: %s", err, msg)
		}
		pages, _ := filepath.Glob(filepath.Join(dir, "page*.png"))
		if len(pages) != 1 {
			t.Fatalf("pdftoppm wrote %v", pages)
		}
		f, err := os.Open(pages[0])
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		img, err := png.Decode(f)
		if err != nil {
			t.Fatal(err)
		}
		if ink, colored := inked(img); ink < 0.02 || colored < 0.001 {
			t.Errorf("page 1 looks blank: %.1f%% inked, %.2f%% colored", 100*ink, 100*colored)
		}
	})
}
