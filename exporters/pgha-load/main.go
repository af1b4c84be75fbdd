// Command pgha-load measures what one scrape of pgha_exporter costs a
// PostgreSQL primary as its fleet-sized shapes grow: client connections,
// replication slots, standbys and databases. It starts a private primary
// (internal/testenv), the exporter binary beside it, and scrapes /metrics
// over loopback HTTP one scrape at a time, as Prometheus does; for each
// shape it reports the scrape's latency, the CPU time the server spent in
// the exporter's sessions (/proc/<pid>/schedstat, nanoseconds), the
// exporter's own CPU time and the statements it ran (pg_stat_statements).
//
//	pgha-load --exporter-binary=bin/pgha_exporter
//	pgha-load --exporter-binary=bin/pgha_exporter --connections=200,2000,5000 --scrapes=300 --json
//	pgha-load --exporter-binary=bin/pgha_exporter --probe-targets=50 --probe-interval=15s --probe-duration=1h
//
// With --probe-targets it measures something else: one exporter serving
// that many targets through /probe, its memory and goroutines over time.
//
// Each connection count runs with max_connections set just above it (the
// server restarted), as a deployment sizes it: a server's per-backend
// structures grow with max_connections, not only with the sessions open.
// See exporters/pgha_exporter/README.md, "Cost at fleet scale".
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/hotel-ops/hotel-ops/internal/testenv"
)

func main() { os.Exit(run(os.Args[1:])) }

type options struct {
	binary      string
	connections []int
	scrapes     int
	warmup      int
	slots       int
	standbys    int
	databases   int
	inXact      int
	jsonOut     bool
	verbose     bool
	byStatement bool

	probeTargets  int
	probeInterval time.Duration
	probeDuration time.Duration
}

func run(args []string) int {
	var o options
	var conns string
	app := kingpin.New("pgha-load", "Scrapes pgha_exporter over HTTP against a private PostgreSQL primary grown to fleet-sized shapes, and reports each scrape's latency, server CPU and statements.")
	app.Flag("exporter-binary", "The pgha_exporter binary to run.").Default("bin/pgha_exporter").StringVar(&o.binary)
	app.Flag("connections", "Idle client connections to measure at, comma-separated; the first is the base of the other shapes.").Default("200,2000,5000").StringVar(&conns)
	app.Flag("scrapes", "Scrapes measured per shape.").Default("300").IntVar(&o.scrapes)
	app.Flag("warmup", "Scrapes before each shape's measured ones (connections, prepared statements).").Default("20").IntVar(&o.warmup)
	app.Flag("slots", "Physical replication slots of the slots shape (0: not measured).").Default("100").IntVar(&o.slots)
	app.Flag("standbys", "Streaming standbys (pg_receivewal) of the standbys shape; the others have 2 (0: not measured).").Default("10").IntVar(&o.standbys)
	app.Flag("in-transaction", "Of the last connection count's sessions, this many left idle in an open transaction for one more shape: the sessions the one pass looks up pid by pid (0: not measured).").Default("50").IntVar(&o.inXact)
	app.Flag("databases", "Databases of the databases shape (0: not measured).").Default("200").IntVar(&o.databases)
	app.Flag("probe-targets", "Instead of the shapes: serve this many targets through /probe (names of the one primary, each its own pool) and probe each once an interval, reporting the exporter's memory and goroutines over time.").Default("0").IntVar(&o.probeTargets)
	app.Flag("probe-interval", "With --probe-targets: each target's probe interval.").Default("15s").DurationVar(&o.probeInterval)
	app.Flag("probe-duration", "With --probe-targets: how long to probe.").Default("1h").DurationVar(&o.probeDuration)
	app.Flag("json", "Print the results as JSON instead of a table.").BoolVar(&o.jsonOut)
	app.Flag("by-statement", "Also print each shape's statements with their mean execution time.").BoolVar(&o.byStatement)
	app.Flag("verbose", "Log the test servers' progress on stderr.").BoolVar(&o.verbose)
	if _, err := app.Parse(args); err != nil {
		fmt.Fprintln(os.Stderr, "pgha-load:", err)
		return 2
	}
	var err error
	if o.connections, err = parseCounts(conns); err != nil {
		fmt.Fprintln(os.Stderr, "pgha-load: --connections:", err)
		return 2
	}
	if o.scrapes < 10 || o.warmup < 0 || o.slots < 0 || o.standbys < 0 || o.databases < 0 || o.inXact < 0 {
		fmt.Fprintln(os.Stderr, "pgha-load: --scrapes must be at least 10, and the shape sizes not negative")
		return 2
	}
	if _, err := os.Stat(o.binary); err != nil {
		fmt.Fprintf(os.Stderr, "pgha-load: --exporter-binary: %v (build it: go build -o bin/pgha_exporter ./exporters/pgha_exporter)\n", err)
		return 2
	}
	e := &testenv.Command{Name: "pgha-load"}
	if o.verbose {
		e.Log = func(line string) { fmt.Fprintln(os.Stderr, line) }
	}
	defer e.Teardown()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.probeTargets > 0 {
		return report(probeMany(ctx, e, &o))(o.jsonOut, func(rep *ProbeReport) { rep.print(os.Stdout) })
	}
	return report(measure(ctx, e, &o))(o.jsonOut, func(rep *Report) { rep.print(os.Stdout, o.byStatement) })
}

// report prints a result as JSON or with its own table; the exit code.
func report[R any](rep R, err error) func(jsonOut bool, table func(R)) int {
	return func(jsonOut bool, table func(R)) int {
		if err != nil {
			fmt.Fprintln(os.Stderr, "pgha-load:", err)
			return 1
		}
		if !jsonOut {
			table(rep)
			return 0
		}
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintln(os.Stderr, "pgha-load:", err)
			return 1
		}
		return 0
	}
}

// parseCounts reads "200,2000,5000": positive, at most 20,000 (a
// PostgreSQL of this machine's memory).
func parseCounts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 20000 {
			return nil, fmt.Errorf("%q is not a count from 1 to 20000", f)
		}
		out = append(out, n)
	}
	return out, nil
}
