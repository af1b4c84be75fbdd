//go:build unix

package action

import (
	"os/exec"
	"syscall"
)

// setGroup starts cmd in a process group of its own and makes the
// context's cancellation kill the group, not only the program.
func setGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// The group's id is the program's pid (Setpgid with Pgid 0).
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
