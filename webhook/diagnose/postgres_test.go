package diagnose

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/hotel-ops/hotel-ops/internal/testenv"
)

// probeSessions counts the probe's sessions on the server.
func probeSessions(t *testing.T, pg *testenv.Postgres) int {
	t.Helper()
	var n int
	err := pg.Connect("postgres").QueryRow(context.Background(),
		"SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", applicationName).Scan(&n)
	if err != nil {
		t.Fatalf("counting sessions: %v", err)
	}
	return n
}

func tableExists(t *testing.T, pg *testenv.Postgres, name string) bool {
	t.Helper()
	var ok bool
	err := pg.Connect("postgres").QueryRow(context.Background(), "SELECT to_regclass($1) IS NOT NULL", name).Scan(&ok)
	if err != nil {
		t.Fatalf("looking for %s: %v", name, err)
	}
	return ok
}

func TestPostgres(t *testing.T) {
	pg := testenv.StartPrimary(t, "diagnose", testenv.PrimaryOptions{})
	dsnFile := writeSecret(t, pg.DSN("postgres"))

	t.Run("ok", func(t *testing.T) {
		res, _ := runCheck(t, Check{Name: "db", Type: "postgres", DSNFile: dsnFile})
		wantStatus(t, res, StatusOK)
		if !regexp.MustCompile(`^SELECT 1 in (<1|\d+) ms$`).MatchString(res.Detail) {
			t.Errorf("detail %q, want like %q", res.Detail, "SELECT 1 in 3 ms")
		}
		res, _ = runCheck(t, Check{Name: "db", Type: "postgres", DSNFile: dsnFile,
			Query: "SELECT datname\n  FROM pg_database\n  WHERE datname LIKE 'template%'"})
		wantStatus(t, res, StatusOK)
		if !regexp.MustCompile(`^SELECT datname FROM pg_database WHERE d… in (<1|\d+) ms, 2 rows$`).MatchString(res.Detail) {
			t.Errorf("detail %q, want the query on one line, cut, and its 2 rows", res.Detail)
		}
	})

	t.Run("env", func(t *testing.T) {
		t.Setenv("DIAGNOSE_TEST_DSN", pg.DSN("postgres"))
		res, _ := runCheck(t, Check{Name: "db", Type: "postgres", DSNEnv: "DIAGNOSE_TEST_DSN"})
		wantStatus(t, res, StatusOK)
	})

	// A query slower than the timeout is stopped by the server's
	// statement_timeout: failed within about the timeout, not hung.
	t.Run("slow", func(t *testing.T) {
		res, took := runCheck(t, Check{Name: "db", Type: "postgres", DSNFile: dsnFile,
			Query: "SELECT pg_sleep(5)", Timeout: model.Duration(500 * time.Millisecond)})
		wantStatus(t, res, StatusFailed)
		if !strings.Contains(res.Detail, "timed out after 500ms") {
			t.Errorf("detail %q, want a timeout", res.Detail)
		}
		if took > 3*time.Second {
			t.Errorf("Run took %v with a 500ms timeout", took)
		}
	})

	t.Run("degraded", func(t *testing.T) {
		res, _ := runCheck(t, Check{Name: "db", Type: "postgres", DSNFile: dsnFile,
			Query: "SELECT pg_sleep(0.2)", MaxLatency: model.Duration(50 * time.Millisecond)})
		wantStatus(t, res, StatusDegraded)
		if !regexp.MustCompile(`^SELECT pg_sleep\(0\.2\) in \d+ ms, slower than 50ms$`).MatchString(res.Detail) {
			t.Errorf("detail %q", res.Detail)
		}
	})

	// The query runs in a READ ONLY transaction, one statement only: a
	// diagnostic never writes, whatever its configuration says.
	t.Run("read only", func(t *testing.T) {
		for _, q := range []string{
			"CREATE TABLE diag_a (i int)",
			"SELECT 1; CREATE TABLE diag_b (i int)",
			"COMMIT; CREATE TABLE diag_c (i int)",
			"SET TRANSACTION READ WRITE",
		} {
			res, _ := runCheck(t, Check{Name: "db", Type: "postgres", DSNFile: dsnFile, Query: q})
			wantStatus(t, res, StatusFailed)
			t.Logf("%s: %s", q, res.Detail)
		}
		for _, table := range []string{"diag_a", "diag_b", "diag_c"} {
			if tableExists(t, pg, table) {
				t.Errorf("the check created table %s", table)
			}
		}
		res, _ := runCheck(t, Check{Name: "db", Type: "postgres", DSNFile: dsnFile, Query: "CREATE TABLE diag_a (i int)"})
		if !strings.Contains(res.Detail, "read-only transaction") {
			t.Errorf("detail %q does not say the transaction is read-only", res.Detail)
		}
	})

	// Runs share a pool of at most two connections; Close closes them.
	t.Run("pool", func(t *testing.T) {
		r, err := New([]Check{{Name: "db", Type: "postgres", DSNFile: dsnFile}})
		if err != nil {
			t.Fatal(err)
		}
		for range 5 {
			done := make(chan []Result, 3)
			for range 3 {
				go func() { done <- r.Run(context.Background(), nil) }()
			}
			for range 3 {
				wantStatus(t, (<-done)[0], StatusOK)
			}
		}
		if n := probeSessions(t, pg); n < 1 || n > pgMaxConns {
			t.Errorf("%d probe sessions after the runs, want 1 to %d kept open", n, pgMaxConns)
		}
		if err := r.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for probeSessions(t, pg) != 0 {
			if time.Now().After(deadline) {
				t.Fatal("probe sessions still open 5s after Close")
			}
			time.Sleep(50 * time.Millisecond)
		}
	})

	t.Run("missing dsn", func(t *testing.T) {
		res, _ := runCheck(t, Check{Name: "db", Type: "postgres", DSNFile: dsnFile + ".missing"})
		wantStatus(t, res, StatusFailed)
		if !strings.Contains(res.Detail, "no such file") {
			t.Errorf("detail %q", res.Detail)
		}
	})

	// A bad DSN is reported without quoting it: it holds the password.
	t.Run("bad dsn", func(t *testing.T) {
		res, _ := runCheck(t, Check{Name: "db", Type: "postgres", DSNFile: writeSecret(t, "postgres://u:hunter2@h:notaport/db")})
		wantStatus(t, res, StatusFailed)
		if strings.Contains(res.Detail, "hunter2") || !strings.Contains(res.Detail, "not a valid") {
			t.Errorf("detail %q", res.Detail)
		}
	})

	// The server's refusal is the detail. (The test server trusts
	// 127.0.0.1, so a wrong password would pass: a missing role fails.)
	t.Run("unknown role", func(t *testing.T) {
		res, _ := runCheck(t, Check{Name: "db", Type: "postgres", DSNFile: writeSecret(t, pg.DSNAs("nobody", "postgres"))})
		wantStatus(t, res, StatusFailed)
		if !strings.Contains(res.Detail, `role "nobody" does not exist`) {
			t.Errorf("detail %q", res.Detail)
		}
	})

	// A stopped server fails the check (the first run after may see the
	// pooled session's end rather than the refused connection); once it is
	// back, so is the check.
	t.Run("stopped", func(t *testing.T) {
		r := newRunner(t, Check{Name: "db", Type: "postgres", DSNFile: dsnFile})
		wantStatus(t, r.Run(context.Background(), nil)[0], StatusOK)
		pg.Stop()
		restarted := false
		defer func() {
			if !restarted {
				pg.Start()
			}
		}()
		wantStatus(t, r.Run(context.Background(), nil)[0], StatusFailed)
		res := r.Run(context.Background(), nil)[0]
		wantStatus(t, res, StatusFailed)
		if res.Detail != "connection refused" {
			t.Errorf("detail %q, want connection refused", res.Detail)
		}
		pg.Start()
		restarted = true
		wantStatus(t, r.Run(context.Background(), nil)[0], StatusOK)
	})
}
