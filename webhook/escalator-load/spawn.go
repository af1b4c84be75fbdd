package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/common/model"

	"github.com/hotel-ops/hotel-ops/internal/testenv"
)

// loopbackHost reports whether host (a name or an address, no port) is
// this machine's loopback.
func loopbackHost(host string) bool {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkTarget refuses a target escalator that is not on loopback unless
// remote targets are allowed.
func checkTarget(raw string, allowRemote bool) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--target %q: want http(s)://host:port", raw)
	}
	if !allowRemote && !loopbackHost(u.Hostname()) {
		return nil, fmt.Errorf("--target %s is not 127.0.0.1 or ::1: this sends a storm; give --allow-remote to aim it elsewhere", u.Host)
	}
	return u, nil
}

// checkDSN refuses a PostgreSQL server that is not on loopback (or a
// local socket) unless remote targets are allowed.
func checkDSN(dsn string, allowRemote bool) error {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return fmt.Errorf("--pg-dsn: %v", err)
	}
	hosts := []string{cfg.Host}
	for _, f := range cfg.Fallbacks {
		hosts = append(hosts, f.Host)
	}
	for _, h := range hosts {
		if !allowRemote && !strings.HasPrefix(h, "/") && !loopbackHost(h) {
			return fmt.Errorf("--pg-dsn names host %s, not 127.0.0.1, ::1 or a local socket: give --allow-remote to use it", h)
		}
	}
	return nil
}

// startPostgres starts a private PostgreSQL cluster with internal/testenv,
// durable as in production (fsync, synchronous_commit and
// full_page_writes on), and returns the DSN of an empty database, the
// cluster's directory and its data directory.
func startPostgres(e *testenv.Command, warmWAL bool, extra []string) (dsn, dir, dataDir string) {
	pg := testenv.StartPrimary(e, "escalator-load", testenv.PrimaryOptions{Settings: append([]string{
		"fsync = on", "synchronous_commit = on", "full_page_writes = on",
		"shared_buffers = 128MB", "max_connections = 200",
		"min_wal_size = 1GB", "max_wal_size = 2GB",
		"archive_mode = off",
	}, extra...)})
	if warmWAL {
		// A server in service reuses its WAL segments; a fresh cluster
		// creates and zero-fills each 16 MB segment while commits wait
		// (as BenchmarkStores in webhook/api explains). Some WAL written
		// and checkpointed leaves recycled segments ready.
		pg.Exec("CREATE TABLE filler AS SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 1500000) g")
		pg.Exec("DROP TABLE filler")
		pg.Exec("CHECKPOINT")
	}
	pg.Exec("CREATE DATABASE escalator")
	pg.Exec("CHECKPOINT")
	return pg.DSN("escalator"), pg.Dir, pg.DataDir()
}

// pgDataDir is the server's data directory when it is on this machine.
func pgDataDir(ctx context.Context, dsn string) string {
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return ""
	}
	defer c.Close(ctx)
	var dir string
	if err := c.QueryRow(ctx, "SHOW data_directory").Scan(&dir); err != nil {
		return ""
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return ""
	}
	return dir
}

// pgSizes is the database's size and the escalator tables' (with their
// indexes and TOAST).
func pgSizes(ctx context.Context, dsn string) (db, tables int64, err error) {
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close(ctx)
	err = c.QueryRow(ctx, `SELECT pg_database_size(current_database()),
	  coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint
	  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	  WHERE c.relkind IN ('r', 'p') AND c.relname LIKE 'escalator\_%' AND n.nspname NOT IN ('pg_catalog', 'information_schema')`).Scan(&db, &tables)
	return db, tables, err
}

// spawned is an escalator process this command started.
type spawned struct {
	URL       string
	Token     string
	Dir       string
	StorePath string // the embedded store's directory; "" with PostgreSQL
	cmd       *exec.Cmd
	logPath   string
	exited    chan struct{}
	exitErr   error
}

