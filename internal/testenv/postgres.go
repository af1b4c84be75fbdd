package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

const installPostgres = "sudo apt-get install -y postgresql"

// Postgres is one running PostgreSQL cluster on 127.0.0.1.
type Postgres struct {
	Name       string
	Dir        string // the cluster's temporary directory (data in Dir/data)
	Port       int
	ArchiveDir string // where the default archive_command copies WAL

	t      TB
	bindir string
	owner  *user.User // the OS user running the cluster (postgres when we are root)
}

// PrimaryOptions tune StartPrimary. The zero value is a sensible default.
type PrimaryOptions struct {
	// Settings are extra postgresql.conf lines, such as "max_connections = 300".
	Settings []string
	// ArchiveCommand replaces the default copy into ArchiveDir.
	ArchiveCommand string
	// InitdbArgs are extra initdb arguments, such as --wal-segsize=1.
	InitdbArgs []string
	// PasswordRoles must give their password over TCP (scram-sha-256);
	// every other role is trusted.
	PasswordRoles []string
}

// Bindir finds the newest PostgreSQL server binaries (Debian puts them in
// /usr/lib/postgresql/<major>/bin); PG_BINDIR overrides.
func Bindir() (string, error) {
	if d := os.Getenv("PG_BINDIR"); d != "" {
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return majorOf(dirs[i]) < majorOf(dirs[j]) })
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i], nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", fmt.Errorf("initdb not found in /usr/lib/postgresql/*/bin nor PATH")
}

func majorOf(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

// newCluster prepares a directory owned by the user that will run it:
// initdb refuses to run as root, so as root we run it as "postgres".
func newCluster(t TB, name string) *Postgres {
	t.Helper()
	bindir, err := Bindir()
	if err != nil {
		Missing(t, "PostgreSQL server (initdb)", installPostgres)
	}
	owner, err := user.Current()
	if err != nil {
		t.Fatalf("current user: %v", err)
	}
	if owner.Uid == "0" {
		if owner, err = user.Lookup("postgres"); err != nil {
			Missing(t, "the postgres OS user", installPostgres)
		}
	}
	dir, err := os.MkdirTemp("", "hotelops-pg-"+name+"-")
	if err != nil {
		t.Fatalf("temp dir: %v", err)
	}
	p := &Postgres{Name: name, Dir: dir, Port: FreePort(t), t: t, bindir: bindir, owner: owner}
	p.ArchiveDir = filepath.Join(dir, "archive")
	if err := os.MkdirAll(p.ArchiveDir, 0o700); err != nil {
		t.Fatalf("archive dir: %v", err)
	}
	p.chown(dir)
	p.chown(p.ArchiveDir)
	t.Cleanup(func() {
		p.stopQuietly()
		os.RemoveAll(dir)
	})
	return p
}

func (p *Postgres) chown(path string) {
	uid, _ := strconv.Atoi(p.owner.Uid)
	gid, _ := strconv.Atoi(p.owner.Gid)
	if err := os.Chown(path, uid, gid); err != nil && os.Getuid() == 0 {
		p.t.Fatalf("chown %s: %v", path, err)
	}
}

// DataDir is the cluster's data directory.
func (p *Postgres) DataDir() string { return filepath.Join(p.Dir, "data") }

// cmd runs a PostgreSQL binary as the cluster owner.
func (p *Postgres) cmd(bin string, args ...string) (string, error) {
	path := filepath.Join(p.bindir, bin)
	if os.Getuid() == 0 {
		return run("runuser", append([]string{"-u", p.owner.Username, "--", path}, args...)...)
	}
	return run(path, args...)
}

// StartPrimary initialises and starts a primary that accepts replication
// connections and archives WAL.
func StartPrimary(t TB, name string, opt PrimaryOptions) *Postgres {
	t.Helper()
	p := newCluster(t, name)
	if out, err := p.cmd("initdb", append([]string{"-D", p.DataDir(), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale", "C"}, opt.InitdbArgs...)...); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	archive := opt.ArchiveCommand
	if archive == "" {
		archive = fmt.Sprintf("test ! -f %s/%%f && cp %%p %s/%%f", p.ArchiveDir, p.ArchiveDir)
	}
	conf := []string{
		"listen_addresses = '127.0.0.1'",
		fmt.Sprintf("port = %d", p.Port),
		fmt.Sprintf("unix_socket_directories = '%s'", p.Dir),
		"wal_level = replica",
		"max_wal_senders = 10",
		"max_replication_slots = 10",
		"hot_standby = on",
		"archive_mode = on",
		fmt.Sprintf("archive_command = '%s'", strings.ReplaceAll(archive, "'", "''")),
		// The suite's recommendation: a quiet primary that wrote anything
		// archives a segment at least every minute, well inside the RPO.
		// Settings may override it (later lines win).
		"archive_timeout = 60s",
		"fsync = off",
		"synchronous_commit = off",
		"full_page_writes = off",
		"shared_buffers = 32MB",
		"max_connections = 100",
		"log_min_messages = warning",
		"logging_collector = off",
	}
	conf = append(conf, opt.Settings...)
	p.appendConf("postgresql.conf", conf...)
	p.appendConf("pg_hba.conf",
		"host all all 127.0.0.1/32 trust",
		"host replication all 127.0.0.1/32 trust")
	if len(opt.PasswordRoles) > 0 {
		var lines []string
		for _, r := range opt.PasswordRoles {
			lines = append(lines, "host all "+r+" 127.0.0.1/32 scram-sha-256")
		}
		p.prependConf("pg_hba.conf", lines...) // the first matching line counts
	}
	p.Start()
	return p
}

// StartStandby makes a streaming standby of primary with pg_basebackup; it
// reports itself to the primary as application_name=name.
func StartStandby(t TB, primary *Postgres, name string) *Postgres {
	t.Helper()
	s := newCluster(t, name)
	if out, err := s.cmd("pg_basebackup", "-h", "127.0.0.1", "-p", strconv.Itoa(primary.Port), "-U", "postgres",
		"-D", s.DataDir(), "-R", "-X", "stream", "--no-sync", "-c", "fast"); err != nil {
		t.Fatalf("pg_basebackup: %v\n%s", err, out)
	}
	// postgresql.auto.conf, where pg_basebackup -R wrote its own
	// primary_conninfo, overrides postgresql.conf: append there.
	s.appendConf("postgresql.auto.conf",
		fmt.Sprintf("port = %d", s.Port),
		fmt.Sprintf("unix_socket_directories = '%s'", s.Dir),
		// The standby archives nothing of its own: the primary's archive
		// directory is not this cluster's to write.
		"archive_mode = off",
		fmt.Sprintf("primary_conninfo = 'host=127.0.0.1 port=%d user=postgres application_name=%s'", primary.Port, name))
	s.Start()
	return s
}

func (p *Postgres) appendConf(file string, lines ...string) {
	path := filepath.Join(p.DataDir(), file)
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		p.t.Fatalf("open %s: %v", path, err)
	}
	defer f.Close()
	if _, err := f.WriteString("\n" + strings.Join(lines, "\n") + "\n"); err != nil {
		p.t.Fatalf("write %s: %v", path, err)
	}
}

func (p *Postgres) prependConf(file string, lines ...string) {
	path := filepath.Join(p.DataDir(), file)
	old, err := os.ReadFile(path)
	if err != nil {
		p.t.Fatalf("read %s: %v", path, err)
	}
	if err := os.WriteFile(path, append([]byte(strings.Join(lines, "\n")+"\n"), old...), 0o600); err != nil {
		p.t.Fatalf("write %s: %v", path, err)
	}
}

// Start starts the (stopped) cluster and waits until it accepts connections.
func (p *Postgres) Start() {
	p.t.Helper()
	logf := filepath.Join(p.Dir, "postgres.log")
	if out, err := p.cmd("pg_ctl", "start", "-w", "-t", "60", "-D", p.DataDir(), "-l", logf); err != nil {
		log, _ := os.ReadFile(logf)
		p.t.Fatalf("pg_ctl start %s: %v\n%s\n%s", p.Name, err, out, log)
	}
}

// Stop shuts the cluster down fast (open sessions are disconnected).
func (p *Postgres) Stop() {
	p.t.Helper()
	if out, err := p.cmd("pg_ctl", "stop", "-w", "-m", "fast", "-D", p.DataDir()); err != nil {
		p.t.Fatalf("pg_ctl stop %s: %v\n%s", p.Name, err, out)
	}
}

func (p *Postgres) stopQuietly() {
	p.Resume()
	_, _ = p.cmd("pg_ctl", "stop", "-w", "-m", "immediate", "-D", p.DataDir())
}

// Freeze stops every process of the cluster with SIGSTOP: the port still
// accepts TCP connections (the kernel completes the handshake) but nothing
// answers, the way a hung server looks to a client.
func (p *Postgres) Freeze() { p.signalAll(syscall.SIGSTOP) }

// Resume undoes Freeze.
func (p *Postgres) Resume() { p.signalAll(syscall.SIGCONT) }

func (p *Postgres) signalAll(sig syscall.Signal) {
	pid := p.postmasterPID()
	if pid == 0 {
		return
	}
	pids := append(ChildrenOf(pid), pid)
	for _, c := range pids {
		_ = syscall.Kill(c, sig)
	}
}

func (p *Postgres) postmasterPID() int {
	b, err := os.ReadFile(filepath.Join(p.DataDir(), "postmaster.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	return pid
}

// ChildrenOf lists the processes whose parent is ppid (Linux: /proc); the
// tests read a postmaster's children, escalator-load their CPU time.
func ChildrenOf(ppid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// stat is "pid (comm) state ppid ..."; comm may contain spaces.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 {
			if pp, _ := strconv.Atoi(f[1]); pp == ppid {
				out = append(out, pid)
			}
		}
	}
	return out
}

// DSN is a libpq URL for database db as user postgres over TCP.
func (p *Postgres) DSN(db string) string { return p.DSNAs("postgres", db) }

// DSNAs is a libpq URL for database db as the given role (trust auth).
func (p *Postgres) DSNAs(role, db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", role, p.Port, db)
}

// Connect opens a pgx connection closed by the test's Cleanup.
func (p *Postgres) Connect(db string) *pgx.Conn {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, p.DSN(db))
	if err != nil {
		p.t.Fatalf("connect to %s: %v", p.Name, err)
	}
	p.t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// Exec runs SQL statements on database postgres and fails the test on error.
func (p *Postgres) Exec(sql string, args ...any) {
	p.t.Helper()
	if err := p.tryExec(sql, args...); err != nil {
		p.t.Fatalf("%s: %v", p.Name, err)
	}
}

// tryExec runs one statement on a connection of its own.
func (p *Postgres) tryExec(sql string, args ...any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, p.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(ctx, sql, args...); err != nil {
		return fmt.Errorf("%q: %w", sql, err)
	}
	return nil
}

// ResumeReplay resumes WAL replay on a standby paused with
// pg_wal_replay_pause. WAL received during a long pause is older than
// max_standby_streaming_delay, so when replay starts again the standby
// cancels at once any query that conflicts with it, the resuming one
// included (SQLSTATE 40001, "conflict with recovery"): that is retried.
func (p *Postgres) ResumeReplay() {
	p.t.Helper()
	var err error
	for try := 0; try < 5; try++ {
		if err = p.tryExec("SELECT pg_wal_replay_resume()"); err == nil {
			return
		}
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "40001" {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	p.t.Fatalf("%s: resuming replay: %v", p.Name, err)
}

// SetArchiveCommand changes archive_command and reloads the configuration.
func (p *Postgres) SetArchiveCommand(cmd string) {
	p.t.Helper()
	p.Exec("ALTER SYSTEM SET archive_command = " + quoteLiteral(cmd))
	p.Exec("SELECT pg_reload_conf()")
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// Chown gives path to the OS user running the cluster, so that programs
// run as that user (RunAsOwner) can read it.
func (p *Postgres) Chown(path string) { p.chown(path) }

// RunAsOwner makes cmd run as the cluster's OS user when we are root, as
// a program that starts PostgreSQL itself must (it refuses root).
func (p *Postgres) RunAsOwner(cmd *exec.Cmd) {
	if os.Getuid() != 0 {
		return
	}
	uid, _ := strconv.Atoi(p.owner.Uid)
	gid, _ := strconv.Atoi(p.owner.Gid)
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	cmd.Env = append(os.Environ(), "HOME="+p.owner.HomeDir, "USER="+p.owner.Username)
}
