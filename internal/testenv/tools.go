package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
)

// RepoRoot is the directory holding go.mod, found from the working
// directory (go test runs in the package's folder).
func RepoRoot(t TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("getwd: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Tool finds a pinned tool that `make tools` installs into ./bin, falling
// back to PATH.
func Tool(t TB, name string) string {
	t.Helper()
	p := filepath.Join(RepoRoot(t), "bin", name)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	Missing(t, name, "make tools")
	return ""
}
