// Command demo runs the suite on this machine with the configuration it
// ships (internal/suite): a PostgreSQL primary and streaming standby,
// pgBackRest archiving into S3, the hotelapp booking application with its
// own traffic, node_exporter, pgha_exporter and pitr_exporter, Prometheus
// 3 with rules/, sla_exporter with its shipped example configuration (it
// writes this week's report once the suite is up), Alertmanager with the generated alertmanager.yml and
// escalator with the generated policies. PagerDuty, Slack and e-mail are
// loopback recorders; every page they receive is printed here. Once up, it
// runs pitr_exporter's restore tests on the demo repository (a new
// incremental backup restored, then a point-in-time recovery) and prints
// their results. It stays
// in the foreground until interrupted, then removes everything it started
// and exits 0.
//
//	make demo                         (or: go build -o bin/demo ./demo && bin/demo)
//	bin/demo fault system-down   (from a second terminal; see -h)
package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	slaconfig "github.com/hotel-ops/hotel-ops/exporters/sla_exporter/config"
	"github.com/prometheus/common/model"

	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/restore"
	"github.com/hotel-ops/hotel-ops/internal/suite"
	"github.com/hotel-ops/hotel-ops/internal/testenv"
)

// stateFile tells `demo fault` where the running demo listens, and its
// token: the fault endpoint changes state, so it needs one.
func stateFile() string { return filepath.Join(os.TempDir(), "hotelops-demo.json") }

type state struct {
	Control string `json:"control"`
	Token   string `json:"token"`
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "fault" {
		os.Exit(faultCommand(os.Args[2:]))
	}
	appAddr := flag.String("app.listen", "127.0.0.1:8080", "where hotelapp listens")
	pghaAddr := flag.String("pgha.listen", "127.0.0.1:9187", "where pgha_exporter listens")
	pitrAddr := flag.String("pitr.listen", "127.0.0.1:9188", "where pitr_exporter listens")
	slaAddr := flag.String("sla.listen", "127.0.0.1:9189", "where sla_exporter listens")
	escAddr := flag.String("escalator.listen", "127.0.0.1:9096", "where escalator listens")
	controlAddr := flag.String("control.listen", "127.0.0.1:9099", "where `demo fault` reaches this process")
	soak := flag.Duration("soak", 0, "run the healthy suite this long (e.g. 20m), report every page it sent, and exit 1 if there was any")
	flag.Parse()

	e := &testenv.Command{Name: "demo", Log: func(line string) { fmt.Println(line) }}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	s := suite.Start(e, suite.Options{AppAddr: *appAddr, PghaAddr: *pghaAddr, PitrAddr: *pitrAddr, SlaAddr: *slaAddr, EscalatorAddr: *escAddr,
		Logf: func(format string, args ...any) { fmt.Printf(format+"\n", args...) }})
	f := &faults{s: s}
	if err := startControl(e, *controlAddr, f); err != nil {
		e.Fatalf("%v", err)
	}
	fmt.Print(banner(s))
	go printPages(ctx, s)
	go weeklyReport(ctx, s)
	go restoreTests(ctx, s)

	code := 0
	if *soak > 0 {
		code = soakFor(ctx, s, *soak)
	} else {
		<-ctx.Done()
	}
	fmt.Println("\nStopping and removing everything...")
	f.clear()
	e.Teardown()
	_ = os.Remove(stateFile())
	os.Exit(code)
}

// soakFor leaves the healthy suite alone for d and reports what paged:
// at rest, nothing should.
func soakFor(ctx context.Context, s *suite.Suite, d time.Duration) int {
	start := time.Now()
	fmt.Printf("Soaking for %v: nothing should page.\n", d)
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
	pages := s.Pages()
	fmt.Printf("soak: %v at rest, %d pages\n", time.Since(start).Round(time.Second), len(pages))
	for _, p := range pages {
		fmt.Printf("  %v\n", p)
	}
	alerts, err := s.Prometheus.Alerts(context.Background())
	if err == nil {
		for _, a := range alerts {
			fmt.Printf("  still %s in Prometheus: %s{instance=%q}\n", a.State, a.Labels["alertname"], a.Labels["instance"])
		}
	}
	if len(pages) > 0 {
		return 1
	}
	return 0
}

