package testenv

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

const installPgBouncer = "sudo apt-get install -y pgbouncer"

// PgBouncer is Debian's pgbouncer on 127.0.0.1 in front of one PostgreSQL
// cluster. Its database "postgres" (and, by the "*" fallback, any other)
// goes to that cluster; its admin console is the database "pgbouncer".
type PgBouncer struct {
	Port      int
	Dir       string
	Log       string
	AdminUser string // in admin_users: every console command
	StatsUser string // in stats_users: the read-only SHOW commands

	t        TB
	bin      string
	conf     string
	password string
	pg       *Postgres
	cmd      *exec.Cmd
	exited   chan struct{}
}

// PgBouncerOptions tune StartPgBouncer. The zero value is session pooling,
// 5 server connections per pool and no password.
type PgBouncerOptions struct {
	// PoolMode is "session" (the default) or "transaction".
	PoolMode string
	// PoolSize is default_pool_size, the server connections one pool
	// (database, user) may open: small, so a test can fill it. Default 5.
	PoolSize int
	// Password, when set, is every user's password, checked with
	// scram-sha-256 against an auth_file; otherwise auth_type is trust
	// (the auth_file then only lists who may log in).
	Password string
	// Users may log in besides postgres, AdminUser and StatsUser.
	Users []string
	// Settings are extra [pgbouncer] lines, such as "max_client_conn = 20".
	Settings []string
}

// StartPgBouncer starts pgbouncer in front of p on a free port and waits
// until its admin console answers. PgBouncer refuses to run as root, so as
// root it runs as the cluster's OS user, like PostgreSQL itself.
func StartPgBouncer(t TB, p *Postgres, opts PgBouncerOptions) *PgBouncer {
	t.Helper()
	bin := "/usr/sbin/pgbouncer" // Debian's path, outside a non-root PATH
	if _, err := os.Stat(bin); err != nil {
		if bin, err = exec.LookPath("pgbouncer"); err != nil {
			Missing(t, "pgbouncer", installPgBouncer)
			return nil
		}
	}
	if opts.PoolMode == "" {
		opts.PoolMode = "session"
	}
	if opts.PoolMode != "session" && opts.PoolMode != "transaction" {
		t.Fatalf("StartPgBouncer: pool mode %q: want session or transaction", opts.PoolMode)
	}
	if opts.PoolSize <= 0 {
		opts.PoolSize = 5
	}
	dir, err := os.MkdirTemp("", "hotelops-pgbouncer-")
	if err != nil {
		t.Fatalf("temp dir: %v", err)
	}
	b := &PgBouncer{
		Port: FreePort(t), Dir: dir, Log: filepath.Join(dir, "pgbouncer.log"),
		AdminUser: "pgbouncer_admin", StatsUser: "pgbouncer_stats",
		t: t, bin: bin, conf: filepath.Join(dir, "pgbouncer.ini"), password: opts.Password, pg: p,
	}
	t.Cleanup(func() {
		b.kill()
		os.RemoveAll(dir)
	})
	p.Chown(dir)

	users := append([]string{"postgres", b.AdminUser, b.StatsUser}, opts.Users...)
	var auth strings.Builder
	for _, u := range users {
		fmt.Fprintf(&auth, "%q %q\n", u, opts.Password)
	}
	authType := "trust"
	if opts.Password != "" {
		authType = "scram-sha-256"
	}
	conf := []string{
		"[databases]",
		fmt.Sprintf("postgres = host=127.0.0.1 port=%d dbname=postgres", p.Port),
		fmt.Sprintf("* = host=127.0.0.1 port=%d", p.Port),
		"[pgbouncer]",
		"listen_addr = 127.0.0.1",
		fmt.Sprintf("listen_port = %d", b.Port),
		"unix_socket_dir =", // none: nothing of ours outside Dir
		"auth_type = " + authType,
		"auth_file = " + filepath.Join(dir, "userlist.txt"),
		"admin_users = " + b.AdminUser,
		"stats_users = " + b.StatsUser,
		"pool_mode = " + opts.PoolMode,
		fmt.Sprintf("default_pool_size = %d", opts.PoolSize),
		"max_client_conn = 100",
		// A stopped primary is seen again within a second of its return.
		"server_login_retry = 1",
		// SHOW STATS figures are averaged over stats_period; the totals
		// the exporter reads are current anyway.
		"stats_period = 1",
	}
	conf = append(conf, opts.Settings...)
	for name, content := range map[string]string{"userlist.txt": auth.String(), "pgbouncer.ini": strings.Join(conf, "\n") + "\n"} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatalf("write %s: %v", path, err)
		}
		p.Chown(path)
	}
	b.Start()
	return b
}

