package diagnose

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hotel-ops/hotel-ops/internal/testenv"
)

// redisCmd sends one inline command to a Redis server and returns the
// first line of the answer, with no client library between.
func redisCmd(t *testing.T, addr, cmd string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := fmt.Fprintf(c, "%s\r\n", cmd); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	return strings.TrimSpace(line)
}

func TestRedis(t *testing.T) {
	srv := testenv.StartRedis(t)
	res, _ := runCheck(t, Check{Name: "cache", Type: "redis", Addr: srv.Addr})
	wantStatus(t, res, StatusOK)
	re := regexp.MustCompile(`^PONG in (<1|\d+) ms, used_memory \d+\.\d (KiB|MiB) \(no maxmemory\), (\d+) clients$`)
	m := re.FindStringSubmatch(res.Detail)
	if m == nil {
		t.Fatalf("detail %q, want like %q", res.Detail, "PONG in 1 ms, used_memory 1.2 MiB (no maxmemory), 5 clients")
	}
	if m[3] == "0" {
		t.Errorf("detail %q counts no client, not even the probe", res.Detail)
	}

	if got := redisCmd(t, srv.Addr, "CONFIG SET maxmemory 100mb"); got != "+OK" {
		t.Fatalf("CONFIG SET maxmemory: %s", got)
	}
	res, _ = runCheck(t, Check{Name: "cache", Type: "redis", Addr: srv.Addr})
	wantStatus(t, res, StatusOK)
	if !regexp.MustCompile(`, used_memory \d+\.\d (KiB|MiB) of 100\.0 MiB \(\d+%\), \d+ clients$`).MatchString(res.Detail) {
		t.Errorf("detail %q does not show maxmemory 100 MiB", res.Detail)
	}
}

func TestRedisPassword(t *testing.T) {
	srv := testenv.StartRedis(t)
	if got := redisCmd(t, srv.Addr, "CONFIG SET requirepass s3cr3t-pw"); got != "+OK" {
		t.Fatalf("CONFIG SET requirepass: %s", got)
	}
	res, _ := runCheck(t, Check{Name: "cache", Type: "redis", Addr: srv.Addr})
	wantStatus(t, res, StatusFailed)
	if !strings.Contains(res.Detail, "NOAUTH") {
		t.Errorf("no password: detail %q, want NOAUTH", res.Detail)
	}
	res, _ = runCheck(t, Check{Name: "cache", Type: "redis", Addr: srv.Addr, PasswordFile: writeSecret(t, "wrong")})
	wantStatus(t, res, StatusFailed)
	res, _ = runCheck(t, Check{Name: "cache", Type: "redis", Addr: srv.Addr, PasswordFile: writeSecret(t, "s3cr3t-pw")})
	wantStatus(t, res, StatusOK)
	for _, d := range []string{res.Detail} {
		if strings.Contains(d, "s3cr3t") {
			t.Errorf("detail %q carries the password", d)
		}
	}
}

func TestRedisDown(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	res, took := runCheck(t, Check{Name: "cache", Type: "redis", Addr: addr})
	wantStatus(t, res, StatusFailed)
	if res.Detail != "connection refused" {
		t.Errorf("detail %q, want connection refused", res.Detail)
	}
	if took > 2*time.Second {
		t.Errorf("a refused connection took %v", took)
	}
}

// A client reused across runs reports a server that has stopped since.
func TestRedisStopped(t *testing.T) {
	srv := testenv.StartRedis(t)
	r := newRunner(t, Check{Name: "cache", Type: "redis", Addr: srv.Addr})
	ctx := context.Background()
	wantStatus(t, r.Run(ctx, nil)[0], StatusOK)

	c, err := net.DialTimeout("tcp", srv.Addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = c.Write([]byte("SHUTDOWN NOSAVE\r\n"))
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _ = c.Read(make([]byte, 64)) // returns when the server has closed it
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		probe, err := net.DialTimeout("tcp", srv.Addr, time.Second)
		if err != nil {
			break
		}
		probe.Close()
		if time.Now().After(deadline) {
			t.Fatal("redis-server still accepts connections after SHUTDOWN")
		}
		time.Sleep(20 * time.Millisecond)
	}

	start := time.Now()
	res := r.Run(ctx, nil)[0]
	wantStatus(t, res, StatusFailed)
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("the stopped server's check took %v", took)
	}
	t.Logf("stopped: %s", res.Detail)
}

// A server restarted since the last run is ok on the next one: the idle
// connection to the old process is not mistaken for the server.
func TestRedisRestarted(t *testing.T) {
	port := testenv.FreePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	bin := testenv.LookPath(t, "redis-server", "sudo apt-get install -y redis-server")
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", t.TempDir())
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if c, err := net.Dial("tcp", addr); err == nil {
				c.Close()
				return cmd
			}
		}
		t.Fatalf("redis-server on %s did not start", addr)
		return nil
	}
	first := start()
	r := newRunner(t, Check{Name: "cache", Type: "redis", Addr: addr})
	wantStatus(t, r.Run(context.Background(), nil)[0], StatusOK)
	_ = first.Process.Kill()
	_, _ = first.Process.Wait()
	start()
	res := r.Run(context.Background(), nil)[0]
	wantStatus(t, res, StatusOK)
}