// banner is what a user copies: the scrape configuration the rules
// expect, and where everything is.
func banner(s *suite.Suite) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nhotel-ops demo is running, with the shipped rules, routes and policies.\n\n")
	fmt.Fprintf(&b, "Point your own Prometheus at it with these scrape_configs (the job names are the rules' selectors):\n\n")
	b.WriteString(scrapeConfigs(s.ScrapeJobs))
	fmt.Fprintf(&b, "\nrule_files: [%s/rules/*.yml]\nalerting: {alertmanagers: [{static_configs: [{targets: [%s]}]}]}\n\n",
		mustAbs("."), strings.TrimPrefix(s.Alertmanager.URL, "http://"))
	fmt.Fprintf(&b, "  Prometheus:          %s  (alerts: %s/api/v1/alerts)\n", s.Prometheus.URL, s.Prometheus.URL)
	fmt.Fprintf(&b, "  Alertmanager:        %s\n", s.Alertmanager.URL)
	fmt.Fprintf(&b, "  escalator console:   http://%s/console/  (sign in as %s, password %s)\n", s.EscalatorAddr, s.ConsoleUser, s.ConsolePassword)
	fmt.Fprintf(&b, "  hotelapp:            http://%s/  (metrics /metrics)\n", s.AppAddr)
	fmt.Fprintf(&b, "  pgha_exporter:       http://%s/metrics, /probe?target=standby1\n", s.PghaAddr)
	fmt.Fprintf(&b, "  pitr_exporter:       http://%s/metrics\n", s.PitrAddr)
	fmt.Fprintf(&b, "  sla_exporter:        http://%s/metrics  (configuration %s)\n", s.SlaAddr, s.SlaConfig)
	fmt.Fprintf(&b, "  node_exporter:       %s/metrics\n", s.Node.URL)
	fmt.Fprintf(&b, "  PostgreSQL primary:  %s\n  PostgreSQL standby:  %s\n", s.Primary.DSN("postgres"), s.Standby.DSN("postgres"))
	fmt.Fprintf(&b, "\nPagerDuty, Slack and e-mail are recorders on loopback: every page they receive is printed below.\n")
	fmt.Fprintf(&b, "Cause a fault from a second terminal (HotelAppDown pages within about 2 minutes):\n\n")
	fmt.Fprintf(&b, "  bin/demo fault system-down     # %s\n", strings.Join(faultNames(), " | "))
	fmt.Fprintf(&b, "  bin/demo fault clear\n\nPress Ctrl-C to stop and remove everything.\n\n")
	return b.String()
}

// weeklyReport runs `sla_exporter report` once for the current ISO week
// (in the SLA's time zone) and prints where the HTML is; it is removed
// with everything else.
func weeklyReport(ctx context.Context, s *suite.Suite) {
	cfg, err := slaconfig.Load(s.SlaConfig)
	if err != nil {
		fmt.Printf("sla_exporter report: %v\n", err)
		return
	}
	loc := time.Local
	if cfg.SLA != nil && cfg.SLA.Location != nil {
		loc = cfg.SLA.Location
	}
	year, week := time.Now().In(loc).ISOWeek()
	name := fmt.Sprintf("%d-W%02d", year, week)
	cmd := exec.CommandContext(ctx, filepath.Join(s.Bin, "sla_exporter"), "--config.file", s.SlaConfig,
		"report", "--period", name, "--out", filepath.Join(s.Dir, "report-"+name))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && exit.ExitCode() == 1 && ctx.Err() == nil:
		// Written, with a section whose source failed: the report says which.
		fmt.Printf("sla_exporter report --period %s: written with sections missing figures\n%s", name, stderr.String())
	default:
		if ctx.Err() == nil {
			fmt.Printf("sla_exporter report --period %s: %v\n%s", name, err, stderr.String())
		}
		return
	}
	// It prints each file it wrote, one a line.
	for _, f := range strings.Fields(string(out)) {
		if strings.HasSuffix(f, ".html") {
			fmt.Printf("  sla_exporter report of %s (the week so far): %s\n", name, f)
		}
	}
}

