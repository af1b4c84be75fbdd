// Command demo runs the suite on this machine: a PostgreSQL primary and a
// streaming standby on loopback, an S3 server with pgBackRest archiving the
// primary's WAL into it (and a first full backup), pgha_exporter watching
// both databases and pitr_exporter watching the repository, and Alertmanager
// routing to escalator (embedded store), whose notifications go to a
// loopback receiver that prints them here. It stays in the foreground until
// interrupted, then removes everything it started.
//
//	make demo   (or: go run ./demo)
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hotel-ops/hotel-ops/internal/testenv"
)

// env adapts the test environment to a program: cleanups run on exit.
type env struct{ cleanups []func() }

func (*env) Helper()                         {}
func (e *env) Cleanup(f func())              { e.cleanups = append(e.cleanups, f) }
func (*env) Logf(format string, args ...any) { fmt.Printf(format+"\n", args...) }
func (e *env) Fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "demo: "+format+"\n", args...)
	e.teardown()
	os.Exit(1)
}
func (e *env) Skipf(format string, args ...any) { e.Fatalf(format, args...) }

func (e *env) teardown() {
	for i := len(e.cleanups) - 1; i >= 0; i-- {
		e.cleanups[i]()
	}
	e.cleanups = nil
}

func main() {
	pghaAddr := flag.String("pgha.listen", "127.0.0.1:9187", "where pgha_exporter listens")
	pitrAddr := flag.String("pitr.listen", "127.0.0.1:9188", "where pitr_exporter listens")
	escAddr := flag.String("escalator.listen", "127.0.0.1:9096", "where escalator listens")
	flag.Parse()
	e := &env{}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	work, err := os.MkdirTemp("", "hotelops-demo-")
	if err != nil {
		e.Fatalf("%v", err)
	}
	e.Cleanup(func() { os.RemoveAll(work) })

	fmt.Println("Starting an S3 server, a PostgreSQL primary archiving through pgBackRest, and a streaming standby...")
	s3 := testenv.StartS3(e)
	brConf := testenv.NewPgBackRestConfigPath(e)
	primary := testenv.StartPrimary(e, "primary", testenv.PrimaryOptions{ArchiveCommand: testenv.PgBackRestArchiveCommand(brConf, "main")})
	standby := testenv.StartStandby(e, primary, "standby1")
	br := testenv.StartPgBackRest(e, brConf, primary, s3, testenv.PgBackRestOptions{})
	fmt.Println("Taking a first full backup...")
	br.Backup("full")

	fmt.Println("Building the exporters...")
	if out, err := exec.Command("go", "build", "-o", work+"/", "./exporters/pgha_exporter", "./exporters/pitr_exporter", "./webhook/escalator").CombinedOutput(); err != nil {
		e.Fatalf("go build: %v\n%s", err, out)
	}
	bin := filepath.Join(work, "pgha_exporter")
	targets := filepath.Join(work, "targets.yml")
	cfg := fmt.Sprintf("targets:\n  primary:\n    dsn: %q\n  standby1:\n    dsn: %q\n", primary.DSN("postgres"), standby.DSN("postgres"))
	if err := os.WriteFile(targets, []byte(cfg), 0o600); err != nil {
		e.Fatalf("%v", err)
	}
	exporter := start(e, bin, "--pg.dsn", primary.DSN("postgres"), "--config.file", targets,
		"--heartbeat.table", "pgha_heartbeat", "--heartbeat.create", "--web.listen-address", *pghaAddr)

	pitrConf := filepath.Join(work, "pitr.yml")
	ak, sk := filepath.Join(work, "s3-access-key"), filepath.Join(work, "s3-secret-key")
	_ = os.WriteFile(ak, []byte(s3.AccessKey), 0o600)
	_ = os.WriteFile(sk, []byte(s3.SecretKey), 0o600)
	pitrYAML := fmt.Sprintf(`repository: {type: pgbackrest, stanza: %s, path: %s}
s3: {endpoint: "%s", bucket: %s, path_style: true, ca_file: %s, access_key_file: %s, secret_key_file: %s}
refresh: {interval: 15s, timeout: 10s}
`, br.Stanza, br.RepoPath, s3.Endpoint, br.Bucket, s3.CAFile, ak, sk)
	if err := os.WriteFile(pitrConf, []byte(pitrYAML), 0o600); err != nil {
		e.Fatalf("%v", err)
	}
	pitr := start(e, filepath.Join(work, "pitr_exporter"), "--config.file", pitrConf, "--web.listen-address", *pitrAddr)

	fmt.Println("Starting escalator and Alertmanager...")
	esc, am, token := startEscalation(e, work, *escAddr)

	fmt.Printf(`
hotel-ops demo is running. Scrape:
  pgha_exporter, primary:  http://%[1]s/metrics
  pgha_exporter, standby:  http://%[1]s/probe?target=standby1
  pitr_exporter:           http://%[4]s/metrics
  PostgreSQL primary:      %[2]s
  PostgreSQL standby:      %[3]s
  S3 (versitygw, TLS):     https://%[5]s  bucket %[6]s (CA %[7]s)
  Alertmanager:            %[8]s
  escalator console:       http://%[9]s/console/  (sign in with the token %[10]s)
Fire a test alert (escalator notifies "oncall" at once, "manager" 2 minutes later unless acknowledged):
  curl -XPOST -H 'Content-Type: application/json' %[8]s/api/v2/alerts \
    -d '[{"labels":{"alertname":"HotelAppDown","severity":"critical","instance":"demo"},"annotations":{"summary":"demo outage"}}]'
Press Ctrl-C to stop and remove everything.
`, *pghaAddr, primary.DSN("postgres"), standby.DSN("postgres"), *pitrAddr, s3.Endpoint, br.Bucket, s3.CAFile, am.URL, *escAddr, token)

	select {
	case <-ctx.Done():
	case err := <-exporter:
		fmt.Fprintf(os.Stderr, "pgha_exporter exited: %v\n", err)
	case err := <-pitr:
		fmt.Fprintf(os.Stderr, "pitr_exporter exited: %v\n", err)
	case err := <-esc:
		fmt.Fprintf(os.Stderr, "escalator exited: %v\n", err)
	}
	fmt.Println("\nStopping...")
	e.teardown()
}

