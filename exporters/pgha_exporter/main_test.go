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

	"golang.org/x/crypto/bcrypt"

	"github.com/hotel-ops/hotel-ops/internal/testenv"
)

// TestBinary runs the built exporter against a real primary: the default
// target, /probe limited to named targets, basic auth from the web config,
// promtool's metric lint, and a clean exit on SIGTERM.
func TestBinary(t *testing.T) {
	promtool := testenv.Tool(t, "promtool")
	primary := testenv.StartPrimary(t, "primary", testenv.PrimaryOptions{})
	bin, write := buildExporter(t)
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

	t.Run("a DSN alone is enough", func(t *testing.T) {
		addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		var logs bytes.Buffer
		cmd := exec.Command(bin, "--pg.dsn-file", dsnFile, "--web.listen-address", addr)
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			resp, err := http.Get("http://" + addr + "/metrics")
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if !strings.Contains(string(body), "\npgha_up 1\n") {
					t.Fatalf("/metrics with --pg.dsn-file alone:\n%s", body)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("no answer with --pg.dsn-file alone: %v\n%s", err, logs.String())
			}
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

// TestBinaryPgBouncer runs the built exporter against Debian's PgBouncer
// (checking passwords) in front of a real primary: a bad kind is refused,
// --pgbouncer.dsn-file adds PgBouncer to /metrics beside PostgreSQL,
// /probe serves a kind: pgbouncer target, a wrong password gives up 0, and
// no password reaches the logs.
func TestBinaryPgBouncer(t *testing.T) {
	promtool := testenv.Tool(t, "promtool")
	primary := testenv.StartPrimary(t, "primary", testenv.PrimaryOptions{})
	const password = "bouncer-pw-5150"
	bouncer := testenv.StartPgBouncer(t, primary, testenv.PgBouncerOptions{Password: password, PoolSize: 2})
	bin, write := buildExporter(t)
	pgDSN := write("primary.dsn", primary.DSN("postgres")+"\n")
	bouncerDSN := write("bouncer.dsn", bouncer.StatsDSN()+"\n")
	wrongDSN := write("wrong.dsn", bouncer.DSNWithPassword(bouncer.StatsUser, "wrong-pw-8086", "pgbouncer")+"\n")
	// Targets given the wrong kind: PgBouncer's console as a PostgreSQL,
	// and a PostgreSQL (no database pgbouncer yet) as a PgBouncer.
	pgAsBouncerDSN := write("pgasbouncer.dsn", primary.DSN("pgbouncer")+"\n")
	cfg := write("targets.yml", fmt.Sprintf("targets:\n  primary:\n    dsn_file: %s\n  bouncer:\n    kind: pgbouncer\n    dsn_file: %s\n  wrongpw:\n    kind: pgbouncer\n    dsn_file: %s\n"+
		"  consoleaspg:\n    dsn_file: %s\n  pgasbouncer:\n    kind: pgbouncer\n    dsn_file: %s\n", pgDSN, bouncerDSN, wrongDSN, bouncerDSN, pgAsBouncerDSN))

	t.Run("an unknown kind is refused at start", func(t *testing.T) {
		bad := write("bad.yml", "targets:\n  b:\n    dsn_file: /x\n    kind: pgbouncr\n")
		out, err := exec.Command(bin, "--config.file", bad, "--web.listen-address", "127.0.0.1:0").CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
			t.Fatalf("exit %v, want 2\n%s", err, out)
		}
		if !strings.Contains(string(out), `bad.yml:4: targets.b.kind: unknown kind \"pgbouncr\"`) {
			t.Errorf("unhelpful error:\n%s", out)
		}
	})

	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	var logs bytes.Buffer
	cmd := exec.Command(bin, "--pg.dsn-file", pgDSN, "--pgbouncer.dsn-file", bouncerDSN, "--config.file", cfg,
		"--web.listen-address", addr, "--scrape.timeout", "2s")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	get := func(path string) string {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp, err := http.Get("http://" + addr + path)
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Fatalf("GET %s: %d\n%s", path, resp.StatusCode, body)
				}
				return string(body)
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET %s: %v\n%s", path, err, logs.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	lint := func(what, body string) {
		t.Helper()
		c := exec.Command(promtool, "check", "metrics")
		c.Stdin = strings.NewReader(body)
		if out, err := c.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics on %s: %v\n%s", what, err, out)
		}
	}

	body := get("/metrics")
	for _, want := range []string{"\npgha_up 1\n", "\npgha_pgbouncer_up 1\n", `pgha_pgbouncer_pool_size{database="pgbouncer",user="pgbouncer"}`, "pgha_pgbouncer_config_default_pool_size 2\n"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
	lint("/metrics", body)

	body = get("/probe?target=bouncer")
	if !strings.Contains(body, "\npgha_pgbouncer_up 1\n") || !strings.Contains(body, `pgha_pgbouncer_database_pool_size{database="postgres"} 2`) || strings.Contains(body, "\npgha_up ") {
		t.Errorf("/probe?target=bouncer:\n%s", body)
	}
	lint("/probe?target=bouncer", body)
	if body := get("/probe?target=primary"); !strings.Contains(body, "\npgha_up 1\n") || strings.Contains(body, "pgha_pgbouncer_up") {
		t.Errorf("/probe?target=primary:\n%s", body)
	}
	body = get("/probe?target=wrongpw")
	if !strings.Contains(body, "\npgha_pgbouncer_up 0\n") || strings.Contains(body, "pgha_pgbouncer_pool_") {
		t.Errorf("/probe?target=wrongpw:\n%s", body)
	}
	get("/probe?target=wrongpw")
	if n := strings.Count(logs.String(), "PgBouncer scrape failed"); n != 1 {
		t.Errorf("%d failure lines for 2 failed probes, want 1:\n%s", n, logs.String())
	}
	for _, pw := range []string{password, "wrong-pw-8086"} {
		if strings.Contains(logs.String(), pw) {
			t.Errorf("logs hold a password:\n%s", logs.String())
		}
	}

	t.Run("a target of the wrong kind fails with a hint", func(t *testing.T) {
		hinted := func(what, want string) {
			t.Helper()
			for deadline := time.Now().Add(5 * time.Second); !strings.Contains(logs.String(), want); time.Sleep(50 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Errorf("%s: the log does not say %q:\n%s", what, want, logs.String())
					return
				}
			}
		}
		if body := get("/probe?target=consoleaspg"); !strings.Contains(body, "\npgha_up 0\n") {
			t.Errorf("PgBouncer's console as a kind: postgres target:\n%s", body)
		}
		hinted("PgBouncer's console as a kind: postgres target", "for PgBouncer's admin console, dbname=pgbouncer, give the target kind: pgbouncer")
		if body := get("/probe?target=pgasbouncer"); !strings.Contains(body, "\npgha_pgbouncer_up 0\n") {
			t.Errorf("a PostgreSQL as a kind: pgbouncer target:\n%s", body)
		}
		hinted("a PostgreSQL without a database pgbouncer as a kind: pgbouncer target", "this server is PostgreSQL, not a PgBouncer; give the target kind: postgres")
		primary.Exec("CREATE DATABASE pgbouncer")
		if body := get("/probe?target=pgasbouncer"); !strings.Contains(body, "\npgha_pgbouncer_up 0\n") {
			t.Errorf("a PostgreSQL with a database pgbouncer as a kind: pgbouncer target:\n%s", body)
		}
		hinted("a PostgreSQL with a database pgbouncer as a kind: pgbouncer target", "not PgBouncer's admin console (…/bouncer): for a PostgreSQL server give the target kind: postgres")
	})
}

