// Command escalator-load drives a real escalator over loopback HTTP the
// way Alertmanager does in an alert storm, and reports its handler
// latency, throughput, the notifications it sent and its store's growth,
// beside the machine's own figures (fsync latency, CPUs, load).
//
//	escalator-load storm --spawn --escalator-binary=bin/escalator --rate=500 --alerts=10 --duration=60s --ha-peers=2
//	escalator-load throughput --spawn --escalator-binary=bin/escalator --senders=64 --duration=30s
//	escalator-load storm --spawn --store=postgres [--pg-dsn=postgres://…]   # without a DSN: a private PostgreSQL
//	escalator-load storm --target=http://127.0.0.1:9096 --token-file=/etc/escalator/token
//
// `storm` is an open loop: each copy leaves at its due time whatever the
// answers, and its latency counts from that time (no coordinated
// omission). `throughput` is a closed loop of concurrent senders. With
// --spawn the command writes a configuration whose webhook channels point
// at its own loopback receiver, so it also counts the notifications by
// idempotency key. Only loopback targets are accepted without
// --allow-remote. See webhook/README.md, "Measuring under load".
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/hotel-ops/hotel-ops/internal/hostload"
	"github.com/hotel-ops/hotel-ops/internal/testenv"
)

func main() { os.Exit(run(os.Args[1:])) }

type options struct {
	target, tokenFile, storePath string
	spawn                        bool
	binary, store, pgDSN, dir    string
	pgWarmWAL, keep              bool
	pgSettings                   []string
	allowRemote, jsonOut         bool
	verbose                      bool
	fsyncDir                     string
	fsyncSamples                 int

	alerts, grow  int
	groupInterval time.Duration
	escalateAfter time.Duration
	flapping      float64
	critical      float64
	haPeers       int
	haSkew        time.Duration
	warmup, drain time.Duration
	timeout       time.Duration
	receiverDelay time.Duration
	seed          uint64
	rate          float64
	senders       int
	groupLag      int
	duration      time.Duration
	mode          string
	commandLine   string
}