// start runs a command whose output goes to ours; it is killed on teardown.
func start(e *env, bin string, args ...string) <-chan error {
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		e.Fatalf("starting %s: %v", bin, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	e.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	return done
}

// startEscalation runs escalator on the embedded store with two webhook
// channels that print here, and Alertmanager routing every alert to it.
func startEscalation(e *env, work, addr string) (<-chan error, *testenv.Alertmanager, string) {
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m struct {
			Event, Summary string
			AckURL         string `json:"ack_url"`
		}
		_ = json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&m)
		fmt.Printf("[notification to %s] %s: %s  ack: %s\n", strings.TrimPrefix(r.URL.Path, "/"), m.Event, m.Summary, m.AckURL)
	}))
	e.Cleanup(recv.Close)
	token := "demo-token"
	tokenFile, secret := filepath.Join(work, "escalator-token"), filepath.Join(work, "ack-link-secret")
	_ = os.WriteFile(tokenFile, []byte(token), 0o600)
	_ = os.WriteFile(secret, []byte("demo-link-secret"), 0o600)
	conf := filepath.Join(work, "escalator.yml")
	yml := fmt.Sprintf(`external_url: http://%s
store: {path: %s}
ack_links: {secret_file: %s, ttl: 24h}
channels:
  oncall: {type: webhook, url: %s/oncall}
  manager: {type: webhook, url: %s/manager}
policies:
  - name: critical
    matchers: ['severity="critical"']
    steps: [{after: 0s, notify: [oncall]}, {after: 2m, notify: [manager]}]
  - name: warning
    matchers: ['severity="warning"']
    steps: [{after: 5m, notify: [manager]}]
`, addr, filepath.Join(work, "escalator.db"), secret, recv.URL, recv.URL)
	if err := os.WriteFile(conf, []byte(yml), 0o600); err != nil {
		e.Fatalf("%v", err)
	}
	done := start(e, filepath.Join(work, "escalator"), "--config.file", conf, "--api.token-file", tokenFile, "--web.listen-address", addr)
	am := testenv.StartAlertmanager(e, fmt.Sprintf(`route: {receiver: escalator, group_wait: 1s, group_interval: 10s, repeat_interval: 1h}
receivers:
  - name: escalator
    webhook_configs:
      - url: http://%s/api/v1/alerts
        send_resolved: true
        http_config: {authorization: {credentials_file: %s}}
`, addr, tokenFile))
	return done, am, token
}
