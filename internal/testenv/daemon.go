package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Daemon is a long-running server process whose output goes to a log file
// that survives restarts (each start appends to it): the servers of
// testenv and the suite's own binaries (internal/suite).
type Daemon struct {
	Name string // for messages: "prometheus", "node_exporter"
	Bin  string
	Args []string
	Dir  string // working directory
	Log  string // path of the log file

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when the current process has exited
	err    error         // its exit status, once exited is closed
}

// Start starts the process; it is an error to start one already running.
func (d *Daemon) Start() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd != nil {
		select {
		case <-d.exited:
		default:
			return fmt.Errorf("%s is already running (pid %d)", d.Name, d.cmd.Process.Pid)
		}
	}
	logf, err := os.OpenFile(d.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "==== %s: starting %s %q\n", time.Now().Format(time.RFC3339Nano), d.Bin, d.Args)
	cmd := exec.Command(d.Bin, d.Args...)
	cmd.Dir = d.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("starting %s: %w", d.Name, err)
	}
	exited := make(chan struct{})
	d.cmd, d.exited, d.err = cmd, exited, nil
	go func() {
		err := cmd.Wait()
		logf.Close()
		d.mu.Lock()
		d.err = err
		d.mu.Unlock()
		close(exited)
	}()
	return nil
}

// current returns the running process's exit channel, nil if none was
// ever started.
func (d *Daemon) current() (*exec.Cmd, chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cmd, d.exited
}

// Running reports whether the process is alive.
func (d *Daemon) Running() bool {
	cmd, exited := d.current()
	if cmd == nil {
		return false
	}
	select {
	case <-exited:
		return false
	default:
		return true
	}
}

// Stop sends SIGTERM and waits up to grace for the process to exit, then
// kills it. It returns nil for a clean exit, which includes dying of the
// SIGTERM itself: node_exporter does not catch it, Prometheus does.
func (d *Daemon) Stop(grace time.Duration) error {
	if !d.Signal(syscall.SIGTERM, grace) {
		return fmt.Errorf("%s did not exit within %v of SIGTERM and was killed", d.Name, grace)
	}
	err := d.exitErr()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM {
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("%s exited: %w", d.Name, err)
	}
	return nil
}

// Signal sends sig to a running process and waits up to grace for it to
// exit, then kills it; false if it had to be killed.
func (d *Daemon) Signal(sig syscall.Signal, grace time.Duration) bool {
	cmd, exited := d.current()
	if cmd == nil {
		return true
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
		return true
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-exited
		return false
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (d *Daemon) Kill() {
	cmd, exited := d.current()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exited
}

func (d *Daemon) exitErr() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

// Tail is the end of the log, for failure messages.
func (d *Daemon) Tail() string { return logTail(d.Log, 32<<10) }

// WaitHTTP polls url until it answers 200, the process exits, or timeout
// passes.
func (d *Daemon) WaitHTTP(url string, timeout time.Duration) error {
	_, exited := d.current()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	var last error
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Errorf("GET %s: %s", url, resp.Status)
		} else {
			last = err
		}
		select {
		case <-exited:
			return fmt.Errorf("%s exited before %s answered: %v", d.Name, url, d.exitErr())
		case <-ctx.Done():
			return fmt.Errorf("%s: %s did not answer 200 within %v: %v", d.Name, url, timeout, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// logTail returns at most the last n bytes of a file.
func logTail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > n {
		if _, err := f.Seek(-n, io.SeekEnd); err == nil {
			b, _ := io.ReadAll(f)
			return "...\n" + string(b)
		}
	}
	b, err := io.ReadAll(f)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Sprintf("(reading log: %v)", err)
	}
	return string(b)
}