// Start starts the (stopped) pgbouncer and waits until its admin console
// answers SHOW VERSION.
func (b *PgBouncer) Start() {
	b.t.Helper()
	if b.running() {
		b.t.Fatalf("pgbouncer on port %d is already running", b.Port)
	}
	logf, err := os.OpenFile(b.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		b.t.Fatalf("pgbouncer log: %v", err)
	}
	// Not daemonized (no -d): it logs to stderr and stays our child.
	cmd := exec.Command(b.bin, b.conf)
	cmd.Dir = b.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	b.pg.RunAsOwner(cmd)
	if err := cmd.Start(); err != nil {
		logf.Close()
		b.t.Fatalf("starting pgbouncer: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(exited)
	}()
	b.cmd, b.exited = cmd, exited

	deadline := time.Now().Add(10 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			b.t.Fatalf("pgbouncer exited at start:\n%s", logTail(b.Log, 8<<10))
		default:
		}
		if last = b.ping(); last == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.t.Fatalf("pgbouncer on port %d: admin console did not answer within 10s: %v\n%s", b.Port, last, logTail(b.Log, 8<<10))
}

func (b *PgBouncer) ping() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := pgconn.Connect(ctx, b.AdminDSN())
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	_, err = c.Exec(ctx, "SHOW VERSION").ReadAll()
	return err
}

func (b *PgBouncer) running() bool {
	if b.cmd == nil {
		return false
	}
	select {
	case <-b.exited:
		return false
	default:
		return true
	}
}

// Stop shuts pgbouncer down at once (clients are disconnected) and waits
// for it to exit.
func (b *PgBouncer) Stop() {
	b.t.Helper()
	if !b.running() {
		return
	}
	sig := immediateShutdown(b.bin)
	_ = b.cmd.Process.Signal(sig)
	select {
	case <-b.exited:
	case <-time.After(10 * time.Second):
		b.kill()
		b.t.Fatalf("pgbouncer did not exit within 10s of %v and was killed", sig)
	}
}

// immediateShutdown is the signal that stops pgbouncer at once: SIGTERM
// up to 1.22, SIGQUIT since 1.23, whose SIGTERM waits for every client to
// leave (a test's held connections would keep it running).
func immediateShutdown(bin string) syscall.Signal {
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return syscall.SIGTERM
	}
	var major, minor int
	if _, err := fmt.Sscanf(string(out), "PgBouncer %d.%d", &major, &minor); err == nil && (major > 1 || major == 1 && minor >= 23) {
		return syscall.SIGQUIT
	}
	return syscall.SIGTERM
}

func (b *PgBouncer) kill() {
	if b.running() {
		_ = b.cmd.Process.Kill()
		<-b.exited
	}
}

// DSN is a libpq URL for database db through pgbouncer as user (who must
// be postgres, AdminUser, StatsUser or one of Options.Users), with the
// configured password.
func (b *PgBouncer) DSN(user, db string) string { return b.DSNWithPassword(user, b.password, db) }

// DSNWithPassword is DSN with another password, to try a wrong one.
func (b *PgBouncer) DSNWithPassword(user, password, db string) string {
	u := url.URL{Scheme: "postgres", Host: fmt.Sprintf("127.0.0.1:%d", b.Port), Path: "/" + db, RawQuery: "sslmode=disable"}
	u.User = url.User(user)
	if password != "" {
		u.User = url.UserPassword(user, password)
	}
	return u.String()
}

// AdminDSN is the admin console as AdminUser.
func (b *PgBouncer) AdminDSN() string { return b.DSN(b.AdminUser, "pgbouncer") }

// StatsDSN is the admin console as StatsUser, what an exporter should use.
func (b *PgBouncer) StatsDSN() string { return b.DSN(b.StatsUser, "pgbouncer") }
