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
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/hotel-ops/hotel-ops/internal/testenv"
)

// TestBinary runs the built exporter against a real primary: the default
// target, /probe limited to named targets, basic auth from the web config,
// promtool's metric lint, and a clean exit on SIGTERM.
func TestBinary(t *testing.T) {
	promtool := testenv.Tool(t, "promtool")
	primary := testenv.StartPrimary(t, "primary", testenv.PrimaryOptions{})
	dir := t.TempDir()
	bin := filepath.Join(dir, "pgha_exporter")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	dsnFile := write("primary.dsn", primary.DSN("postgres")+"\n")
	cfg := write("targets.yml", fmt.Sprintf("targets:\n  primary:\n    dsn_file: %s\n", dsnFile))
	hash, _ := bcrypt.GenerateFromPassword([]byte("scrape-pw"), bcrypt.MinCost)
	webCfg := write("web.yml", fmt.Sprintf("basic_auth_users:\n  prom: %s\n", hash))

	t.Run("bad config names the file, line and field", func(t *testing.T) {
		bad := write("bad.yml", "targets:\n  primary:\n    dsn_file: /x\n    dsn_env: Y\n")
		out, err := exec.Command(bin, "--config.file", bad, "--web.listen-address", "127.0.0.1:0").CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
			t.Fatalf("exit %v, want 2\n%s", err, out)
		}
		if !strings.Contains(string(out), "bad.yml:2: targets.primary: only one of dsn, dsn_file or dsn_env") {
			t.Errorf("unhelpful error:\n%s", out)
		}
	})

	port := testenv.FreePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	var logs bytes.Buffer
	cmd := exec.Command(bin, "--pg.dsn-file", dsnFile, "--config.file", cfg, "--web.config.file", webCfg,
		"--web.listen-address", addr, "--scrape.timeout", "2s")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	get := func(path string, auth bool) (int, string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
			if auth {
				req.SetBasicAuth("prom", "scrape-pw")
			}
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				return resp.StatusCode, string(body)
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET %s: %v\n%s", path, err, logs.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	if code, _ := get("/metrics", false); code != http.StatusUnauthorized {
		t.Errorf("/metrics without credentials: %d, want 401", code)
	}
	code, body := get("/metrics", true)
	if code != 200 || !strings.Contains(body, "\npgha_up 1\n") || !strings.Contains(body, "pgha_exporter_build_info{") {
		t.Fatalf("/metrics: %d\n%s", code, body)
	}
	lint := exec.Command(promtool, "check", "metrics")
	lint.Stdin = strings.NewReader(body)
	if out, err := lint.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
	if code, body := get("/probe?target=primary", true); code != 200 || !strings.Contains(body, "\npgha_up 1\n") {
		t.Errorf("/probe?target=primary: %d\n%s", code, body)
	}
	for _, target := range []string{"nope", "", "postgres://postgres@127.0.0.1/postgres"} {
		if code, body := get("/probe?target="+target, true); code != http.StatusBadRequest || !strings.Contains(body, "unknown target") {
			t.Errorf("/probe?target=%s: %d %s, want 400 unknown target", target, code, body)
		}
	}
	if code, body := get("/", true); code != 200 || !strings.Contains(body, "pgha_exporter") {
		t.Errorf("landing page: %d", code)
	}
	if strings.Contains(logs.String(), "password") {
		t.Errorf("logs mention a password:\n%s", logs.String())
	}

	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("no exit 15s after SIGTERM")
	}
}
