package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hotel-ops/hotel-ops/internal/testenv"
)

// monitorRole is the exporter's role: pg_monitor and nothing else, as the
// exporter's README asks of a deployment.
const monitorRole = "pgha_load"

// server is the private primary and what the shapes add to it.
type server struct {
	t     testenv.TB
	pg    *testenv.Postgres
	admin *pgx.Conn
	idle  []*pgx.Conn
	recv  []*exec.Cmd
}

func startServer(ctx context.Context, t testenv.TB, o *options) (*server, error) {
	maxConns := 0
	for _, n := range o.connections {
		maxConns = max(maxConns, n)
	}
	pg := testenv.StartPrimary(t, "pgha-load", testenv.PrimaryOptions{Settings: []string{
		fmt.Sprintf("max_connections = %d", connLimit(o.connections[0])),
		fmt.Sprintf("max_wal_senders = %d", max(o.standbys, 2)+5),
		fmt.Sprintf("max_replication_slots = %d", o.slots+10),
		"shared_preload_libraries = 'pg_stat_statements'",
		"pg_stat_statements.track = all",
		"archive_mode = off",
	}})
	s := &server{t: t, pg: pg}
	if err := s.connectAdmin(ctx); err != nil {
		return nil, err
	}
	for _, q := range []string{
		"CREATE EXTENSION pg_stat_statements",
		"CREATE ROLE " + monitorRole + " LOGIN",
		"GRANT pg_monitor TO " + monitorRole,
		"CREATE ROLE app LOGIN",
	} {
		if _, err := s.admin.Exec(ctx, q); err != nil {
			return nil, fmt.Errorf("%s: %w", q, err)
		}
	}
	t.Cleanup(func() { s.closeIdle(); s.stopReceivers(0) })
	return s, nil
}

// connLimit is max_connections for n idle sessions: room for the
// exporter, the receivers, this command's own session and superuser slots.
func connLimit(n int) int { return n + 40 }

func (s *server) connectAdmin(ctx context.Context) error {
	if s.admin != nil {
		s.admin.Close(ctx)
	}
	var err error
	for i := 0; i < 50; i++ {
		if s.admin, err = pgx.Connect(ctx, s.pg.DSN("postgres")); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("connecting to the primary: %w", err)
}

// resize restarts the server with max_connections for n sessions.
func (s *server) resize(ctx context.Context, n int) error {
	if _, err := s.admin.Exec(ctx, fmt.Sprintf("ALTER SYSTEM SET max_connections = %d", connLimit(n))); err != nil {
		return fmt.Errorf("setting max_connections: %w", err)
	}
	s.admin.Close(ctx)
	s.admin = nil
	s.pg.Stop()
	s.pg.Start()
	return s.connectAdmin(ctx)
}

// openIdle brings the idle sessions of role app to n, sixteen at a time.
func (s *server) openIdle(ctx context.Context, n int) error {
	need := n - len(s.idle)
	if need <= 0 {
		return nil
	}
	var mu sync.Mutex
	var firstErr error
	work := make(chan struct{}, need)
	for range need {
		work <- struct{}{}
	}
	close(work)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				c, err := pgx.Connect(ctx, s.pg.DSNAs("app", "postgres"))
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = fmt.Errorf("idle session %d of %d: %w", len(s.idle)+1, n, err)
					}
				} else {
					s.idle = append(s.idle, c)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return firstErr
}

// beginIn leaves the first k idle sessions in an open transaction (idle
// in transaction, with a transaction start), as an application holding
// transactions across a request does.
func (s *server) beginIn(ctx context.Context, k int) error {
	for i, c := range s.idle[:k] {
		if _, err := c.Exec(ctx, "BEGIN"); err != nil {
			return fmt.Errorf("session %d: BEGIN: %w", i+1, err)
		}
	}
	return nil
}

func (s *server) rollbackIn(ctx context.Context, k int) error {
	for i, c := range s.idle[:k] {
		if _, err := c.Exec(ctx, "ROLLBACK"); err != nil {
			return fmt.Errorf("session %d: ROLLBACK: %w", i+1, err)
		}
	}
	return nil
}

func (s *server) closeIdle() {
	for _, c := range s.idle {
		c.Close(context.Background())
	}
	s.idle = nil
}

// startReceivers brings the streaming standbys to n: pg_receivewal
// sessions, which the primary lists in pg_stat_replication as it lists a
// standby, at a fraction of a standby's memory.
func (s *server) startReceivers(ctx context.Context, n int) error {
	bindir, err := testenv.Bindir()
	if err != nil {
		return err
	}
	for len(s.recv) < n {
		i := len(s.recv)
		dir := filepath.Join(s.pg.Dir, fmt.Sprintf("receivewal-%d", i))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		conn := fmt.Sprintf("host=127.0.0.1 port=%d user=postgres application_name=standby%d", s.pg.Port, i+1)
		cmd := exec.Command(filepath.Join(bindir, "pg_receivewal"), "-d", conn, "-D", dir, "-w")
		logf, err := os.Create(dir + ".log")
		if err != nil {
			return err
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		err = cmd.Start()
		logf.Close() // the child has its own descriptor
		if err != nil {
			return fmt.Errorf("starting pg_receivewal: %w", err)
		}
		s.recv = append(s.recv, cmd)
	}
	return s.waitStreaming(ctx, n)
}

// waitStreaming waits until the primary lists n streaming senders (after
// a restart pg_receivewal reconnects by itself within seconds).
func (s *server) waitStreaming(ctx context.Context, n int) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		var got int
		if err := s.admin.QueryRow(ctx, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'").Scan(&got); err != nil {
			return fmt.Errorf("reading pg_stat_replication: %w", err)
		}
		if got == n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d standbys streaming after a minute", got, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (s *server) stopReceivers(n int) {
	for len(s.recv) > n {
		cmd := s.recv[len(s.recv)-1]
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		s.recv = s.recv[:len(s.recv)-1]
	}
}

// exec runs statements as the superuser.
func (s *server) exec(ctx context.Context, format string, args ...any) error {
	q := fmt.Sprintf(format, args...)
	if _, err := s.admin.Exec(ctx, q); err != nil {
		return fmt.Errorf("%s: %w", q, err)
	}
	return nil
}
