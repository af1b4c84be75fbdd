package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/hotel-ops/hotel-ops/internal/hostload"
	"github.com/hotel-ops/hotel-ops/internal/testenv"
)

// Report is the whole run.
type Report struct {
	Command  string   `json:"command"`
	Started  string   `json:"started"`
	Binary   string   `json:"exporter_binary"`
	CPUs     int      `json:"cpus"`
	Load     string   `json:"load_average_before"`
	Server   string   `json:"server_version"`
	Results  []Result `json:"results"`
	Warnings []string `json:"warnings,omitempty"`
}

// measure runs every shape: each connection count (the server resized to
// it), the last count with some sessions idle in a transaction, then slots, standbys and databases added one at a time to the
// first count's server, each removed before the next.
func measure(ctx context.Context, t testenv.TB, o *options) (*Report, error) {
	rep := &Report{Command: "pgha-load " + strings.Join(os.Args[1:], " "), Started: time.Now().UTC().Format(time.RFC3339),
		Binary: o.binary, CPUs: runtime.NumCPU(), Load: hostload.Average()}
	s, err := startServer(ctx, t, o)
	if err != nil {
		return nil, err
	}
	if err := s.admin.QueryRow(ctx, "SHOW server_version").Scan(&rep.Server); err != nil {
		return nil, err
	}
	x, err := spawnExporter(t, o.binary, s.pg.DSNAs(monitorRole, "postgres"), s.pg.Dir)
	if err != nil {
		return nil, err
	}
	if err := s.startReceivers(ctx, 2); err != nil {
		return nil, err
	}
	one := func(r Result) error {
		t.Logf("measuring %s", r.Shape)
		if err := scrapeShape(ctx, s, x, o, &r); err != nil {
			return fmt.Errorf("%s: %w", r.Shape, err)
		}
		rep.Results = append(rep.Results, r)
		return nil
	}
	base := o.connections[0]
	for i, n := range o.connections {
		if i > 0 {
			s.closeIdle()
			if err := s.resize(ctx, n); err != nil {
				return nil, err
			}
			if err := s.waitStreaming(ctx, 2); err != nil {
				return nil, err
			}
		}
		if err := s.openIdle(ctx, n); err != nil {
			return nil, err
		}
		if err := one(Result{Shape: fmt.Sprintf("%d connections", n), Connections: n, Standbys: 2}); err != nil {
			return nil, err
		}
	}
	if o.inXact > 0 {
		n := o.connections[len(o.connections)-1]
		k := min(o.inXact, len(s.idle))
		if err := s.beginIn(ctx, k); err != nil {
			return nil, err
		}
		if err := one(Result{Shape: fmt.Sprintf("%d, %d in xact", n, k), Connections: n, InTransaction: k, Standbys: 2}); err != nil {
			return nil, err
		}
		if err := s.rollbackIn(ctx, k); err != nil {
			return nil, err
		}
	}
	if o.slots == 0 && o.standbys == 0 && o.databases == 0 {
		return rep, nil
	}
	if len(o.connections) > 1 {
		s.closeIdle()
		if err := s.resize(ctx, base); err != nil {
			return nil, err
		}
		if err := s.waitStreaming(ctx, 2); err != nil {
			return nil, err
		}
		if err := s.openIdle(ctx, base); err != nil {
			return nil, err
		}
	}
	if o.slots > 0 {
		if err := s.exec(ctx, "SELECT pg_create_physical_replication_slot('slot_' || i) FROM generate_series(1, %d) i", o.slots); err != nil {
			return nil, err
		}
		if err := one(Result{Shape: fmt.Sprintf("+ %d slots", o.slots), Connections: base, Slots: o.slots, Standbys: 2}); err != nil {
			return nil, err
		}
		if err := s.exec(ctx, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE 'slot\\_%%'"); err != nil {
			return nil, err
		}
	}
	if o.standbys > 2 {
		if err := s.startReceivers(ctx, o.standbys); err != nil {
			return nil, err
		}
		if err := one(Result{Shape: fmt.Sprintf("%d standbys", o.standbys), Connections: base, Standbys: o.standbys}); err != nil {
			return nil, err
		}
		s.stopReceivers(2)
	}
	if o.databases > 0 {
		t.Logf("creating %d databases", o.databases)
		for i := range o.databases {
			if err := s.exec(ctx, "CREATE DATABASE db_%d", i+1); err != nil {
				return nil, err
			}
		}
		if err := one(Result{Shape: fmt.Sprintf("+ %d databases", o.databases), Connections: base, Standbys: 2, Databases: o.databases}); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// print writes the table, each row's growth beside the first row's.
func (rep *Report) print(w io.Writer, byStatement bool) {
	fmt.Fprintf(w, "pgha_exporter %s against PostgreSQL %s; %d CPUs, load average %s before\n", rep.Binary, rep.Server, rep.CPUs, rep.Load)
	fmt.Fprintf(w, "%-20s %9s %9s %11s %12s %11s %7s %s\n", "shape", "p50 ms", "p99 ms", "server CPU", "exporter CPU", "statements", "series", "vs first: p50, server CPU")
	for i, r := range rep.Results {
		growth := ""
		if i > 0 && rep.Results[0].P50Ms > 0 && rep.Results[0].ServerCPUMs > 0 {
			growth = fmt.Sprintf("%.2f×, %.2f×", r.P50Ms/rep.Results[0].P50Ms, r.ServerCPUMs/rep.Results[0].ServerCPUMs)
		}
		fmt.Fprintf(w, "%-20s %9.2f %9.2f %8.2f ms %9.2f ms %11.1f %7d %s\n", r.Shape, r.P50Ms, r.P99Ms, r.ServerCPUMs, r.ExporterCPUMs, r.Statements, r.Series, growth)
	}
	if byStatement {
		for _, r := range rep.Results {
			fmt.Fprintf(w, "\n%s, by statement (mean execution ms, calls a scrape):\n", r.Shape)
			for _, st := range r.ByStatement {
				fmt.Fprintf(w, "  %8.3f ms %5.1f×  %s\n", st.MeanExecMs, st.CallsPer, st.Query)
			}
		}
	}
	fmt.Fprintf(w, "(per scrape, %d scrapes a shape, one at a time over loopback HTTP; server CPU: the exporter's sessions, /proc/<pid>/schedstat)\n", rep.Results[0].Scrapes)
	fmt.Fprintf(w, "command: %s\n", rep.Command)
}
