package doccheck

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fixture writes files into a fresh directory and returns it as a Repo.
func fixture(t *testing.T, files map[string]string) Repo {
	t.Helper()
	r := Repo{Root: t.TempDir()}
	for name, content := range files {
		p := filepath.Join(r.Root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		r.Files = append(r.Files, name)
	}
	slices.Sort(r.Files)
	return r
}

func TestCheckFindsBrokenLinks(t *testing.T) {
	r := fixture(t, map[string]string{
		"README.md": "# Top\n\n" +
			"[ok](docs/guide.md) [ok anchor](docs/guide.md#set-up-the-store) [folder](docs/)\n" +
			"[missing file](docs/nope.md)\n" +
			"[missing anchor](docs/guide.md#no-such-heading)\n" +
			"[here](#top) [not here](#bottom)\n" +
			"[outside](../elsewhere.md)\n" +
			"[external](https://example.com/x.md) [mail](mailto:ops@example.com)\n" +
			"`[in code](nowhere.md)`\n" +
			"```\n[in a fence](nowhere.md)\n```\n" +
			"<!-- [in a comment](nowhere.md) -->\n" +
			"[ref]: docs/gone.md\n" +
			`<a href="docs/guide.md#twice-1">html</a>` + "\n",
		"docs/guide.md":           "# Guide\n\n## Set up the store\n\n## Twice\n\n## Twice\n",
		"docs/testdata/broken.md": "[ignored fixture](nowhere.md)\n",
	})
	var got []string
	for _, p := range r.Check() {
		got = append(got, p.String())
	}
	want := []string{
		"README.md:4: (docs/nope.md): docs/nope.md does not exist in the repository",
		"README.md:5: (docs/guide.md#no-such-heading): docs/guide.md has no heading or id for #no-such-heading",
		"README.md:6: (#bottom): README.md has no heading or id for #bottom",
		"README.md:7: (../elsewhere.md): points outside the repository",
		"README.md:14: (docs/gone.md): docs/gone.md does not exist in the repository",
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestSlug(t *testing.T) {
	for heading, want := range map[string]string{
		"Quick start":                     "quick-start",
		"`pgha_exporter` flags":           "pgha_exporter-flags",
		"Alertmanager → escalator":        "alertmanager--escalator",
		"Planned stops (計画停止)":            "planned-stops-計画停止",
		"📋 **概要**":                        "-概要",
		"Several instances: /probe":       "several-instances-probe",
		"[Linked](other.md) heading":      "linked-heading",
		"What CI checks, and why it's so": "what-ci-checks-and-why-its-so",
	} {
		if got := Slug(heading); got != want {
			t.Errorf("Slug(%q) = %q, want %q", heading, got, want)
		}
	}
}

func TestAnchors(t *testing.T) {
	a := Anchors([]byte("# A\n## A\nSetext\n------\n<a id=\"custom\"></a>\n```\n# not a heading\n```\n### Closed ###\n"))
	for _, want := range []string{"a", "a-1", "setext", "custom", "closed"} {
		if !a[want] {
			t.Errorf("no anchor %q in %v", want, a)
		}
	}
	if a["not-a-heading"] {
		t.Error("a heading inside a code block counted")
	}
}

// Every link of every Markdown file in this repository resolves.
func TestRepositoryLinks(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	r, err := List(root)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(r.Files, "README.md") {
		t.Fatalf("%s: no README.md: not the repository root", root)
	}
	for _, p := range r.Check() {
		t.Error(p)
	}
}