func run(args []string) int {
	app := kingpin.New("escalator-load", "Drive a real escalator over loopback HTTP as Alertmanager does in an alert storm; report latency, throughput, notifications and store growth.")
	app.HelpFlag.Short('h')
	var o options
	app.Flag("target", "URL of a running escalator (needs --token-file); or use --spawn.").StringVar(&o.target)
	app.Flag("token-file", "With --target: the file holding escalator's bearer token (its --api.token-file).").StringVar(&o.tokenFile)
	app.Flag("store-path", "With --target and the embedded store: its directory, to report its size.").StringVar(&o.storePath)
	app.Flag("spawn", "Start the escalator binary with a generated configuration, its channels on a loopback receiver of this command.").BoolVar(&o.spawn)
	app.Flag("escalator-binary", "The escalator binary --spawn starts.").Default("bin/escalator").StringVar(&o.binary)
	app.Flag("store", "With --spawn: embedded or postgres (bolt: embedded, as it was called).").Default("embedded").EnumVar(&o.store, "embedded", "bolt", "postgres")
	app.Flag("pg-dsn", "PostgreSQL DSN of a database for escalator (with --spawn --store=postgres; with --target, to report the store's size). Without it, --spawn --store=postgres starts a private PostgreSQL (internal/testenv).").Envar("ESCALATOR_PG_DSN").StringVar(&o.pgDSN)
	app.Flag("pg-warm-wal", "Before a private PostgreSQL serves, write and checkpoint some WAL, so that it reuses segments as a server in service does.").Default("true").BoolVar(&o.pgWarmWAL)
	app.Flag("pg-setting", "A postgresql.conf line for the private PostgreSQL, after the command's own (repeatable), e.g. 'full_page_writes = off'.").StringsVar(&o.pgSettings)
	app.Flag("dir", "Where the run's temporary directory (configuration, token, embedded store) goes.").Default(os.TempDir()).StringVar(&o.dir)
	app.Flag("keep", "Keep the run's directory (escalator's log and store).").BoolVar(&o.keep)
	app.Flag("allow-remote", "Accept a --target or --pg-dsn that is not on loopback.").BoolVar(&o.allowRemote)
	app.Flag("json", "Print the report as JSON on stdout (the table then goes to stderr).").BoolVar(&o.jsonOut)
	app.Flag("verbose", "Log the steps of the setup to stderr.").Short('v').BoolVar(&o.verbose)
	app.Flag("fsync-dir", "Where to measure the sync latency (default: the store's directory).").StringVar(&o.fsyncDir)
	app.Flag("fsync-samples", "4 KiB writes, each with fdatasync, measured before the run (0: none).").Default("300").IntVar(&o.fsyncSamples)
	app.Flag("alerts", "Alerts a fault fires at once: a group's first delivery, sharing one startsAt.").Default("10").IntVar(&o.alerts)
	app.Flag("grow", "Alerts that join a group by its re-send a group interval later (-1: half of --alerts; 0: the re-send repeats the first delivery).").Default("-1").IntVar(&o.grow)
	app.Flag("group-interval", "storm: between a group's deliveries (fire, re-send grown, resolve); throughput counts --group-lag deliveries instead.").Default("10s").DurationVar(&o.groupInterval)
	app.Flag("escalate-after", "The generated policy's second step (the first pages at once).").Default("15s").DurationVar(&o.escalateAfter)
	app.Flag("flapping", "Fraction of faults whose group resolves right after it fired.").Default("0.02").Float64Var(&o.flapping)
	app.Flag("critical", "Fraction of faults that are critical (the generated policy pages those; warnings open incidents only).").Default("0.1").Float64Var(&o.critical)
	app.Flag("ha-peers", "Alertmanager peers sending each delivery (each its own connections, its own external URL).").Default("1").IntVar(&o.haPeers)
	app.Flag("ha-skew", "With several peers: each copy leaves up to this much after the delivery's time (uniformly).").Default("20ms").DurationVar(&o.haSkew)
	app.Flag("warmup", "Load at the start that is not measured (connections, caches).").Default("1s").DurationVar(&o.warmup)
	app.Flag("drain", "After the load, how long to wait at most for notifications to stop arriving.").Default("60s").DurationVar(&o.drain)
	app.Flag("timeout", "Longest wait for an answer (Alertmanager's webhook timeout).").Default("10s").DurationVar(&o.timeout)
	app.Flag("receiver-delay", "The loopback receiver answers each notification after this long (a slow chat service).").Default("0s").DurationVar(&o.receiverDelay)
	app.Flag("seed", "Seed of the storm's randomness (0: random).").Default("0").Uint64Var(&o.seed)
	stormCmd := app.Command("storm", "Open loop: --rate deliveries a second, each copy at its due time whatever the answers.")
	stormCmd.Flag("rate", "Deliveries a second from one Alertmanager (escalator receives --ha-peers times as many).").Default("500").Float64Var(&o.rate)
	stormDur := stormCmd.Flag("duration", "How long to measure, after the warm-up.").Default("60s").Duration()
	tpCmd := app.Command("throughput", "Closed loop: --senders concurrent senders, each posting as soon as answered.")
	tpCmd.Flag("senders", "Concurrent senders.").Default("64").IntVar(&o.senders)
	tpCmd.Flag("group-lag", "Deliveries between a group's deliveries (in place of --group-interval: a closed loop has no fixed rate).").Default("1000").IntVar(&o.groupLag)
	tpDur := tpCmd.Flag("duration", "How long to measure, after the warm-up.").Default("30s").Duration()
	cmd, err := app.Parse(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "escalator-load:", err)
		return 2
	}
	o.mode = cmd
	o.duration = *stormDur
	if cmd == "throughput" {
		o.duration = *tpDur
	}
	o.commandLine = commandLine(args)
	if err := o.check(); err != nil {
		fmt.Fprintln(os.Stderr, "escalator-load:", err)
		return 2
	}
	e := &testenv.Command{Name: "escalator-load"}
	if o.verbose {
		e.Log = func(line string) { fmt.Fprintln(os.Stderr, line) }
	}
	defer e.Teardown()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := execute(ctx, e, &o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "escalator-load:", err)
		return 1
	}
	table := os.Stdout
	if o.jsonOut {
		table = os.Stderr
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintln(os.Stderr, "escalator-load:", err)
			return 1
		}
	}
	printTable(table, rep)
	if ctx.Err() != nil {
		return 130
	}
	return 0
}

