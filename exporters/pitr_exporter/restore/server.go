package restore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Server is the restored cluster, started by the test with PostgreSQL's
// own binary. It listens on a socket in the run directory only.
type Server struct {
	bin     string
	scratch *Scratch
	cmd     *exec.Cmd
	exited  chan struct{}
	err     error // set before exited closes
}

// socketPort names the socket file; no TCP port is opened.
const socketPort = 5432

// overrides are always set on the command line, after the user's
// settings, where they win over those and over the restored
// postgresql.conf and postgresql.auto.conf alike: the server must not
// accept network connections, archive or clean an archive, stream from
// the production primary, wait for a synchronous standby or a replay
// delay, and it must stay in hot standby so the checks can read it while
// it is paused at the target. Its messages are in English (the log is
// read for "recovery stopping") and at least at LOG level.
func (s *Scratch) overrides() []string {
	return []string{
		"listen_addresses=",
		fmt.Sprintf("port=%d", socketPort),
		"unix_socket_directories=" + s.RunDir(),
		"unix_socket_permissions=0700",
		"archive_mode=off",
		"archive_cleanup_command=",
		"recovery_end_command=",
		"recovery_min_apply_delay=0",
		"hot_standby=on",
		"primary_conninfo=",
		"primary_slot_name=",
		"synchronous_standby_names=",
		"hba_file=" + filepath.Join(s.RunDir(), "pg_hba.conf"),
		"ident_file=" + filepath.Join(s.RunDir(), "pg_ident.conf"),
		"external_pid_file=",
		"ssl=off",
		"huge_pages=try",
		"default_transaction_isolation=read committed",
		"logging_collector=off",
		"log_destination=stderr",
		"log_min_messages=warning",
		"lc_messages=C",
		"cluster_name=pitr-restore-test",
	}
}

// OverriddenSettings are the names the test always sets itself; the
// configuration may not set them.
func OverriddenSettings() []string {
	var names []string
	for _, o := range (&Scratch{}).overrides() {
		name, _, _ := strings.Cut(o, "=")
		names = append(names, name)
	}
	return names
}

// hotStandbyMinimums reads from the restored pg_control the settings a
// hot standby needs at least as high as the primary had them: a backup
// without its postgresql.conf (Debian keeps it in /etc) would otherwise
// start with defaults and pause recovery before the target, refusing hot
// standby.
func hotStandbyMinimums(bindir, dataDir string) ([]string, error) {
	cmd := exec.Command(filepath.Join(bindir, "pg_controldata"), "-D", dataDir)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("pg_controldata: %w", err)
	}
	names := map[string]string{
		"max_connections setting":      "max_connections",
		"max_worker_processes setting": "max_worker_processes",
		"max_wal_senders setting":      "max_wal_senders",
		"max_prepared_xacts setting":   "max_prepared_transactions",
		"max_locks_per_xact setting":   "max_locks_per_transaction",
	}
	var settings []string
	for _, line := range strings.Split(string(out), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if name, known := names[strings.TrimSpace(k)]; ok && known {
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
				settings = append(settings, fmt.Sprintf("%s=%d", name, n))
			}
		}
	}
	return settings, nil
}

