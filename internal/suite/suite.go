// Package suite starts the whole suite on this machine as one paging
// system, from the generated configuration as it ships: a PostgreSQL
// primary and streaming standby, pgBackRest archiving into S3, the demo
// hotel application, node_exporter, pgha_exporter and pitr_exporter, a
// real Prometheus 3 evaluating the generated rules, sla_exporter with the
// shipped example configuration (business queries on the standby and a
// Redis, the SLA from that Prometheus, incidents from escalator),
// Alertmanager with the generated alertmanager.yml and escalator with the
// generated policies.
// The spec's own override mechanism points every channel at loopback
// recorders of PagerDuty, Slack and e-mail. The end-to-end tests and
// `make demo` both run it.
package suite

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"

	slaconfig "github.com/hotel-ops/hotel-ops/exporters/sla_exporter/config"
	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/examples"
	"github.com/hotel-ops/hotel-ops/internal/testenv"
	"github.com/hotel-ops/hotel-ops/mixin/generate"
	"github.com/hotel-ops/hotel-ops/mixin/spec"
	"github.com/hotel-ops/hotel-ops/webhook/config"
)

// Intervals of the suite's Prometheus: short, so a fault is seen quickly;
// the rules' `for`s and windows are the shipped ones unless an override
// says otherwise.
const (
	ScrapeInterval = 5 * time.Second
	EvalInterval   = 5 * time.Second
	// PITRRefresh is how often pitr_exporter reads the repository.
	PITRRefresh = 15 * time.Second
	// SLARefresh is how often sla_exporter recomputes the SLA of the
	// current periods (5m shipped). It exports no availability before
	// Prometheus has measured a step: its first refresh, at its start,
	// comes too early for that in a Prometheus started just before.
	SLARefresh = time.Minute
)

// loopback is the spec override that points the channels' secrets and
// addresses at the recorders (the mechanism a deployment uses for its
// own); Options.Override comes after it.
const loopback = `
channels:
  pagerduty: {pagerduty_routing_key_file: {{.Dir}}/pagerduty-key}
  slack: {slack_api_url_file: {{.Dir}}/slack-url, slack_channel: "#hotel-ops-alerts"}
delivery:
  smtp_smarthost: {{.SMTP}}
  smtp_from: alertmanager@example.com
  smtp_auth_username: ""
  smtp_auth_password_file: ""
  smtp_require_tls: false # a relay on loopback, without authentication
  escalator_url: http://{{.Escalator}}/api/v1/alerts
  escalator_token_file: {{.Dir}}/escalator-token
  alertmanager_urls: [{{.Alertmanager}}]
  pagerduty_url: {{.PagerDuty}}/v2/enqueue
`

// Options tune Start.
type Options struct {
	// Override is a threshold spec override merged after the loopback
	// channels (shorter escalations for a test, say).
	Override string
	// Addresses to listen on; "" for a free port on 127.0.0.1.
	AppAddr, EscalatorAddr, PghaAddr, PitrAddr, SlaAddr string
	// TrafficRPS is the application's own traffic (default 5 requests/s).
	TrafficRPS float64
	// Logf, when set, tells what is being started.
	Logf func(format string, args ...any)
}

// Suite is everything Start started; the test's Cleanup stops it.
type Suite struct {
	t   testenv.TB
	Dir string
	Bin string // the suite's binaries, built by Start

	Primary, Standby                *testenv.Postgres
	App, Pgha, Pitr, Sla, Escalator *Proc
	Node                            *testenv.NodeExporter
	Redis                           *testenv.Redis
	Alertmanager                    *testenv.Alertmanager
	Prometheus                      *testenv.Prometheus

	PagerDuty, Slack *testenv.HTTPRecorder
	Mail             *testenv.SMTPRecorder

	AppAddr, EscalatorAddr, PghaAddr, PitrAddr, SlaAddr string
	AdminToken, EscalatorToken                          string
	// SlaConfig is sla_exporter's configuration file, for its report
	// command (`sla_exporter --config.file SlaConfig report ...`).
	SlaConfig string
	// ConsoleUser signs in to escalator's console with ConsolePassword.
	ConsoleUser, ConsolePassword string
	Spec                         *spec.Spec
	// ScrapeJobs are the Prometheus jobs the rules expect, as a user's
	// prometheus.yml would hold them.
	ScrapeJobs []testenv.ScrapeJob

	pages reader
	// restore-test's files, where the database's OS user can read them.
	restoreDir, restoreConf string
	backup                  *testenv.PgBackRest
}

