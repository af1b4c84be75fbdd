package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hotel-ops/hotel-ops/internal/testenv"
)

// datasync writes the file's data out (fdatasync), as a store's commit does.
func datasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }

// fsType names the file system of dir from its statfs magic number.
func fsType(dir string) string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return "unknown"
	}
	switch uint64(st.Type) {
	case 0xEF53:
		return "ext4"
	case 0x58465342:
		return "xfs"
	case 0x9123683E:
		return "btrfs"
	case 0x01021994:
		return "tmpfs (fsync is free: not a disk)"
	case 0x794c7630:
		return "overlayfs"
	case 0x2FC12FC1:
		return "zfs"
	case 0x6969:
		return "nfs"
	}
	return fmt.Sprintf("0x%x", uint64(st.Type))
}

// procCPU is the CPU time (user + system) process pid has used.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / clockTicks
}

// deviceOf names the block device dir is on and the file of its
// counters (/sys/dev/block/<major>:<minor>/stat); empty when it is on
// none (tmpfs, overlay).
func deviceOf(dir string) (name, statFile string) {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return "", ""
	}
	base := fmt.Sprintf("/sys/dev/block/%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev))
	if _, err := os.Stat(base + "/stat"); err != nil {
		return "", ""
	}
	if target, err := os.Readlink(base); err == nil {
		name = filepath.Base(target)
	}
	return name, base + "/stat"
}

// deviceWritten is the bytes the device has written since it started
// (the seventh field of its stat: sectors of 512 bytes), what reached the
// disk whoever wrote it; 0 when unreadable.
func deviceWritten(statFile string) int64 {
	if statFile == "" {
		return 0
	}
	b, err := os.ReadFile(statFile)
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 7 {
		return 0
	}
	n, _ := strconv.ParseInt(f[6], 10, 64)
	return n * 512
}

// procWritten is a process's write_bytes from /proc/<pid>/io (0 when it
// cannot be read: another user's process).
func procWritten(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "write_bytes: "); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// treeWritten is procWritten of a process and its children.
func treeWritten(pid int) int64 {
	total := procWritten(pid)
	for _, child := range testenv.ChildrenOf(pid) {
		total += procWritten(child)
	}
	return total
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

// machineCPU is the CPU time every CPU has spent busy (not idle nor
// waiting for I/O), from /proc/stat.
func machineCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0
	}
	var busy int64
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		if i >= 7 { // steal and guests: not this machine's work (guests are in user already)
			break
		}
		busy += n
	}
	return time.Duration(busy) * time.Second / clockTicks
}

// selfCPU is this process's CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// treeCPU is the CPU time of pid and its children (a PostgreSQL
// postmaster and its backends).
func treeCPU(pid int) time.Duration {
	total := procCPU(pid)
	for _, child := range testenv.ChildrenOf(pid) {
		total += procCPU(child)
	}
	return total
}