// StartServer starts PostgreSQL on the restored data directory. A
// restored directory from a distribution that keeps postgresql.conf
// elsewhere (Debian's /etc/postgresql) gets an empty one. The server is
// sent SIGQUIT, an immediate shutdown, if this process dies.
func StartServer(s *Scratch, bindir string, settings []string) (*Server, error) {
	conf := filepath.Join(s.DataDir(), "postgresql.conf")
	if _, err := os.Stat(conf); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(conf, []byte("# written by pitr_exporter restore-test: the backup had none\n"), 0o600); err != nil {
			return nil, fmt.Errorf("writing %s: %w", conf, err)
		}
	}
	// Only this OS user, on the run's own socket: the socket directory is
	// private, so trust is safe and no production password is needed.
	if err := os.WriteFile(filepath.Join(s.RunDir(), "pg_hba.conf"), []byte("local all all trust\n"), 0o600); err != nil {
		return nil, fmt.Errorf("writing pg_hba.conf: %w", err)
	}
	if err := os.WriteFile(filepath.Join(s.RunDir(), "pg_ident.conf"), nil, 0o600); err != nil {
		return nil, fmt.Errorf("writing pg_ident.conf: %w", err)
	}
	minimums, err := hotStandbyMinimums(bindir, s.DataDir())
	if err != nil {
		return nil, err
	}
	args := []string{"-D", s.DataDir()}
	all := append(append(minimums, settings...), s.overrides()...) // later -c wins
	for _, o := range all {
		args = append(args, "-c", normalizeSetting(o))
	}
	log, err := os.OpenFile(s.LogFile(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("server log: %w", err)
	}
	defer log.Close()
	cmd := exec.Command(filepath.Join(bindir, "postgres"), args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGQUIT}
	// The kernel sends Pdeathsig when the thread that started the child
	// ends, not the process: keep this goroutine on its thread meanwhile
	// (Go ends a thread only when a goroutine locked to it exits locked).
	runtime.LockOSThread()
	err = cmd.Start()
	runtime.UnlockOSThread()
	if err != nil {
		return nil, fmt.Errorf("starting postgres: %w", err)
	}
	srv := &Server{bin: bindir, scratch: s, cmd: cmd, exited: make(chan struct{})}
	go func() { srv.err = cmd.Wait(); close(srv.exited) }()
	return srv, nil
}

// normalizeSetting turns "name = 'value'" into name=value for -c.
func normalizeSetting(line string) string {
	name, value, ok := strings.Cut(line, "=")
	if !ok {
		return line
	}
	value = strings.TrimSpace(value)
	if len(value) >= 2 && value[0] == '\'' && value[len(value)-1] == '\'' {
		value = strings.ReplaceAll(value[1:len(value)-1], "''", "'")
	}
	return strings.TrimSpace(name) + "=" + value
}

// Reached is where recovery stopped.
type Reached struct {
	LSN string
	// LastCommit is the commit time of the last transaction replayed; zero
	// when recovery replayed none.
	LastCommit time.Time
}

// ErrEndedEarly is recovery reaching the end of the WAL it could fetch
// before the target.
var ErrEndedEarly = errors.New("recovery ended before the target")

// WaitForTarget waits until recovery has stopped at its target and paused
// there, which the server's log confirms ("recovery stopping ..."): a
// server paused for another reason, or merely accepting connections, has
// not reached it. An exit before that is the error, with the log's reason.
func (srv *Server) WaitForTarget(ctx context.Context) (Reached, error) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-srv.exited:
			return Reached{}, srv.exitReason()
		case <-ctx.Done():
			return Reached{}, ctx.Err()
		case <-t.C:
		}
		r, inRecovery, paused, err := srv.replayState(ctx)
		if err != nil {
			if retryable(err) {
				continue // starting up, not yet consistent
			}
			return Reached{}, fmt.Errorf("connecting to the restored server: %w", err)
		}
		if !inRecovery {
			return Reached{}, errors.New("the restored server left recovery without pausing at the target")
		}
		if !paused {
			continue // replaying
		}
		if stop := srv.logMatch(stoppingLine); stop == "" {
			continue // paused, but not at the target (insufficient settings pause too)
		}
		return r, nil
	}
}

var (
	stoppingLine   = regexp.MustCompile(`LOG:\s+recovery stopping [^\n]*`)
	endedEarlyLine = regexp.MustCompile(`FATAL:\s+(recovery ended before configured recovery target was reached|WAL ends before consistent recovery point)[^\n]*`)
	fatalLine      = regexp.MustCompile(`(FATAL|PANIC):\s+[^\n]*`)
	lastLSNLine    = regexp.MustCompile(`redo done at ([0-9A-F]+/[0-9A-F]+)|invalid record length at ([0-9A-F]+/[0-9A-F]+)|record with incorrect prev-link [^\n]* at ([0-9A-F]+/[0-9A-F]+)`)
)