// Proc is one of the suite's binaries, restartable with the same flags.
type Proc struct {
	*testenv.Daemon
	t     testenv.TB
	ready string
}

// Start builds the suite's binaries, generates the configuration from the
// threshold spec with the loopback override, and starts everything.
func Start(t testenv.TB, opt Options) *Suite {
	t.Helper()
	dir, err := os.MkdirTemp("", "hotelops-suite-")
	if err != nil {
		t.Fatalf("temp dir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	logf := opt.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	s := &Suite{t: t, Dir: dir, AdminToken: "hotelops-admin-token", EscalatorToken: "hotelops-escalator-token",
		ConsoleUser: "demo", ConsolePassword: "hotelops-console"}
	s.Bin = filepath.Join(s.Dir, "bin")
	root := testenv.RepoRoot(t)
	if opt.TrafficRPS == 0 {
		opt.TrafficRPS = 5
	}

	// Build while the databases start: the slowest two steps together.
	build := make(chan error, 1)
	go func() {
		cmd := exec.Command("go", "build", "-o", s.Bin+"/", "./exporters/pgha_exporter", "./exporters/pitr_exporter", "./exporters/sla_exporter", "./webhook/escalator", "./demo/hotelapp")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			err = fmt.Errorf("go build: %w\n%s", err, out)
		}
		build <- err
	}()

	logf("Starting S3, a PostgreSQL primary archiving through pgBackRest, and a streaming standby...")
	s3 := testenv.StartS3(t)
	brConf := testenv.NewPgBackRestConfigPath(t)
	s.Primary = testenv.StartPrimary(t, "primary", testenv.PrimaryOptions{ArchiveCommand: testenv.PgBackRestArchiveCommand(brConf, "main")})
	s.Standby = testenv.StartStandby(t, s.Primary, "standby1")
	// Encrypted (AES-256) and copied to a second bucket, as the spec's
	// backups are: 暗号化: AES-256, 保存先: S3 + 別リージョン.
	br := testenv.StartPgBackRest(t, brConf, s.Primary, s3, testenv.PgBackRestOptions{CipherPass: "hotelops-suite-cipher", ReplicaBucket: "pgbackrest-replica"})
	logf("Taking a full and an incremental backup...")
	br.Backup("full")
	br.Backup("incr")
	if err := <-build; err != nil {
		t.Fatalf("%v", err)
	}

	s.PagerDuty = testenv.StartHTTPRecorder(t)
	s.Slack = testenv.StartHTTPRecorder(t)
	s.Mail = testenv.StartSMTPRecorder(t)
	s.Node = testenv.StartNodeExporter(t)
	s.Redis = testenv.StartRedis(t) // the cache sla_exporter's Redis queries read

	write := func(name, content string) string {
		p := filepath.Join(s.Dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatalf("%v", err)
		}
		return p
	}
	write("pagerduty-key", "e2e-routing-key-0123456789abcdef")
	write("slack-url", s.Slack.URL+"/slack/hooks")
	tokenFile := write("escalator-token", s.EscalatorToken)
	write("ack-link-secret", "hotelops-link-secret")
	adminFile := write("admin-token", s.AdminToken)

	s.EscalatorAddr = addrOr(t, opt.EscalatorAddr)
	s.AppAddr = addrOr(t, opt.AppAddr)
	s.PghaAddr = addrOr(t, opt.PghaAddr)
	s.PitrAddr = addrOr(t, opt.PitrAddr)
	// Prometheus scrapes sla_exporter, which reads the SLA from
	// Prometheus: its address is chosen now, for the scrape job, and it
	// starts once Prometheus's URL is known.
	s.SlaAddr = addrOr(t, opt.SlaAddr)

	// Alertmanager's configuration names escalator; escalator's names
	// Alertmanager: generate once for the one, start it, then again.
	logf("Generating the configuration and starting Alertmanager, escalator, the application and the exporters...")
	files := s.generate(opt.Override, "http://127.0.0.1:9")
	s.Alertmanager = testenv.StartAlertmanager(t, string(files["alertmanager/alertmanager.yml"]))
	files = s.generate(opt.Override, s.Alertmanager.URL)

	// The generated escalator.yml with this machine's paths.
	var esc config.Config
	if err := yaml.Unmarshal(files["alertmanager/escalator.yml"], &esc); err != nil {
		t.Fatalf("%v", err)
	}
	esc.Store.Path = filepath.Join(s.Dir, "escalator.db")
	esc.AckLinks.SecretFile = filepath.Join(s.Dir, "ack-link-secret")
	// The console's account: the API token is the machines' and opens no console.
	hash, err := bcrypt.GenerateFromPassword([]byte(s.ConsolePassword), bcrypt.DefaultCost)
	if err != nil {
		t.Fatalf("hashing the console password: %v", err)
	}
	esc.ConsoleUsersFile = write("console-users.yml", fmt.Sprintf("users:\n  %s: %s\n", s.ConsoleUser, hash))
	// The generated recovery actions' secrets are this suite's servers
	// (the shipped paths are a deployment's); they stay as generated,
	// dry runs and a failover that waits for approval.
	primaryDSN, standbyDSN := write("primary-dsn", s.Primary.DSN("postgres")), write("standby-dsn", s.Standby.DSN("postgres"))
	for name, a := range esc.Actions {
		if a.RedisPasswordFile != "" {
			a.RedisPasswordFile = "" // the machine's Redis wants none
		}
		if a.DSNFile != "" {
			a.DSNFile = primaryDSN
		}
		if a.PrimaryDSNFile != "" {
			a.PrimaryDSNFile, a.StandbyDSNFile = primaryDSN, standbyDSN
		}
		esc.Actions[name] = a
	}
	escYAML, err := yaml.Marshal(&esc)
	if err != nil {
		t.Fatalf("%v", err)
	}
	escConf := write("escalator.yml", string(escYAML))
	s.Escalator = s.start("escalator", "http://"+s.EscalatorAddr+"/metrics", "--config.file", escConf, "--api.token-file", tokenFile, "--web.listen-address", s.EscalatorAddr)

	s.App = s.start("hotelapp", "http://"+s.AppAddr+"/healthz", "--pg.dsn", s.Primary.DSN("postgres"), "--admin.token-file", adminFile,
		"--web.listen-address", s.AppAddr, "--traffic.rps", strconv.FormatFloat(opt.TrafficRPS, 'g', -1, 64), "--traffic.login-rps", "0.5")

	targets := write("pgha-targets.yml", fmt.Sprintf("targets:\n  primary:\n    dsn: %q\n  standby1:\n    dsn: %q\n", s.Primary.DSN("postgres"), s.Standby.DSN("postgres")))
	s.Pgha = s.start("pgha_exporter", "http://"+s.PghaAddr+"/metrics", "--pg.dsn", s.Primary.DSN("postgres"), "--config.file", targets,
		"--heartbeat.table", "pgha_heartbeat", "--heartbeat.create", "--web.listen-address", s.PghaAddr)

	ak, sk := write("s3-access-key", s3.AccessKey), write("s3-secret-key", s3.SecretKey)
	cipher := write("cipher-pass", "hotelops-suite-cipher")
	pitrConf := write("pitr.yml", fmt.Sprintf(`repository: {type: pgbackrest, stanza: %[1]s, path: %[2]s, cipher_pass_file: %[8]s}
s3: {endpoint: "%[3]s", bucket: %[4]s, path_style: true, ca_file: %[5]s, access_key_file: %[6]s, secret_key_file: %[7]s}
replica:
  s3: {endpoint: "%[3]s", bucket: pgbackrest-replica, path_style: true, ca_file: %[5]s, access_key_file: %[6]s, secret_key_file: %[7]s}
refresh: {interval: %[9]s, timeout: 10s, bucket_check_interval: %[9]s}
`, br.Stanza, br.RepoPath, s3.Endpoint, br.Bucket, s3.CAFile, ak, sk, cipher, PITRRefresh))
	s.backup = br
	s.prepareRestoreTest(br, s3)
	s.Pitr = s.start("pitr_exporter", "http://"+s.PitrAddr+"/metrics", "--config.file", pitrConf, "--web.listen-address", s.PitrAddr)

	// The job names are the spec's selectors: the rules select on them.
	s.ScrapeJobs = []testenv.ScrapeJob{
		{JobName: jobOf(s.Spec, "app"), Targets: []string{s.AppAddr}},
		{JobName: jobOf(s.Spec, "node"), Targets: []string{s.Node.Addr}},
		{JobName: jobOf(s.Spec, "pitr"), Targets: []string{s.PitrAddr}},
		{JobName: jobOf(s.Spec, "escalator"), Targets: []string{s.EscalatorAddr}},
		{JobName: jobOf(s.Spec, "sla"), Targets: []string{s.SlaAddr}},
		// One exporter, two databases: the relabelling the README shows.
		{JobName: jobOf(s.Spec, "pgha"), MetricsPath: "/probe", Targets: []string{"primary", "standby1"}, RelabelConfigs: fmt.Sprintf(`
- source_labels: [__address__]
  target_label: __param_target
- source_labels: [__param_target]
  target_label: instance
- target_label: __address__
  replacement: %s
`, s.PghaAddr)},
	}
	logf("Starting Prometheus with the generated rules...")
	s.Prometheus = testenv.StartPrometheus(t, testenv.PrometheusOptions{
		ScrapeInterval:     ScrapeInterval,
		EvaluationInterval: EvalInterval,
		RuleFiles:          []string{filepath.Join(s.Dir, "out", "rules", "*.yml")},
		AlertmanagerURLs:   []string{s.Alertmanager.URL},
		ScrapeJobs:         s.ScrapeJobs,
	})

	logf("Starting sla_exporter with the shipped example configuration...")
	// Its queries run at its start and then every minute: with a booking
	// replicated to the standby already, the first figures are not zeros.
	s.waitForBooking(30 * time.Second)
	// The shipped example with this machine's servers: the business
	// queries on the standby (the read replica the example names), the
	// SLA from this Prometheus, the incidents from escalator.
	slaYAML, err := slaConfig(standbyDSN, s.Redis.Addr, s.Prometheus.URL, "http://"+s.EscalatorAddr, tokenFile, SLARefresh)
	if err != nil {
		t.Fatalf("sla_exporter's configuration: %v", err)
	}
	s.SlaConfig = write("sla.yml", string(slaYAML))
	s.Sla = s.start("sla_exporter", "http://"+s.SlaAddr+"/metrics", "--config.file", s.SlaConfig, "--web.listen-address", s.SlaAddr)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, job := range s.ScrapeJobs {
		if _, err := s.Prometheus.WaitForTarget(ctx, job.JobName, "up"); err != nil {
			t.Fatalf("target %s not up: %v\n%s", job.JobName, err, s.Prometheus.LogTail())
		}
	}
	return s
}

