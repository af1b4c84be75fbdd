package generate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDiffFindsChangedMissingAndStaleFiles(t *testing.T) {
	root := t.TempDir()
	gen := map[string][]byte{"rules/app.yml": []byte("a\n"), "dashboards/x.json": []byte("{}\n")}
	if err := Write(root, gen, false); err != nil {
		t.Fatal(err)
	}
	if d := Diff(root, gen, false); len(d) != 0 {
		t.Fatalf("fresh files differ: %v", d)
	}
	os.WriteFile(filepath.Join(root, "rules/app.yml"), []byte("edited\n"), 0o644)
	os.Remove(filepath.Join(root, "dashboards/x.json"))
	os.WriteFile(filepath.Join(root, "rules/old.yml"), []byte("gone\n"), 0o644)
	os.WriteFile(filepath.Join(root, "rules/README.md"), []byte("mine\n"), 0o644)
	got := strings.Join(Diff(root, gen, false), "\n")
	for _, want := range []string{"changed: rules/app.yml", "missing: dashboards/x.json", "no longer generated: rules/old.yml"} {
		if !strings.Contains(got, want) {
			t.Errorf("diff %q lacks %q", got, want)
		}
	}
	if strings.Contains(got, "README") {
		t.Errorf("a README was counted as generated: %q", got)
	}
	if err := Write(root, gen, false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "rules/old.yml")); !os.IsNotExist(err) {
		t.Error("a file no longer generated was kept")
	}
	if _, err := os.Stat(filepath.Join(root, "rules/README.md")); err != nil {
		t.Error("Write removed a README")
	}
}
