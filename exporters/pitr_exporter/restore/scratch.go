package restore

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Scratch is the directory a restore test owns: one run at a time (a lock
// file), the run's files in run/, removed after it and, when a killed run
// left them, before the next.
type Scratch struct {
	Dir  string
	lock *os.File
}

// RunDir holds one run: data/ (the restored cluster), its log, its
// socket and its configuration files.
func (s *Scratch) RunDir() string  { return filepath.Join(s.Dir, "run") }
func (s *Scratch) DataDir() string { return filepath.Join(s.RunDir(), "data") }
func (s *Scratch) LogFile() string { return filepath.Join(s.RunDir(), "postgres.log") }

// OpenScratch takes the directory's lock, so two restore tests never share
// it, and removes what an earlier run left behind: a server still running
// on its files is stopped first. cleaned says what was found.
func OpenScratch(dir string) (s *Scratch, cleaned string, err error) {
	if dir == "" {
		return nil, "", errors.New("restore_test.scratch_dir is required")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", fmt.Errorf("scratch directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, "", fmt.Errorf("scratch directory lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, "", fmt.Errorf("%w: another restore test is running in %s (its lock is held)", ErrBusy, dir)
	}
	s = &Scratch{Dir: dir, lock: f}
	cleaned, err = s.clean()
	if err != nil {
		s.Close()
		return nil, "", err
	}
	return s, cleaned, nil
}

// Close releases the lock.
func (s *Scratch) Close() { s.lock.Close() }

// clean stops a server left running on the run's data directory and
// removes the run's files.
func (s *Scratch) clean() (string, error) {
	if _, err := os.Stat(s.RunDir()); errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	var what []string
	if pid, ok := s.leftoverPostmaster(); ok {
		what = append(what, fmt.Sprintf("stopped the server (pid %d) an earlier run left", pid))
		stopGroup(pid, 10*time.Second)
	}
	// Anything else still working in the run's files (a restore_command
	// or a pgBackRest worker of a killed run) before they are removed.
	if pids := s.processesInRun(); len(pids) > 0 {
		what = append(what, fmt.Sprintf("killed %d processes an earlier run left", len(pids)))
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		deadline := time.Now().Add(10 * time.Second)
		for len(s.processesInRun()) > 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if err := os.RemoveAll(s.RunDir()); err != nil {
		return "", fmt.Errorf("removing an earlier run's files in %s: %w", s.RunDir(), err)
	}
	what = append(what, "removed an earlier run's files")
	return strings.Join(what, "; "), nil
}

// leftoverPostmaster is the pid in data/postmaster.pid, when that process
// is alive and is a PostgreSQL server working in this data directory (a
// recycled pid of another program is left alone).
func (s *Scratch) leftoverPostmaster() (int, bool) {
	data, err := os.ReadFile(filepath.Join(s.DataDir(), "postmaster.pid"))
	if err != nil {
		return 0, false
	}
	line, _, _ := strings.Cut(string(data), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || pid <= 1 {
		return 0, false
	}
	cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	if err != nil {
		return 0, false
	}
	want, _ := filepath.EvalSymlinks(s.DataDir())
	if cwd != want && cwd != s.DataDir() {
		return 0, false
	}
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if !bytes.Contains(cmdline, []byte("postgres")) {
		return 0, false
	}
	return pid, true
}

// processesInRun are the processes whose working directory is in the run
// directory or whose command line names it.
func (s *Scratch) processesInRun() []int {
	run := s.RunDir()
	var pids []int
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		pid, err := strconv.Atoi(filepath.Base(p))
		if err != nil || pid == os.Getpid() {
			continue
		}
		cwd, _ := os.Readlink(p + "/cwd")
		cmdline, _ := os.ReadFile(p + "/cmdline")
		if cwd == run || strings.HasPrefix(cwd, run+"/") || bytes.Contains(cmdline, []byte(run+"/")) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// stopGroup asks the process group led by pid for an immediate shutdown
// (SIGQUIT, PostgreSQL's), then kills it if it is still there after grace.
func stopGroup(pid int, grace time.Duration) {
	_ = syscall.Kill(-pid, syscall.SIGQUIT)
	_ = syscall.Kill(pid, syscall.SIGQUIT)
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

// Disk is the space of the filesystem holding a directory.
type Disk struct{ Free, Total uint64 }

// DiskOf reads the filesystem's space available to this user.
func DiskOf(dir string) (Disk, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return Disk{}, fmt.Errorf("free space of %s: %w", dir, err)
	}
	return Disk{Free: st.Bavail * uint64(st.Bsize), Total: st.Blocks * uint64(st.Bsize)}, nil
}