// buildExporter builds the binary into a temporary directory and gives a
// function writing files beside it (DSNs, configurations).
func buildExporter(t *testing.T) (bin string, write func(name, content string) string) {
	t.Helper()
	dir := t.TempDir()
	bin = filepath.Join(dir, "pgha_exporter")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin, func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
}

// TestPasswordRotatedInTheDSNFile: a password changed on the server and in
// --pg.dsn-file is used for the next connection, with no restart; neither
// password reaches the log.
func TestPasswordRotatedInTheDSNFile(t *testing.T) {
	const role = "pgha_rotating"
	primary := testenv.StartPrimary(t, "rotation", testenv.PrimaryOptions{PasswordRoles: []string{role}})
	primary.Exec("CREATE ROLE " + role + " LOGIN PASSWORD 'first-pw-1618' IN ROLE pg_monitor")
	bin, write := buildExporter(t)
	dsn := func(pw string) string {
		return fmt.Sprintf("host=127.0.0.1 port=%d user=%s password=%s dbname=postgres sslmode=disable\n", primary.Port, role, pw)
	}
	dsnFile := write("rotating.dsn", dsn("first-pw-1618"))
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	var logs strings.Builder
	var logMu sync.Mutex
	cmd := exec.Command(bin, "--pg.dsn-file", dsnFile, "--web.listen-address", addr, "--scrape.timeout", "2s")
	cmd.Stdout, cmd.Stderr = lockedWriter{&logs, &logMu}, lockedWriter{&logs, &logMu}
	logged := func() string { logMu.Lock(); defer logMu.Unlock(); return logs.String() }
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	up := func() bool {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return strings.Contains(string(body), "\npgha_up 1\n")
	}
	eventually := func(what string) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !up(); time.Sleep(200 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: pgha_up never 1\n%s", what, logged())
			}
		}
	}
	eventually("with the first password")

	primary.Exec("ALTER ROLE " + role + " PASSWORD 'second-pw-2718'")
	write("rotating.dsn", dsn("second-pw-2718"))
	primary.Exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '" + role + "'")
	eventually("after the password was rotated and the sessions cut")

	if l := logged(); strings.Contains(l, "first-pw-1618") || strings.Contains(l, "second-pw-2718") {
		t.Errorf("a password in the log:\n%s", l)
	}
}