// restoreTests shows the restore test on the demo's repository: an
// incremental backup once the application has written bookings, that
// backup restored to its end, then a point-in-time recovery to a moment
// after it, once WAL past that moment is archived. pitr_exporter reads
// both results from the bucket (pitr_restore_test_* in Prometheus).
func restoreTests(ctx context.Context, s *suite.Suite) {
	s.Backup("incr")
	show := func(kind string, target time.Time) bool {
		res, logs, err := s.RestoreTest(ctx, kind, target)
		if err != nil {
			if ctx.Err() == nil {
				fmt.Printf("pitr_exporter restore-test --kind=%s: %v\n", kind, err)
			}
			return false
		}
		fmt.Printf("pitr_exporter restore-test --kind=%s: %s (backup %s, target %s)\n", kind, res.Outcome, res.Backup, res.Target.Local().Format(time.RFC3339))
		if res.Outcome != restore.OutcomeSuccess {
			fmt.Printf("  %s\n%s", res.Message, logs)
			return false
		}
		fmt.Printf("  measured RTO %.1fs: fetch %.1fs, replay %.1fs, checks %.2fs\n", res.Phases.RTO(), res.Phases.Fetch, res.Phases.Replay, res.Phases.Check)
		for _, c := range res.Checks {
			fmt.Printf("  check %s = %s\n", c.Name, c.Value)
		}
		return true
	}
	if !show(restore.KindBackup, time.Time{}) {
		return
	}
	target := time.Now().Add(-time.Second).Truncate(time.Millisecond)
	// Recovery to a time stops at the first commit after it: wait until the
	// archive holds WAL well past the target (archive_timeout is a minute).
	q := fmt.Sprintf("pitr_window_end_timestamp_seconds > %d", target.Add(10*time.Second).Unix())
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if _, err := s.Prometheus.WaitForQuery(wctx, q, func(v model.Vector) bool { return len(v) > 0 }); err != nil {
		if ctx.Err() == nil {
			fmt.Printf("pitr_exporter restore-test --kind=pitr: WAL past %s not archived: %v\n", target.Format(time.RFC3339), err)
		}
		return
	}
	show(restore.KindPITR, target)
}

func mustAbs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}