// waitForBooking waits at most timeout for the application's first
// booking to reach the standby; after that the suite goes on anyway.
func (s *Suite) waitForBooking(timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.Standby.DSN("postgres"))
	if err != nil {
		return
	}
	defer conn.Close(context.Background())
	for {
		var n int64
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM bookings").Scan(&n); err == nil && n > 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// slaConfig is the shipped example configuration of sla_exporter
// (examples.Hotel) pointed at these servers, with the SLA recomputed
// every refresh, as YAML that config.Parse accepts.
func slaConfig(dsnFile, redisAddr, prometheusURL, escalatorURL, tokenFile string, refresh time.Duration) ([]byte, error) {
	c, err := slaconfig.Parse("examples/hotel.yml", examples.Hotel)
	if err != nil {
		return nil, err
	}
	if c.Database == nil || c.Redis == nil || c.SLA == nil || c.Escalator == nil {
		return nil, fmt.Errorf("examples/hotel.yml: want database, redis, sla and escalator sections")
	}
	c.Database.DSNFile, c.Database.DSNEnv = dsnFile, ""
	c.Redis.Addr = redisAddr
	c.SLA.PrometheusURL, c.SLA.Refresh = prometheusURL, model.Duration(refresh)
	c.Escalator.URL, c.Escalator.TokenFile, c.Escalator.TokenEnv = escalatorURL, tokenFile, ""
	out, err := yaml.Marshal(c)
	if err != nil {
		return nil, err
	}
	// What is written must read back: a type whose YAML does not
	// round-trip would otherwise show only when sla_exporter starts.
	if _, err := slaconfig.Parse("sla.yml", out); err != nil {
		return nil, fmt.Errorf("the example's configuration, written back: %w", err)
	}
	return out, nil
}

// jobOf is the job a selector of the spec names (job="hotel-saas").
func jobOf(s *spec.Spec, sel string) string {
	m := regexp.MustCompile(`job="([^"]+)"`).FindStringSubmatch(s.Selectors[sel])
	if m == nil {
		return sel
	}
	return m[1]
}

// SetFaults sets the application's fault switches (the JSON of
// PUT /admin/faults); "" clears them.
func (s *Suite) SetFaults(body string) error {
	method := http.MethodPut
	if body == "" {
		method = http.MethodDelete
	}
	req, err := http.NewRequest(method, "http://"+s.AppAddr+"/admin/faults", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("setting faults: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("setting faults %q: %s", body, resp.Status)
	}
	return nil
}

// generate runs mixgen's generators with the loopback override and the
// caller's, and writes the files under Dir/out, as `mixgen --spec.file`
// would.
func (s *Suite) generate(extra, amURL string) map[string][]byte {
	s.t.Helper()
	o := strings.NewReplacer("{{.Dir}}", s.Dir, "{{.SMTP}}", s.Mail.Addr, "{{.Escalator}}", s.EscalatorAddr,
		"{{.Alertmanager}}", amURL, "{{.PagerDuty}}", s.PagerDuty.URL).Replace(loopback)
	layers := []spec.Layer{{Name: "loopback-override.yml", Data: []byte(o)}}
	if extra != "" {
		layers = append(layers, spec.Layer{Name: "override.yml", Data: []byte(extra)})
	}
	sp, err := spec.Merge(layers...)
	if err != nil {
		s.t.Fatalf("override: %v", err)
	}
	s.Spec = sp
	files, _, err := generate.All(sp, generate.Options{})
	if err != nil {
		s.t.Fatalf("%v", err)
	}
	if err := generate.Write(filepath.Join(s.Dir, "out"), files, false); err != nil {
		s.t.Fatalf("%v", err)
	}
	return files
}

func addrOr(t testenv.TB, addr string) string {
	if addr != "" {
		return addr
	}
	return "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
}

// start runs one of the built binaries until the end, waiting for ready
// to answer 200.
func (s *Suite) start(name, ready string, args ...string) *Proc {
	s.t.Helper()
	p := &Proc{t: s.t, ready: ready, Daemon: &testenv.Daemon{Name: name, Bin: filepath.Join(s.Bin, name), Args: args, Dir: s.Dir, Log: filepath.Join(s.Dir, name+".log")}}
	s.t.Cleanup(func() { p.Daemon.Signal(syscall.SIGTERM, 15*time.Second) })
	p.Restart()
	return p
}

// Kill sends sig (SIGKILL: kill -9) and waits for the process to go; one
// that outlives 15 s is killed.
func (p *Proc) Kill(sig syscall.Signal) { p.Daemon.Signal(sig, 15*time.Second) }

// Restart starts the binary (again) with the same flags, and waits until
// it is ready.
func (p *Proc) Restart() {
	p.t.Helper()
	if err := p.Start(); err != nil {
		p.t.Fatalf("%v", err)
	}
	if err := p.WaitHTTP(p.ready, 60*time.Second); err != nil {
		p.t.Fatalf("%v\n%s", err, p.Tail())
	}
}
