package generate

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// owned reports whether a file on disk is mixgen's: anything in a
// generated folder but its README.md.
func owned(rel string, promRule bool) bool {
	if filepath.Base(rel) == "README.md" && !strings.HasPrefix(rel, "runbooks/") {
		return false
	}
	if strings.HasPrefix(rel, "rules/kubernetes/") {
		return promRule
	}
	dir := filepath.Dir(rel)
	for _, f := range Folders {
		if dir == f {
			return true
		}
	}
	return false
}

// Diff compares the generated files with those under root: changed,
// missing and stale (a file mixgen no longer generates).
func Diff(root string, gen map[string][]byte, promRule bool) []string {
	var out []string
	for _, rel := range Sorted(gen) {
		have, err := os.ReadFile(filepath.Join(root, rel))
		switch {
		case os.IsNotExist(err):
			out = append(out, "missing: "+rel)
		case err != nil:
			out = append(out, fmt.Sprintf("unreadable: %s: %v", rel, err))
		case !bytes.Equal(have, gen[rel]):
			out = append(out, "changed: "+rel)
		}
	}
	for _, rel := range existing(root, promRule) {
		if _, ok := gen[rel]; !ok {
			out = append(out, "no longer generated: "+rel)
		}
	}
	return out
}

// Write writes the generated files and removes those mixgen no longer
// generates.
func Write(root string, gen map[string][]byte, promRule bool) error {
	for _, rel := range existing(root, promRule) {
		if _, ok := gen[rel]; !ok {
			if err := os.Remove(filepath.Join(root, rel)); err != nil {
				return err
			}
		}
	}
	for _, rel := range Sorted(gen) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, gen[rel], 0o644); err != nil {
			return err
		}
	}
	return nil
}

func existing(root string, promRule bool) []string {
	var out []string
	for _, f := range append(Folders, "rules/kubernetes") {
		entries, _ := os.ReadDir(filepath.Join(root, f))
		for _, e := range entries {
			rel := filepath.ToSlash(filepath.Join(f, e.Name()))
			if !e.IsDir() && owned(rel, promRule) {
				out = append(out, rel)
			}
		}
	}
	return out
}