// exitReason reads why the server exited from its log.
func (srv *Server) exitReason() error {
	if m := srv.logMatch(endedEarlyLine); m != "" {
		where := ""
		if lsn := srv.logLastSubmatch(lastLSNLine); lsn != "" {
			where = " (WAL replayed to " + lsn + ")"
		}
		return fmt.Errorf("%w%s: %s", ErrEndedEarly, where, m)
	}
	// The last FATAL that is the server's own, not its refusal of the
	// test's connections while it started.
	all := fatalLine.FindAllString(srv.logText(), -1)
	for i := len(all) - 1; i >= 0; i-- {
		if !strings.Contains(all[i], "the database system is") {
			return fmt.Errorf("postgres exited: %s", strings.TrimSpace(all[i]))
		}
	}
	return fmt.Errorf("postgres exited: %v", srv.err)
}

func (srv *Server) logText() string {
	data, _ := os.ReadFile(srv.scratch.LogFile())
	return string(data)
}

// logMatch is the last match of re in the server's log.
func (srv *Server) logMatch(re *regexp.Regexp) string {
	all := re.FindAllString(srv.logText(), -1)
	if len(all) == 0 {
		return ""
	}
	return strings.TrimSpace(all[len(all)-1])
}

func (srv *Server) logLastSubmatch(re *regexp.Regexp) string {
	all := re.FindAllStringSubmatch(srv.logText(), -1)
	if len(all) == 0 {
		return ""
	}
	for _, g := range all[len(all)-1][1:] {
		if g != "" {
			return g
		}
	}
	return ""
}

// LogTail is the end of the server's log, for a result's message.
func (srv *Server) LogTail() string {
	text := srv.logText()
	if len(text) > 1500 {
		text = text[len(text)-1500:]
	}
	return text
}

// Connect opens a session on the run's socket as this OS user's role.
func (srv *Server) Connect(ctx context.Context, database string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig("")
	if err != nil {
		return nil, err
	}
	cfg.Host, cfg.Port, cfg.Database = srv.scratch.RunDir(), socketPort, database
	// Only the scratch socket: PGHOST and the like in the environment
	// must not add a fallback to a production server, nor TLS.
	cfg.Fallbacks, cfg.TLSConfig, cfg.ValidateConnect = nil, nil, nil
	cfg.RuntimeParams = map[string]string{"application_name": "pitr_exporter restore-test"}
	if u := os.Getenv("PGUSER"); u != "" {
		cfg.User = u
	}
	return pgx.ConnectConfig(ctx, cfg)
}

// retryable says whether a failed connection or query may succeed later:
// the server is not up yet, or not yet consistent (57P03). A missing
// role or database never will.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "57P03"
	}
	return true // no answer from the server yet: its socket is not there
}

func (srv *Server) replayState(ctx context.Context) (Reached, bool, bool, error) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := srv.Connect(cctx, "postgres")
	if err != nil {
		return Reached{}, false, false, err
	}
	defer conn.Close(context.Background())
	var inRecovery, paused bool
	var lsn *string
	var last *time.Time
	err = conn.QueryRow(cctx, `SELECT pg_is_in_recovery(), pg_is_in_recovery() AND pg_is_wal_replay_paused(),
		pg_last_wal_replay_lsn()::text, pg_last_xact_replay_timestamp()`).Scan(&inRecovery, &paused, &lsn, &last)
	if err != nil {
		return Reached{}, false, false, err
	}
	r := Reached{}
	if lsn != nil {
		r.LSN = *lsn
	}
	if last != nil {
		r.LastCommit = *last
	}
	return r, inRecovery, inRecovery && paused, nil
}

// Stop shuts the server down at once (nothing of it is kept) and waits for
// it to exit.
func (srv *Server) Stop() {
	select {
	case <-srv.exited:
		_ = syscall.Kill(-srv.cmd.Process.Pid, syscall.SIGKILL)
		return
	default:
	}
	_ = syscall.Kill(srv.cmd.Process.Pid, syscall.SIGQUIT)
	select {
	case <-srv.exited:
	case <-time.After(15 * time.Second):
	}
	// Whatever is left of the group (a restore_command still fetching, a
	// backend) goes too, before the files are removed.
	_ = syscall.Kill(-srv.cmd.Process.Pid, syscall.SIGKILL)
	<-srv.exited
}
