package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/hotel-ops/hotel-ops/internal/hostload"
	"github.com/hotel-ops/hotel-ops/internal/latency"
)

// Machine is what the figures depend on besides escalator: the store
// directory's sync latency, the CPUs and how busy they already were.
type Machine struct {
	CPUs       int     `json:"cpus"`
	LoadBefore string  `json:"load_average_before"` // /proc/loadavg's 1, 5 and 15 minute figures
	LoadAfter  string  `json:"load_average_after"`
	FsyncDir   string  `json:"fsync_dir"`
	FsyncFS    string  `json:"fsync_filesystem"`
	FsyncCount int     `json:"fsync_samples"`
	FsyncP50Ms float64 `json:"fsync_p50_ms"`
	FsyncP99Ms float64 `json:"fsync_p99_ms"`
	FsyncMaxMs float64 `json:"fsync_max_ms"`
	FsyncNote  string  `json:"fsync_note,omitempty"`
	GoVersion  string  `json:"go_version"`
}

// probeFsync appends 4 KiB and syncs its data, n times, in a file of
// dir (removed after): what each commit of the store waits for at least.
func probeFsync(dir string, n int) (latency.Sample, error) {
	f, err := os.CreateTemp(dir, ".escalator-load-fsync-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	block := make([]byte, 4096)
	for i := range block {
		block[i] = byte(i)
	}
	lat := make(latency.Sample, 0, n)
	for i := 0; i < n; i++ {
		t0 := time.Now()
		if _, err := f.Write(block); err != nil {
			return nil, err
		}
		if err := datasync(f); err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(t0))
		time.Sleep(2 * time.Millisecond) // a commit's cadence at 500/s, not a burst
	}
	return lat, nil
}

// measureMachine fills in the machine's figures, syncing in dir.
func measureMachine(dir string, samples int) Machine {
	m := Machine{CPUs: numCPU(), LoadBefore: hostload.Average(), GoVersion: runtime.Version(), FsyncCount: samples}
	abs, err := filepath.Abs(dir)
	if err == nil {
		dir = abs
	}
	m.FsyncDir, m.FsyncFS = dir, fsType(dir)
	if samples <= 0 {
		m.FsyncNote = "not measured"
		return m
	}
	lat, err := probeFsync(dir, samples)
	if err != nil {
		m.FsyncNote = fmt.Sprintf("not measured: %v", err)
		return m
	}
	m.FsyncP50Ms = latency.Ms(lat.Quantile(0.5))
	m.FsyncP99Ms = latency.Ms(lat.Quantile(0.99))
	m.FsyncMaxMs = latency.Ms(lat.Quantile(1))
	return m
}

func numCPU() int { return runtime.NumCPU() }
