// Package testenv starts real servers on loopback for tests and for the
// demo: PostgreSQL primaries and streaming standbys made with initdb and
// pg_basebackup, Redis, pgBackRest archiving into an S3 server, Prometheus,
// Alertmanager, node_exporter, and recorders of PagerDuty, Slack and
// e-mail. Each server lives in its own temporary directory on a free port
// and is torn down by the test's Cleanup.
//
// When a server binary is missing, tests skip with the command that
// installs it; with CI=true they fail instead, so CI never passes by
// running nothing.
package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
)

// TB is the part of testing.TB that the environment needs. The demo
// provides its own implementation so it can reuse the same code.
type TB interface {
	Helper()
	Cleanup(func())
	Logf(format string, args ...any)
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
}

// InCI reports whether missing servers must fail rather than skip.
func InCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v == "true" || v == "1" || v == "yes"
}

// Missing fails (in CI) or skips (elsewhere) because what is missing, with
// the command that installs it.
func Missing(t TB, what, install string) {
	t.Helper()
	if InCI() {
		t.Fatalf("%s is not installed (CI=true, so this fails): install it with `%s` or run `make test`", what, install)
		return
	}
	t.Skipf("%s is not installed: install it with `%s` or run `make test`", what, install)
}

// LookPath finds a binary or reports it Missing.
func LookPath(t TB, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name, install)
	}
	return p
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// run executes a command and returns its combined output with the error.
func run(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}
