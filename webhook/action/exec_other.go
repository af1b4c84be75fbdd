//go:build !unix

package action

import "os/exec"

// setGroup: without process groups, cancellation kills the program only
// (exec.CommandContext's default).
func setGroup(*exec.Cmd) {}