// scrapeConfigs renders the jobs as prometheus.yml's scrape_configs.
func scrapeConfigs(jobs []testenv.ScrapeJob) string {
	var b strings.Builder
	b.WriteString("scrape_configs:\n")
	for _, j := range jobs {
		fmt.Fprintf(&b, "  - job_name: %s\n", j.JobName)
		if j.MetricsPath != "" {
			fmt.Fprintf(&b, "    metrics_path: %s\n", j.MetricsPath)
		}
		fmt.Fprintf(&b, "    static_configs: [{targets: [%s]}]\n", strings.Join(j.Targets, ", "))
		if j.RelabelConfigs != "" {
			b.WriteString("    relabel_configs:")
			for _, line := range strings.Split(strings.TrimRight(j.RelabelConfigs, "\n"), "\n") {
				if line != "" {
					b.WriteString("\n      " + line)
				}
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

// printPages prints every page as it arrives.
func printPages(ctx context.Context, s *suite.Suite) {
	seen := map[string]bool{}
	for {
		for _, p := range s.Pages() {
			key := p.At.String() + p.Channel + p.Body
			if seen[key] {
				continue
			}
			seen[key] = true
			ev := "FIRING  "
			if p.Resolve {
				ev = "RESOLVED"
			}
			line := fmt.Sprintf("[%s] %-10s %s %s", p.At.Format("15:04:05"), p.Channel, ev, strings.Join(p.Alerts, ", "))
			if p.Summary != "" {
				line += ": " + p.Summary
			}
			if p.AckURL != "" {
				line += "\n           acknowledge: " + p.AckURL
			}
			fmt.Println(line)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// faults are what `demo fault` can do to the running suite.
type faults struct {
	s  *suite.Suite
	mu sync.Mutex
	// cancel ends the running slow query, if any.
	cancel context.CancelFunc
}

// fault is one thing `demo fault NAME` can do; help names the alerts it
// causes.
type fault struct {
	help string
	do   func(f *faults) error
}

// faultTable is every fault, by name: the help, the control endpoint and
// `demo fault -h` all read it.
var faultTable = map[string]fault{
	"system-down":    {"every request of hotelapp answers 500 (HotelAppDown)", appFaults(`{"error_ratio": 1}`)},
	"errors":         {"10% of requests answer 500 (HotelAppErrorRateCritical)", appFaults(`{"error_ratio": 0.1}`)},
	"latency":        {"every request takes 1.5s longer (HotelAppLatencyCritical)", appFaults(`{"latency": "1500ms"}`)},
	"login-failures": {"every login fails (LoginFailuresHigh)", appFaults(`{"login_failure_ratio": 1}`)},
	"slow-query":     {"a 10-minute query on the primary (PostgresSlowQueriesCritical, at once)", (*faults).slowQuery},
	"database-down":  {"the standby stops (PostgresDown, to the DBA too)", func(f *faults) error { f.s.Standby.Stop(); return nil }},
	"database-up":    {"the standby starts again", func(f *faults) error { f.s.Standby.Start(); return nil }},
	"escalator-down": {"kill -9 escalator (Alertmanager pages directly: EscalatorDown, EscalatorFallback)", func(f *faults) error { f.s.Escalator.Kill(syscall.SIGKILL); return nil }},
	"escalator-up":   {"escalator starts again", func(f *faults) error { f.s.Escalator.Restart(); return nil }},
	"clear":          {"undo the application's faults and the slow query", func(f *faults) error { f.clear(); return f.s.SetFaults("") }},
}

// appFaults replaces the application's fault switches.
func appFaults(body string) func(*faults) error {
	return func(f *faults) error { return f.s.SetFaults(body) }
}

func faultNames() []string {
	var out []string
	for k := range faultTable {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (f *faults) do(name string) error {
	ft, ok := faultTable[name]
	if !ok {
		return fmt.Errorf("unknown fault %q (known: %s)", name, strings.Join(faultNames(), ", "))
	}
	return ft.do(f)
}

// slowQuery starts a query that runs until cleared (or 10 minutes).
func (f *faults) slowQuery() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cancel != nil {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	go func() {
		conn := f.s.Primary.Connect("postgres")
		defer conn.Close(context.Background())
		_, _ = conn.Exec(ctx, "SELECT pg_sleep(600)")
	}()
	return nil
}

func (f *faults) clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cancel != nil {
		f.cancel()
		f.cancel = nil
	}
}

// startControl serves POST /fault/<name> on loopback with a bearer token,
// written with the address to the state file (mode 0600).
func startControl(e *testenv.Command, addr string, f *faults) error {
	raw := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		return err
	}
	token := hex.EncodeToString(raw)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /fault/{name}", func(w http.ResponseWriter, r *http.Request) {
		got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		name := r.PathValue("name")
		if err := f.do(name); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Printf("[%s] fault: %s (%s)\n", time.Now().Format("15:04:05"), name, faultTable[name].help)
		fmt.Fprintf(w, "%s: %s\n", name, faultTable[name].help)
	})
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("control listener: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	e.Cleanup(func() { _ = srv.Close() })
	b, _ := json.Marshal(state{Control: "http://" + l.Addr().String(), Token: token})
	return os.WriteFile(stateFile(), b, 0o600)
}

// faultCommand is `demo fault NAME`: it asks the running demo to cause it.
func faultCommand(args []string) int {
	if len(args) != 1 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(os.Stderr, "usage: bin/demo fault NAME\n\nfaults:")
		for _, n := range faultNames() {
			fmt.Fprintf(os.Stderr, "  %-15s %s\n", n, faultTable[n].help)
		}
		return 2
	}
	b, err := os.ReadFile(stateFile())
	var st state
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo fault: is the demo running (make demo)? %v\n", err)
		return 1
	}
	req, _ := http.NewRequest(http.MethodPost, st.Control+"/fault/"+args[0], nil)
	req.Header.Set("Authorization", "Bearer "+st.Token)
	client := &http.Client{Timeout: 90 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo fault: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(os.Stderr, "demo fault: %s: %s", resp.Status, msg)
		return 1
	}
	fmt.Printf("%s", msg)
	return 0
}
