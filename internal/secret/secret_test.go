package secret

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	if err := os.WriteFile(file, []byte("  s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := Read(file, ""); err != nil || got != "s3cret" {
		t.Fatalf("Read(file) = %q, %v", got, err)
	}
	t.Setenv("SECRET_TEST_ENV", "from-env")
	if got, err := Read("", "SECRET_TEST_ENV"); err != nil || got != "from-env" {
		t.Fatalf("Read(env) = %q, %v", got, err)
	}
	empty := filepath.Join(dir, "empty")
	_ = os.WriteFile(empty, []byte("\n"), 0o600)
	for _, tc := range []struct{ file, env string }{{empty, ""}, {filepath.Join(dir, "missing"), ""}, {"", "SECRET_TEST_UNSET"}} {
		_, err := Read(tc.file, tc.env)
		if err == nil {
			t.Errorf("Read(%q, %q): no error", tc.file, tc.env)
		} else if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("error %q shows a secret", err)
		}
	}
}

func TestOptional(t *testing.T) {
	if s, err := Optional("", ""); s != "" || err != nil {
		t.Errorf("nothing named: %q, %v", s, err)
	}
	t.Setenv("HOTELOPS_OPTIONAL_TEST", "")
	if _, err := Optional("", "HOTELOPS_OPTIONAL_TEST"); err == nil {
		t.Error("a named but empty variable is not an error")
	}
	t.Setenv("HOTELOPS_OPTIONAL_TEST", " s3cret ")
	if s, err := Optional("", "HOTELOPS_OPTIONAL_TEST"); s != "s3cret" || err != nil {
		t.Errorf("got %q, %v", s, err)
	}
}
