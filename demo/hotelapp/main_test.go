package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/hotel-ops/hotel-ops/internal/testenv"
)

// syncBuffer collects the process' output while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "hotelapp")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func TestFlagErrors(t *testing.T) {
	bin := build(t)
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		env  []string
		args []string
		msg  string
	}{
		{nil, nil, "no database"},
		{nil, []string{"--pg.dsn", "postgres://x@127.0.0.1/db", "--pg.dsn-file", empty}, "not both"},
		{nil, []string{"--pg.dsn-file", empty}, "is empty"},
		{nil, []string{"--pg.dsn", "host=127.0.0.1 port=notaport password=hunter2-secret"}, "invalid DSN"},
		{[]string{"HOTELAPP_ADMIN_TOKEN=t"}, []string{"--pg.dsn", "postgres://x@127.0.0.1/db", "--admin.token-file", empty}, "not both"},
		{nil, []string{"--pg.dsn", "postgres://x@127.0.0.1/db", "--admin.token-file", empty}, "is empty"},
		{nil, []string{"--pg.dsn", "postgres://x@127.0.0.1/db", "--traffic.rps=-1"}, "must not be negative"},
		{nil, []string{"--pg.dsn", "postgres://x@127.0.0.1/db", "--web.listen-address", "127.0.0.1:0"}, "needs a fixed port"},
	} {
		cmd := exec.Command(bin, c.args...)
		cmd.Env = append(os.Environ(), c.env...)
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
			t.Errorf("%v: exit %v, want 2\n%s", c.args, err, out)
		}
		if !strings.Contains(string(out), c.msg) {
			t.Errorf("%v: output does not say %q:\n%s", c.args, c.msg, out)
		}
		if strings.Contains(string(out), "hunter2-secret") {
			t.Errorf("%v: the password is in the output:\n%s", c.args, out)
		}
	}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "hotelapp") {
		t.Errorf("--version: %v\n%s", err, out)
	}
}

// TestBinary runs the command on a real primary: it creates the schema,
// sends itself traffic, exposes the metrics, obeys the fault switches and
// exits cleanly on SIGTERM, never logging the DSN's password.
func TestBinary(t *testing.T) {
	bin := build(t)
	pg := testenv.StartPrimary(t, "hotelapp", testenv.PrimaryOptions{})
	dir := t.TempDir()
	// Trust authentication ignores the password, which must still never be logged.
	dsnFile := filepath.Join(dir, "dsn")
	dsn := fmt.Sprintf("postgres://postgres:pw-never-logged@127.0.0.1:%d/postgres?sslmode=disable", pg.Port)
	tokenFile := filepath.Join(dir, "token")
	for f, v := range map[string]string{dsnFile: dsn + "\n", tokenFile: "demo-token\n"} {
		if err := os.WriteFile(f, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	var logs syncBuffer
	cmd := exec.Command(bin, "--pg.dsn-file", dsnFile, "--admin.token-file", tokenFile, "--web.listen-address", addr,
		"--traffic.rps", "20", "--traffic.login-rps", "5", "--log.level", "debug")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	do := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer demo-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	scrape := func() map[string]*dto.MetricFamily {
		t.Helper()
		code, body := do("GET", "/metrics", "")
		if code != 200 {
			t.Fatalf("/metrics: %d %s", code, body)
		}
		p := expfmt.NewTextParser(model.UTF8Validation)
		mfs, err := p.TextToMetricFamilies(strings.NewReader(body))
		if err != nil {
			t.Fatalf("parsing /metrics: %v", err)
		}
		return mfs
	}
	sum := func(mfs map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
		var n float64
		for _, m := range mfs[name].GetMetric() {
			match := 0
			for _, l := range m.Label {
				if v, ok := want[l.GetName()]; ok && v == l.GetValue() {
					match++
				}
			}
			if match == len(want) {
				n += m.GetCounter().GetValue()
			}
		}
		return n
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			select {
			case err := <-exited:
				t.Fatalf("hotelapp exited (%v) while waiting for %s:\n%s", err, what, logs.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s within 30s:\n%s", what, logs.String())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	waitFor("healthy /healthz", func() bool { code, _ := do("GET", "/healthz", ""); return code == 200 })
	waitFor("built-in traffic", func() bool {
		mfs := scrape()
		return sum(mfs, "http_requests_total", map[string]string{"handler": "search", "code": "200"}) > 0 &&
			sum(mfs, "http_requests_total", map[string]string{"handler": "bookings", "code": "201"}) > 0 &&
			sum(mfs, "auth_login_attempts_total", map[string]string{"result": "success"}) > 0
	})
	mfs := scrape()
	for _, name := range []string{"hotelapp_build_info", "go_goroutines", "process_cpu_seconds_total", "http_request_duration_seconds"} {
		if mfs[name] == nil {
			t.Errorf("%s absent from /metrics", name)
		}
	}
	if n := sum(mfs, "http_requests_total", map[string]string{"handler": "metrics"}); n != 0 {
		t.Errorf("/metrics is counted: %v", n)
	}
	t.Run("promtool lint", func(t *testing.T) {
		promtool := testenv.Tool(t, "promtool")
		_, body := do("GET", "/metrics", "")
		lint := exec.Command(promtool, "check", "metrics")
		lint.Stdin = strings.NewReader(body)
		if out, err := lint.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	})
	if code, out := do("GET", "/", ""); code != 200 || !strings.Contains(out, "hotelapp") {
		t.Errorf("landing page: %d %s", code, out)
	}

	if code, out := do("PUT", "/admin/faults", `{"error_ratio": 1}`); code != 200 {
		t.Fatalf("PUT /admin/faults: %d %s", code, out)
	}
	base := sum(scrape(), "http_requests_total", map[string]string{"code": "500"})
	waitFor("500s from the error_ratio fault", func() bool {
		return sum(scrape(), "http_requests_total", map[string]string{"code": "500", "handler": "search"}) > base
	})
	if code, out := do("DELETE", "/admin/faults", ""); code != 200 {
		t.Fatalf("DELETE /admin/faults: %d %s", code, out)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("still running 20s after SIGTERM:\n%s", logs.String())
	}
	out := logs.String()
	if strings.Contains(out, "pw-never-logged") {
		t.Errorf("the DSN's password is in the log:\n%s", out)
	}
	for _, want := range []string{"Using PostgreSQL", "Sending built-in traffic", "Faults replaced", "Faults cleared", "Shutting down"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log does not say %q:\n%s", want, out)
		}
	}
}