// startExporter runs bin with args on a free loopback port until the test
// ends, waits for its landing page (which scrapes nothing), and gives its
// address and a function reading its log so far.
func startExporter(t *testing.T, bin string, args ...string) (addr string, logged func() string) {
	t.Helper()
	addr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	var logs strings.Builder
	var logMu sync.Mutex
	cmd := exec.Command(bin, append(args, "--web.listen-address", addr)...)
	cmd.Stdout, cmd.Stderr = lockedWriter{&logs, &logMu}, lockedWriter{&logs, &logMu}
	logged = func() string { logMu.Lock(); defer logMu.Unlock(); return logs.String() }
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/")
		if err == nil {
			resp.Body.Close()
			return addr, logged
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no answer: %v\n%s", bin, err, logged())
		}
	}
}

// TestBinaryNamesTheDSNFlagGiven: errors and log lines about a target of
// /metrics name the DSN flag the user gave (--pg.dsn-file, not --pg.dsn),
// once.
func TestBinaryNamesTheDSNFlagGiven(t *testing.T) {
	bin, write := buildExporter(t)
	missing := filepath.Join(filepath.Dir(bin), "missing.dsn")
	const pool = "host=127.0.0.1 port=6432 user=pgbouncer dbname=postgres"
	poolFile := write("pool.dsn", pool+"\n")
	const notConsole = `a pgbouncer DSN must name the admin console, dbname=pgbouncer, not \"postgres\"`

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--pg.dsn-file", missing}, `msg="Invalid DSN" err="--pg.dsn-file: the DSN: reading secret: open ` + missing + `: no such file or directory"`},
		{[]string{"--pgbouncer.dsn-file", poolFile}, `msg="Invalid PgBouncer DSN" err="--pgbouncer.dsn-file: ` + notConsole + `"`},
		{[]string{"--pgbouncer.dsn", pool}, `msg="Invalid PgBouncer DSN" err="--pgbouncer.dsn: ` + notConsole + `"`},
	} {
		out, err := exec.Command(bin, append(c.args, "--web.listen-address", "127.0.0.1:0")...).CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
			t.Errorf("%s: exit %v, want 2\n%s", c.args[0], err, out)
		}
		if !strings.Contains(string(out), c.want+"\n") || strings.Count(string(out), "--pg") != 1 {
			t.Errorf("%s: want the one line %s, got:\n%s", c.args[0], c.want, out)
		}
	}

	t.Run("log lines", func(t *testing.T) {
		// Nothing listens on these ports: every scrape fails, and says so.
		pgFile := write("pg.dsn", fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=postgres sslmode=disable\n", testenv.FreePort(t)))
		bouncerFile := write("bouncer.dsn", fmt.Sprintf("host=127.0.0.1 port=%d user=pgbouncer dbname=pgbouncer sslmode=disable\n", testenv.FreePort(t)))
		addr, logged := startExporter(t, bin, "--pg.dsn-file", pgFile, "--pgbouncer.dsn-file", bouncerFile, "--scrape.timeout", "2s")
		code, body, _ := scrapeWithTimeout(t, "http://"+addr+"/metrics", "")
		if code != http.StatusOK || !strings.Contains(body, "\npgha_up 0\n") || !strings.Contains(body, "\npgha_pgbouncer_up 0\n") {
			t.Fatalf("/metrics: %d\n%s", code, body)
		}
		for _, want := range []string{
			`msg="Watching PostgreSQL" target=--pg.dsn-file dsn=`,
			`msg="Watching PgBouncer" target=--pgbouncer.dsn-file dsn=`,
			`msg="Scrape failed" target=--pg.dsn-file err=`,
			`msg="PgBouncer scrape failed (logged again when the error changes)" target=--pgbouncer.dsn-file err=`,
		} {
			// Logged before the answer, but copied from the exporter's
			// stderr by a goroutine of exec: it may come a little later.
			for deadline := time.Now().Add(5 * time.Second); !strings.Contains(logged(), want); time.Sleep(50 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Errorf("no log line with %s:\n%s", want, logged())
					break
				}
			}
		}
		logs := logged()
		if strings.Contains(logs, "target=--pg.dsn ") || strings.Contains(logs, "target=--pgbouncer.dsn ") {
			t.Errorf("a log line names a flag not given:\n%s", logs)
		}
	})
}
