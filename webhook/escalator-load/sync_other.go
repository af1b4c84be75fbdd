//go:build !linux

package main

import (
	"os"
	"time"
)

// datasync writes the file out (fsync: fdatasync is Linux's).
func datasync(f *os.File) error { return f.Sync() }

// fsType is known on Linux only.
func fsType(string) string { return "unknown" }

// procCPU, machineCPU and selfCPU are measured on Linux only.
func procCPU(int) time.Duration { return 0 }
func machineCPU() time.Duration { return 0 }
func selfCPU() time.Duration    { return 0 }
func treeCPU(int) time.Duration { return 0 }
func procWritten(int) int64     { return 0 }
func treeWritten(int) int64     { return 0 }

// deviceOf and deviceWritten read Linux's /sys.
func deviceOf(string) (string, string) { return "", "" }
func deviceWritten(string) int64       { return 0 }