type spawnConfig struct {
	binary        string
	dir           string // the run's directory
	dsn           string // "" for the embedded store
	receiverURL   string
	escalateAfter time.Duration
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// writeConfig writes the escalator configuration, the bearer token and
// the link secret into dir: two webhook channels on the receiver, and a
// policy that pages every critical alert at once and again after
// escalateAfter, as the generated configuration does.
func writeConfig(c spawnConfig, port int) (cfgPath, tokenPath, token, storePath string, err error) {
	token = randomHex(16)
	tokenPath = filepath.Join(c.dir, "token")
	secret := filepath.Join(c.dir, "link-secret")
	storeYAML := ""
	if c.dsn == "" {
		storePath = filepath.Join(c.dir, "escalator.db")
		storeYAML = fmt.Sprintf("{path: %q}", storePath)
	} else {
		dsnFile := filepath.Join(c.dir, "dsn")
		if err = os.WriteFile(dsnFile, []byte(c.dsn+"\n"), 0o600); err != nil {
			return
		}
		storeYAML = fmt.Sprintf("{postgres: {dsn_file: %q}}", dsnFile)
	}
	conf := fmt.Sprintf(`# written by escalator-load
external_url: http://127.0.0.1:%d
store: %s
ack_links: {secret_file: %q, ttl: 24h}
channels:
  oncall: {type: webhook, url: %q}
  manager: {type: webhook, url: %q}
policies:
  - name: storm
    matchers: ['severity="critical"']
    steps: [{after: 0s, notify: [oncall]}, {after: %s, notify: [manager]}]
`, port, storeYAML, secret, c.receiverURL+"/oncall", c.receiverURL+"/manager", model.Duration(c.escalateAfter))
	cfgPath = filepath.Join(c.dir, "escalator.yml")
	for path, content := range map[string]string{tokenPath: token + "\n", secret: randomHex(32) + "\n", cfgPath: conf} {
		if err = os.WriteFile(path, []byte(content), 0o600); err != nil {
			return
		}
	}
	return
}

// spawnEscalator starts the escalator binary on a free loopback port and
// waits until it answers.
func spawnEscalator(c spawnConfig) (*spawned, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cfgPath, tokenPath, token, storePath, err := writeConfig(c, port)
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	s := &spawned{URL: "http://" + addr, Token: token, Dir: c.dir, StorePath: storePath,
		logPath: filepath.Join(c.dir, "escalator.log"), exited: make(chan struct{})}
	logf, err := os.Create(s.logPath)
	if err != nil {
		return nil, err
	}
	s.cmd = exec.Command(c.binary, "--config.file="+cfgPath, "--api.token-file="+tokenPath, "--web.listen-address="+addr)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting %s: %w", c.binary, err)
	}
	go func() {
		s.exitErr = s.cmd.Wait()
		logf.Close()
		close(s.exited)
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-s.exited:
			return nil, fmt.Errorf("escalator exited at start (%v):\n%s", s.exitErr, s.logTail())
		default:
		}
		resp, err := http.Get(s.URL + "/metrics")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("escalator did not answer on %s within 60s:\n%s", addr, s.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// alive reports an error when the process has exited.
func (s *spawned) alive() error {
	select {
	case <-s.exited:
		return fmt.Errorf("escalator exited during the run (%v):\n%s", s.exitErr, s.logTail())
	default:
		return nil
	}
}

// stop ends the process with SIGTERM (SIGKILL after 20 s).
func (s *spawned) stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

func (s *spawned) logTail() string {
	b, _ := os.ReadFile(s.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(bytes.TrimSpace(b))
}

// logErrors counts the lines escalator logged at level error or warn.
func (s *spawned) logErrors() (errs, warns int, sample string) {
	b, _ := os.ReadFile(s.logPath)
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.Contains(line, "level=ERROR"), strings.Contains(line, "level=error"):
			errs++
			if sample == "" {
				sample = line
			}
		case strings.Contains(line, "level=WARN"), strings.Contains(line, "level=warn"):
			warns++
		}
	}
	return errs, warns, sample
}
