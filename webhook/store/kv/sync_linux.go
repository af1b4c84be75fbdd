package kv

import (
	"os"
	"syscall"
)

// datasync makes a journal's appended records durable: fdatasync, which
// skips the inode's times (a commit need not wait for them).
func datasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
