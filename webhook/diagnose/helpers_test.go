package diagnose

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// newRunner builds a Runner closed by the test's Cleanup.
func newRunner(t *testing.T, checks ...Check) *Runner {
	t.Helper()
	r, err := New(checks)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

// runCheck runs one check on a Runner of its own, returning its result and
// how long Run took.
func runCheck(t *testing.T, c Check) (Result, time.Duration) {
	t.Helper()
	r := newRunner(t, c)
	start := time.Now()
	res := r.Run(context.Background(), nil)
	took := time.Since(start)
	if len(res) != 1 {
		t.Fatalf("Run returned %d results, want 1", len(res))
	}
	return res[0], took
}

// writeSecret writes a secret file (with a trailing newline, as editors
// and kubectl leave one) and returns its path.
func writeSecret(t *testing.T, s string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func wantStatus(t *testing.T, res Result, want Status) {
	t.Helper()
	if res.Status != want {
		t.Errorf("%s: status %q (%s), want %q", res.Name, res.Status, res.Detail, want)
	}
}
