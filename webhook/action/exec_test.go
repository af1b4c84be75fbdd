//go:build unix

package action

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// script writes an executable /bin/sh script into dir.
func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func readPID(t *testing.T, path string) int {
	t.Helper()
	var pid int
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(path)
		if pid, _ = strconv.Atoi(strings.TrimSpace(string(b))); pid > 0 {
			return pid
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no pid in %s", path)
	return 0
}

// alive: the process exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return syscall.Kill(pid, 0) == nil
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || !strings.HasPrefix(s[i+1:], " Z")
}

// killLater kills the process whose pid is in path when the test ends.
func killLater(t *testing.T, path string) {
	t.Cleanup(func() {
		b, _ := os.ReadFile(path)
		if pid, _ := strconv.Atoi(strings.TrimSpace(string(b))); pid > 0 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
}

func waitGone(t *testing.T, pid int, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("%s (pid %d) still running", what, pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// An exec action restarts a real process: the configured script kills the
// one in the pid file and starts a new one. The label reaches it as one
// argument, and the script sees no variable of escalator's.
func TestExecRestarts(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	killLater(t, pidFile)
	t.Setenv("ESCALATOR_TEST_SECRET", "must-not-leak")

	svc := exec.Command("sleep", "300")
	if err := svc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Process.Kill() })
	exited := make(chan error, 1)
	go func() { exited <- svc.Wait() }()
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(svc.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	restart := script(t, dir, "restart.sh", `
printf '%s' "$#" > "$STATE/argc"
printf '%s' "$1" > "$STATE/arg1"
env > "$STATE/env"
kill "$(cat "$STATE/pid")"
# A daemon does not keep the restarter's output open.
sleep 300 >/dev/null 2>&1 &
echo $! > "$STATE/pid"
`)
	c := Config{
		Type: TypeExec, Category: CategoryEmergency, Rollback: "start it by hand", DryRun: ptr(false),
		Labels:  map[string]string{"instance": ".+"},
		Command: []string{restart, "{{.instance}}"},
		Env:     map[string]string{"STATE": dir, "TARGET": "{{.instance}}"},
		Timeout: model.Duration(10 * time.Second),
	}
	a := newAction(t, c)
	allowed := map[string]string{"instance": "web 1"}
	desc, err := a.Describe(allowed)
	if err != nil {
		t.Fatal(err)
	}
	if want := `run ["` + restart + `" "web 1"] with env ["STATE=` + dir + `" "TARGET=web 1"]`; desc != want {
		t.Errorf("Describe:\n got %s\nwant %s", desc, want)
	}
	start := time.Now()
	detail, err := a.Run(context.Background(), allowed)
	if err != nil || detail != "exit 0" {
		t.Fatalf("Run: %q, %v", detail, err)
	}
	if d := time.Since(start); d >= waitDelay {
		t.Errorf("took %s: waited on the daemon's pipes", d)
	}
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		t.Fatal("the old process was not killed")
	}
	newPID := readPID(t, pidFile)
	if newPID == svc.Process.Pid || !alive(newPID) {
		t.Fatalf("no new process: pid %d, alive %v", newPID, alive(newPID))
	}
	// The shell forks, then the child execs sleep: give it a moment.
	var cmdline []byte
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cmdline, _ = os.ReadFile("/proc/" + strconv.Itoa(newPID) + "/cmdline"); strings.HasPrefix(string(cmdline), "sleep\x00300") {
			break
		}
	}
	if !strings.HasPrefix(string(cmdline), "sleep\x00300") {
		t.Errorf("new process is %q", cmdline)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "argc")); string(b) != "1" {
		t.Errorf("argc %q", b)
	}
	env, _ := os.ReadFile(filepath.Join(dir, "env"))
	if strings.Contains(string(env), "must-not-leak") || !strings.Contains(string(env), "PATH=/usr/bin:/bin\n") || !strings.Contains(string(env), "TARGET=web 1\n") {
		t.Errorf("child environment:\n%s", env)
	}
}