// commandLine is the command as given, quoted where needed, to be run
// again (a DSN's password is masked).
func commandLine(args []string) string {
	parts := []string{"escalator-load"}
	for i, a := range args {
		switch {
		case strings.HasPrefix(a, "--pg-dsn="):
			a = "--pg-dsn=…"
		case i > 0 && args[i-1] == "--pg-dsn":
			a = "…"
		}
		if strings.ContainsAny(a, " \t'\"$") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

func (o *options) check() error {
	switch {
	case o.spawn == (o.target != ""):
		return errors.New("give either --spawn or --target")
	case o.target != "" && o.tokenFile == "":
		return errors.New("--target needs --token-file")
	case o.alerts < 1:
		return errors.New("--alerts: at least 1")
	case o.haPeers < 1:
		return errors.New("--ha-peers: at least 1")
	case o.mode == "storm" && o.rate <= 0:
		return errors.New("--rate: more than 0")
	case o.mode == "throughput" && (o.senders < 1 || o.groupLag < 1):
		return errors.New("--senders and --group-lag: at least 1")
	case o.duration <= 0:
		return errors.New("--duration: more than 0")
	case o.flapping < 0 || o.flapping > 1 || o.critical < 0 || o.critical > 1:
		return errors.New("--flapping and --critical are fractions, 0 to 1")
	case o.groupInterval <= 0:
		return errors.New("--group-interval: more than 0")
	}
	if o.grow < 0 {
		o.grow = o.alerts / 2
	}
	if o.seed == 0 {
		o.seed = rand.Uint64() | 1
	}
	if o.target != "" {
		if _, err := checkTarget(o.target, o.allowRemote); err != nil {
			return err
		}
		o.target = strings.TrimRight(o.target, "/")
	}
	if o.pgDSN != "" {
		if err := checkDSN(o.pgDSN, o.allowRemote); err != nil {
			return err
		}
	}
	if o.spawn {
		if _, err := exec.LookPath(o.binary); err != nil {
			return fmt.Errorf("--escalator-binary %s: %v (build it: go build -o bin/escalator ./webhook/escalator)", o.binary, err)
		}
	}
	return nil
}

// execute sets up, runs the load and measures what it left.
func execute(ctx context.Context, e *testenv.Command, o *options) (*Report, error) {
	rep := &Report{Command: o.commandLine, Mode: o.mode, Started: time.Now().UTC().Truncate(time.Second), Store: "unknown", Spawned: o.spawn,
		Settings: Settings{Alerts: o.alerts, Grow: o.grow, Duration: o.duration.String(), Warmup: o.warmup.String(), HAPeers: o.haPeers,
			HASkew: o.haSkew.String(), GroupInterval: o.groupInterval.String(), EscalateAfter: o.escalateAfter.String(),
			Flapping: o.flapping, Critical: o.critical, ReceiverDelay: o.receiverDelay.String(), Seed: o.seed}}
	if o.mode == "storm" {
		rep.Settings.Rate = o.rate
		rep.Requests.TargetPerSec = o.rate * float64(o.haPeers)
	} else {
		rep.Settings.Senders, rep.Settings.GroupLag, rep.Settings.GroupInterval = o.senders, o.groupLag, ""
	}
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(o.dir, "escalator-load-")
	if err != nil {
		return nil, err
	}
	if o.keep {
		fmt.Fprintf(os.Stderr, "escalator-load: the run's files are kept in %s\n", dir)
	} else {
		e.Cleanup(func() { os.RemoveAll(dir) })
	}

	url, token := o.target, ""
	dsn := o.pgDSN
	fsyncDir, fsyncNote := o.fsyncDir, ""
	var rec *receiver
	var esc *spawned
	var pgData string
	switch {
	case o.spawn:
		if o.store == "bolt" {
			o.store = "embedded"
		}
		rep.Store = o.store
		if o.store == "embedded" {
			dsn = ""
			if fsyncDir == "" {
				fsyncDir = dir
			}
		} else if dsn == "" {
			e.Logf("starting a private PostgreSQL (internal/testenv)…")
			var pgDir string
			dsn, pgDir, pgData = startPostgres(e, o.pgWarmWAL, o.pgSettings)
			if fsyncDir == "" {
				fsyncDir = pgDir
			}
		}
	default:
		b, err := os.ReadFile(o.tokenFile)
		if err != nil {
			return nil, err
		}
		token = strings.TrimSpace(string(b))
		switch {
		case o.storePath != "":
			rep.Store = "embedded"
			if fsyncDir == "" {
				fsyncDir = filepath.Dir(o.storePath)
			}
		case dsn != "":
			rep.Store = "postgres"
		}
	}
	if dsn != "" && pgData == "" {
		pgData = pgDataDir(ctx, dsn)
	}
	if fsyncDir == "" && pgData != "" {
		// Beside the data directory, on its file system: the probe
		// touches none of the cluster's own files.
		fsyncDir = filepath.Dir(pgData)
	}
	if fsyncDir == "" {
		fsyncDir, fsyncNote = dir, "not the store's directory"
	}
	e.Logf("measuring the sync latency in %s…", fsyncDir)
	syscall.Sync() // what earlier work left to write back would delay the probe and the run
	rep.Machine = measureMachine(fsyncDir, o.fsyncSamples)
	if fsyncNote != "" && rep.Machine.FsyncNote == "" {
		rep.Machine.FsyncNote = fsyncNote
	}

	var sizeBefore int64
	if dsn != "" {
		if _, t, err := pgSizes(ctx, dsn); err == nil {
			sizeBefore = t
		}
	} else if o.storePath != "" {
		if n, err := diskSize(o.storePath); err == nil {
			sizeBefore = n
		}
	}

	if o.spawn {
		if rec, err = startReceiver(o.receiverDelay); err != nil {
			return nil, err
		}
		e.Cleanup(rec.stop)
		esc, err = spawnEscalator(spawnConfig{binary: o.binary, dir: dir, dsn: dsn, receiverURL: rec.URL, escalateAfter: o.escalateAfter})
		if err != nil {
			return nil, err
		}
		e.Cleanup(esc.stop)
		url, token = esc.URL, esc.Token
	}
	rep.Target = url

	t := newTracker()
	s := &shape{peers: o.haPeers, skew: o.haSkew, warmup: o.warmup, measure: o.duration,
		gen: newGenerator(time.Now(), o.alerts, o.grow, o.groupInterval, o.flapping, o.critical, o.seed),
		rng: rand.New(rand.NewPCG(o.seed, 7))}
	posters := make([]*poster, o.haPeers)
	for i := range posters {
		posters[i] = newPoster(url, token, o.timeout)
	}
	var jobs []copyJob
	if o.mode == "storm" {
		e.Logf("making the storm's deliveries…")
		if jobs, err = plan(s, o.rate); err != nil {
			return nil, err
		}
		runtime.GC()
	}
	e.Logf("%s against %s…", o.mode, url)
	start := time.Now().Add(time.Second)
	cpu := startCPU(esc, postmasterPID(pgData), fsyncDir)
	if o.mode == "storm" {
		time.Sleep(time.Until(start))
		err = storm(ctx, s, posters, t, jobs, start)
	} else {
		err = throughput(ctx, s, posters, t, o.senders, o.groupLag, start)
	}
	rep.CPU = cpu.stop()
	if err != nil && ctx.Err() == nil {
		return nil, err
	}
	loadEnd := time.Now()
	analyse(rep, t, o.duration, o.mode == "storm")
	if esc != nil {
		if err := esc.alive(); err != nil {
			return nil, err
		}
	}

	if rec != nil {
		e.Logf("waiting for the notifications to stop arriving (at most %s)…", o.drain)
		// A step 1 may come due escalate-after past the last delivery.
		drained := ctx.Err() == nil && rec.quiet(3*time.Second, o.drain, loadEnd.Add(o.escalateAfter))
		arrivals, total := rec.snapshot()
		rep.Notifications = analyseNotifications(t, start, arrivals, total, o.escalateAfter)
		rep.Notifications.Drained = drained
		rep.Notifications.DrainSeconds = time.Since(loadEnd).Seconds()
	}
	rep.Flapping = checkFlapping(ctx, t, url, token, posters[0].client)

	if dsn != "" {
		db, tables, err := pgSizes(ctx, dsn)
		z := &StoreSize{What: "escalator_% tables (pg_total_relation_size)", Before: sizeBefore, After: tables, Database: db}
		if err != nil {
			z.Note = "not measured: " + err.Error()
		}
		rep.StoreSize = z
	}
	if esc != nil {
		esc.stop()
		errs, warns, sample := esc.logErrors()
		rep.EscalatorLog = &LogSummary{Path: esc.logPath, Errors: errs, Warns: warns, Sample: sample}
		if !o.keep {
			rep.EscalatorLog.Path += " (removed; --keep keeps it)"
		}
		if esc.StorePath != "" {
			o.storePath = esc.StorePath
		}
	}
	if dsn == "" && o.storePath != "" {
		z := &StoreSize{What: "directory " + filepath.Base(o.storePath), Before: sizeBefore}
		if n, err := diskSize(o.storePath); err == nil {
			z.After = n
		} else {
			z.Note = "not measured: " + err.Error()
		}
		rep.StoreSize = z
	}
	if z := rep.StoreSize; z != nil {
		z.AlertsCounted = rep.Requests.AlertsOK
		if z.AlertsCounted > 0 {
			z.PerMillion = float64(z.After-z.Before) / float64(z.AlertsCounted) * 1e6
		}
	}
	rep.Machine.LoadAfter = hostload.Average()
	return rep, nil
}

// checkFlapping asks escalator what became of the flapping alerts (at
// most 2,000 of them, spread over the run).
func checkFlapping(ctx context.Context, t *tracker, url, token string, client *http.Client) *Flapping {
	t.mu.Lock()
	var ids []string
	f := &Flapping{}
	for id, ref := range t.inc {
		if !ref.flapping {
			continue
		}
		f.Alerts++
		if ref.hasResolve && ref.hasFire && ref.resolveAt < ref.fireLast {
			f.ResolvedFirst++
		}
		ids = append(ids, id)
	}
	t.mu.Unlock()
	step := max(1, len(ids)/2000)
	for i := 0; i < len(ids) && ctx.Err() == nil; i += step {
		f.Checked++
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/api/v1/incidents/"+ids[i], nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			f.Errors++
			continue
		}
		var inc struct {
			Status string `json:"status"`
		}
		err = json.NewDecoder(resp.Body).Decode(&inc)
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusNotFound:
			f.Absent++
		case resp.StatusCode != http.StatusOK || err != nil:
			f.Errors++
		case inc.Status == "resolved":
			f.Resolved++
		default:
			f.LeftOpen++
		}
	}
	return f
}
