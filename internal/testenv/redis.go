package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"time"
)

// Redis is a throwaway redis-server on 127.0.0.1 that keeps nothing on disk.
type Redis struct {
	Port int
	Addr string
	cmd  *exec.Cmd
}

// Stop kills the server (a cache that goes away); Cleanup copes with a
// server stopped already.
func (r *Redis) Stop() {
	_ = r.cmd.Process.Kill()
	_, _ = r.cmd.Process.Wait()
}

// StartRedis starts a redis-server stopped by the test's Cleanup.
func StartRedis(t TB) *Redis {
	t.Helper()
	bin := LookPath(t, "redis-server", "sudo apt-get install -y redis-server")
	dir, err := os.MkdirTemp("", "hotelops-redis-")
	if err != nil {
		t.Fatalf("temp dir: %v", err)
	}
	port := FreePort(t)
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no")
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting redis-server: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
		os.RemoveAll(dir)
	})
	r := &Redis{Port: port, Addr: fmt.Sprintf("127.0.0.1:%d", port), cmd: cmd}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", r.Addr, time.Second); err == nil {
			_, _ = c.Write([]byte("PING\r\n"))
			buf := make([]byte, 7)
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			n, _ := c.Read(buf)
			c.Close()
			if string(buf[:n]) == "+PONG\r\n" {
				return r
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("redis-server on %s did not answer PING within 10s", r.Addr)
	return nil
}