// Labels that a shell would take as commands arrive as one literal
// argument each, and nothing else happens.
func TestExecNoShell(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "foo")
	if err := os.MkdirAll(victim, 0o755); err != nil {
		t.Fatal(err)
	}
	pwned := filepath.Join(dir, "pwned")
	record := script(t, dir, "record.sh", `printf '%s\n---\n' "$@" >> "$OUT"`+"\n")
	out := filepath.Join(dir, "args")
	c := Config{
		Type: TypeExec, Category: CategoryEmergency, Rollback: "none", DryRun: ptr(false),
		Labels:  map[string]string{"instance": ".*"},
		Command: []string{record, "--instance={{.instance}}", "{{.instance}}"},
		Env:     map[string]string{"OUT": out},
	}
	a := newAction(t, c)
	labels := []string{
		"x; rm -rf " + victim,
		"$(touch " + pwned + ")",
		"`touch " + pwned + "`",
		"x && touch " + pwned + " | cat > " + pwned,
		"'\"; touch " + pwned + "; echo \"",
	}
	var want strings.Builder
	for _, l := range labels {
		if _, err := a.Run(context.Background(), map[string]string{"instance": l}); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		want.WriteString("--instance=" + l + "\n---\n" + l + "\n---\n")
	}
	got, _ := os.ReadFile(out)
	if string(got) != want.String() {
		t.Errorf("arguments:\n got %q\nwant %q", got, want.String())
	}
	if _, err := os.Stat(victim); err != nil {
		t.Errorf("the rm ran: %v", err)
	}
	if _, err := os.Stat(pwned); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the touch ran: %v", err)
	}
}

// A timeout kills the program and what it started with it.
func TestExecTimeoutKillsGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child")
	killLater(t, pidFile)
	hang := script(t, dir, "hang.sh", `sleep 300 &
echo $! > `+pidFile+`
wait
`)
	c := base(TypeExec)
	c.Command = []string{hang}
	c.Timeout = model.Duration(500 * time.Millisecond)
	a := newAction(t, c)
	start := time.Now()
	_, err := a.Run(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "killed with its process group: context deadline exceeded") {
		t.Errorf("Run: %v", err)
	}
	if d := time.Since(start); d > waitDelay+2*time.Second {
		t.Errorf("took %s with a 500ms timeout", d)
	}
	waitGone(t, readPID(t, pidFile), "the script's child")
}

// A child that keeps the output open cannot hang a run that succeeded.
func TestExecWaitDelay(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child")
	killLater(t, pidFile)
	leak := script(t, dir, "leak.sh", `sleep 300 &
echo $! > `+pidFile+"\n")
	c := base(TypeExec)
	c.Command = []string{leak}
	a := newAction(t, c)
	start := time.Now()
	detail, err := a.Run(context.Background(), nil)
	if err != nil || !strings.HasPrefix(detail, "exit 0 (output still held open") {
		t.Errorf("Run: %q, %v", detail, err)
	}
	if d := time.Since(start); d > waitDelay+2*time.Second {
		t.Errorf("took %s", d)
	}
	// Not a timeout: what it started is left running.
	if pid := readPID(t, pidFile); !alive(pid) {
		t.Error("the child of a successful run was killed")
	}
}

func TestExecFailure(t *testing.T) {
	dir := t.TempDir()
	fail := script(t, dir, "fail.sh", `echo "cannot restart $1" >&2
head -c 5000 /dev/zero | tr '\0' x
exit 3
`)
	c := base(TypeExec)
	c.Command = []string{fail, "{{.instance}}"}
	a := newAction(t, c)
	detail, err := a.Run(context.Background(), map[string]string{"instance": "web-1"})
	if err == nil {
		t.Fatal("exit 3 succeeded")
	}
	if detail != "exit status 3" {
		t.Errorf("detail %q", detail)
	}
	msg := err.Error()
	if !strings.Contains(msg, "exit status 3: cannot restart web-1") || !strings.Contains(msg, "more bytes)") || len(msg) > 2*maxOutput {
		t.Errorf("error (%d bytes): %.300s", len(msg), msg)
	}

	c.Command = []string{filepath.Join(dir, "missing")}
	if _, err := newAction(t, c).Run(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing program: %v", err)
	}
}
