package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// CPU is where the machine's CPU time went during the load: on a small
// machine the load command and whatever else runs compete with
// escalator, and the figures depend on it.
type CPU struct {
	WindowSeconds float64 `json:"window_seconds"`
	Available     float64 `json:"available_seconds"` // CPUs × window
	Busy          float64 `json:"machine_busy_seconds"`
	Escalator     float64 `json:"escalator_seconds"`
	Postgres      float64 `json:"postgres_seconds,omitempty"` // the server's processes, when on this machine
	Load          float64 `json:"load_command_seconds"`       // this command: senders, receiver
	Kernel        float64 `json:"kernel_threads_seconds"`     // kthreadd's children: writeback, journal, kworkers
	Others        float64 `json:"others_seconds"`             // everything else on the machine
	// Bytes the store's processes caused to be written to storage during
	// the load (/proc/<pid>/io write_bytes: the page cache written back on
	// their behalf): what a disk must absorb, whatever its fsync latency.
	EscalatorWritten int64 `json:"escalator_written_bytes"`
	PostgresWritten  int64 `json:"postgres_written_bytes,omitempty"`
	// What the device under the store's directory wrote during the load,
	// every process's (/sys/dev/block/.../stat). write_bytes counts a page
	// each time it is dirtied, and a log's last page, written and synced
	// at every commit, is dirtied again by the next: PostgreSQL's WAL
	// counted there five times what reached the disk.
	Device        string `json:"device,omitempty"`
	DeviceWritten int64  `json:"device_written_bytes,omitempty"`
}

type cpuMeter struct {
	t0                  time.Time
	busy, self, esc, pg time.Duration
	kernel              time.Duration
	escPID, pgPID       int
	escW, pgW           int64
	device, devStat     string
	devW                int64
}

// startCPU starts the meters; storeDir is where the store writes (its
// device's writes are counted).
func startCPU(esc *spawned, pgPID int, storeDir string) *cpuMeter {
	m := &cpuMeter{t0: time.Now(), pgPID: pgPID}
	m.device, m.devStat = deviceOf(storeDir)
	m.devW = deviceWritten(m.devStat)
	if esc != nil {
		m.escPID = esc.cmd.Process.Pid
		m.esc, m.escW = procCPU(m.escPID), procWritten(m.escPID)
	}
	if pgPID > 0 {
		m.pg, m.pgW = treeCPU(pgPID), treeWritten(pgPID)
	}
	m.kernel = treeCPU(kthreadd)
	m.busy, m.self = machineCPU(), selfCPU()
	return m
}

func (m *cpuMeter) stop() *CPU {
	window := time.Since(m.t0)
	c := &CPU{WindowSeconds: window.Seconds(), Busy: (machineCPU() - m.busy).Seconds(), Load: (selfCPU() - m.self).Seconds()}
	c.Available = window.Seconds() * float64(numCPU())
	if m.escPID > 0 {
		c.Escalator = (procCPU(m.escPID) - m.esc).Seconds()
		c.EscalatorWritten = procWritten(m.escPID) - m.escW
	}
	if m.pgPID > 0 {
		c.Postgres = (treeCPU(m.pgPID) - m.pg).Seconds()
		c.PostgresWritten = treeWritten(m.pgPID) - m.pgW
	}
	if m.devStat != "" {
		c.Device, c.DeviceWritten = m.device, deviceWritten(m.devStat)-m.devW
	}
	c.Kernel = (treeCPU(kthreadd) - m.kernel).Seconds()
	c.Others = max(0, c.Busy-c.Escalator-c.Postgres-c.Load-c.Kernel)
	return c
}

// kthreadd is the parent of Linux's kernel threads.
const kthreadd = 2

// postmasterPID reads a PostgreSQL data directory's postmaster.pid (0
// when it cannot).
func postmasterPID(dataDir string) int {
	if dataDir == "" {
		return 0
	}
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(first))
	return pid
}
