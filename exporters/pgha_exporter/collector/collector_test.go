package collector

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hotel-ops/hotel-ops/internal/testenv"
)

const scrapeTimeout = 2 * time.Second

// TestOnRealPrimaryAndStandby drives a real primary and streaming standby
// through the situations the exporter must tell apart. The steps share the
// clusters (starting them takes seconds) and run in order: the last ones
// stop servers.
func TestOnRealPrimaryAndStandby(t *testing.T) {
	primary := testenv.StartPrimary(t, "primary", testenv.PrimaryOptions{})
	standby := testenv.StartStandby(t, primary, "standby1")
	// A short receiver timeout so a silent upstream is noticed within the test.
	standby.Exec("ALTER SYSTEM SET wal_receiver_timeout = '4s'")
	standby.Exec("SELECT pg_reload_conf()")
	primary.Exec("CREATE TABLE t (id int PRIMARY KEY, v int)")
	primary.Exec("INSERT INTO t VALUES (1, 0), (2, 0)")

	// The exporter's role has nothing but pg_monitor, as exporters/pgha_exporter/README.md sets it up.
	primary.Exec("CREATE ROLE pgha_monitor LOGIN")
	primary.Exec("GRANT pg_monitor TO pgha_monitor")
	primary.Exec("CREATE TABLE pgha_heartbeat (id int PRIMARY KEY, ts timestamptz NOT NULL)")
	primary.Exec("GRANT SELECT, INSERT, UPDATE ON pgha_heartbeat TO pgha_monitor")

	p := newTarget(t, primary.DSNAs("pgha_monitor", "postgres"), Options{Timeout: scrapeTimeout, HeartbeatTable: "pgha_heartbeat"})
	s := newTarget(t, standby.DSNAs("pgha_monitor", "postgres"), Options{Timeout: scrapeTimeout, HeartbeatTable: "pgha_heartbeat"})
	hbCtx, stopHB := context.WithCancel(context.Background())
	defer stopHB()
	go (&HeartbeatWriter{Pool: p.pool, Table: "pgha_heartbeat", Interval: 200 * time.Millisecond, Logger: p.c.logger}).Run(hbCtx)

	t.Run("primary sees the streaming standby", func(t *testing.T) {
		m := p.eventually(t, 15*time.Second, "standby1 streaming", func(m sample) bool {
			return m["pgha_replication_connected_standbys"] == 1 && m[`pgha_scrape_collector_success{collector="heartbeat"}`] == 1
		})
		if m.Get(t, "pgha_up") != 1 || m.Get(t, "pgha_in_recovery") != 0 {
			t.Fatalf("primary: up=%v in_recovery=%v", m["pgha_up"], m["pgha_in_recovery"])
		}
		m.Get(t, `pgha_replication_standby_info{application_name="standby1",client_addr="127.0.0.1",state="streaming",sync_state="async"}`)
		m.Get(t, `pgha_replication_lag_bytes{application_name="standby1",client_addr="127.0.0.1"}`)
		m.Get(t, `pgha_replication_last_reply_timestamp_seconds{application_name="standby1",client_addr="127.0.0.1"}`)
		for _, c := range []string{"standby", "archiver", "activity", "replication", "slots", "database", "heartbeat"} {
			if v := m.Get(t, fmt.Sprintf(`pgha_scrape_collector_success{collector="%s"}`, c)); v != 1 {
				t.Errorf("collector %s failed on the primary", c)
			}
		}
		if v := m.Get(t, "pgha_archiver_timeout_seconds"); v != 60 {
			t.Errorf("testenv's default archive_timeout: %v s, want 60", v)
		}
		if _, ok := m["pgha_standby_lag_seconds"]; ok {
			t.Errorf("a primary must not export pgha_standby_lag_seconds")
		}
		// The heartbeat written on the primary arrives on the standby.
		sm := s.eventually(t, 10*time.Second, "heartbeat replicated", func(m sample) bool {
			return m[`pgha_scrape_collector_success{collector="heartbeat"}`] == 1
		})
		if lag := sm.Get(t, "pgha_heartbeat_lag_seconds"); lag > 2 {
			t.Errorf("standby heartbeat lag %vs with a 200ms heartbeat", lag)
		}
	})

	t.Run("a missing heartbeat table fails only the heartbeat", func(t *testing.T) {
		m := newTarget(t, primary.DSNAs("pgha_monitor", "postgres"), Options{Timeout: scrapeTimeout, HeartbeatTable: "no_such_table"}).scrape(t)
		if m.Get(t, "pgha_up") != 1 || m.Get(t, `pgha_scrape_collector_success{collector="heartbeat"}`) != 0 {
			t.Fatalf("up=%v heartbeat success=%v", m["pgha_up"], m[`pgha_scrape_collector_success{collector="heartbeat"}`])
		}
		for _, c := range []string{"standby", "archiver", "activity", "replication", "slots", "database"} {
			if m.Get(t, fmt.Sprintf(`pgha_scrape_collector_success{collector="%s"}`, c)) != 1 {
				t.Errorf("collector %s failed along with the heartbeat", c)
			}
		}
		if m.Get(t, `pgha_scrape_errors_total{collector="heartbeat"}`) != 1 {
			t.Errorf("heartbeat error not counted")
		}
	})

	t.Run("standby lag stays near zero on an idle primary", func(t *testing.T) {
		stopHB() // the heartbeat writes WAL: make the primary truly idle
		primary.Exec("UPDATE t SET v = v + 1 WHERE id = 1")
		s.eventually(t, 10*time.Second, "standby caught up", func(m sample) bool {
			return m["pgha_standby_lag_seconds"] == 0 && m["pgha_standby_wal_receiver_up"] == 1
		})
		time.Sleep(4 * time.Second) // idle: no commit to replay
		m := s.scrape(t)
		if got := m.Get(t, "pgha_standby_lag_seconds"); got != 0 {
			t.Errorf("idle primary: lag = %v s, want 0", got)
		}
		// The naive measure would already report the idle time as lag.
		naive := float64(time.Now().Unix()) - m.Get(t, "pgha_standby_last_replay_timestamp_seconds")
		if naive < 3 {
			t.Errorf("test precondition: now - last replay = %.1fs, want >= 3s", naive)
		}
		if m.Get(t, "pgha_in_recovery") != 1 {
			t.Errorf("standby: in_recovery = 0")
		}
	})

	t.Run("paused replay makes the lag grow", func(t *testing.T) {
		standby.Exec("SELECT pg_wal_replay_pause()")
		primary.Exec("UPDATE t SET v = v + 1 WHERE id = 2")
		first := s.eventually(t, 10*time.Second, "WAL pending on the paused standby", func(m sample) bool {
			return m["pgha_standby_replay_paused"] == 1 && m["pgha_standby_replay_pending_bytes"] > 0
		})
		time.Sleep(1500 * time.Millisecond)
		second := s.scrape(t)
		l1, l2 := first.Get(t, "pgha_standby_lag_seconds"), second.Get(t, "pgha_standby_lag_seconds")
		if !(l2 > l1 && l2 >= 1) {
			t.Errorf("paused replay: lag went %v -> %v, want it to grow past 1s", l1, l2)
		}
		pm := p.scrape(t)
		if pm.Get(t, `pgha_replication_lag_bytes{application_name="standby1",client_addr="127.0.0.1"}`) <= 0 {
			t.Errorf("primary reports no byte lag for the paused standby")
		}
		standby.ResumeReplay()
		s.eventually(t, 10*time.Second, "lag back to 0 after resume", func(m sample) bool {
			return m["pgha_standby_lag_seconds"] == 0 && m["pgha_standby_replay_paused"] == 0
		})
	})

	t.Run("inactive slot retains growing WAL", func(t *testing.T) {
		primary.Exec("SELECT pg_create_physical_replication_slot('forgotten', true)")
		series := `pgha_replication_slot_retained_bytes{slot_name="forgotten",slot_type="physical"}`
		before := p.scrape(t).Get(t, series)
		primary.Exec("INSERT INTO t SELECT g, g FROM generate_series(10, 20000) g")
		primary.Exec("SELECT pg_switch_wal()")
		m := p.scrape(t)
		if after := m.Get(t, series); after <= before {
			t.Errorf("retained bytes %v -> %v, want growth", before, after)
		}
		if m.Get(t, `pgha_replication_slot_active{slot_name="forgotten",slot_type="physical"}`) != 0 {
			t.Errorf("slot reported active")
		}
		primary.Exec("SELECT pg_drop_replication_slot('forgotten')")
	})

	t.Run("failing archive_command is counted and segments pile up", func(t *testing.T) {
		p.eventually(t, 20*time.Second, "archiver idle", func(m sample) bool { return m["pgha_archiver_pending_segments"] == 0 })
		before := p.scrape(t)
		if before.Get(t, "pgha_archiver_archived_total") < 1 || before.Get(t, "pgha_archiver_enabled") != 1 {
			t.Fatalf("archiver: archived=%v enabled=%v", before["pgha_archiver_archived_total"], before["pgha_archiver_enabled"])
		}
		primary.SetArchiveCommand("false")
		primary.Exec("INSERT INTO t SELECT g, g FROM generate_series(30000, 31000) g")
		primary.Exec("SELECT pg_switch_wal()")
		m := p.eventually(t, 20*time.Second, "archive failures counted", func(m sample) bool {
			return m["pgha_archiver_failed_total"] > before["pgha_archiver_failed_total"] && m["pgha_archiver_pending_segments"] >= 1
		})
		if m.Get(t, "pgha_archiver_last_failed_timestamp_seconds") < float64(time.Now().Add(-time.Minute).Unix()) {
			t.Errorf("last failed time not recent")
		}
		primary.SetArchiveCommand(fmt.Sprintf("test ! -f %s/%%f && cp %%p %s/%%f", primary.ArchiveDir, primary.ArchiveDir))
		p.eventually(t, 30*time.Second, "archiving recovered", func(m sample) bool { return m["pgha_archiver_pending_segments"] == 0 })
	})

	t.Run("a 2s query counts over 1s, not over 5s", func(t *testing.T) {
		conn := primary.Connect("postgres")
		done := make(chan error, 1)
		go func() { _, err := conn.Exec(context.Background(), "SELECT pg_sleep(2.5)"); done <- err }()
		m := p.eventually(t, 5*time.Second, "slow query seen", func(m sample) bool {
			return m[`pgha_queries_running_longer_than{threshold_seconds="1"}`] >= 1
		})
		if v := m.Get(t, `pgha_queries_running_longer_than{threshold_seconds="5"}`); v != 0 {
			t.Errorf("over 5s: %v, want 0", v)
		}
		if v := m.Get(t, "pgha_longest_query_seconds"); v < 1 || v > 5 {
			t.Errorf("longest query %vs, want between 1 and 5", v)
		}
		if v := m.Get(t, `pgha_connections{state="active"}`); v < 2 {
			t.Errorf("active connections %v, want the sleeper and the exporter", v)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a deadlock moves the counter", func(t *testing.T) {
		series := `pgha_deadlocks_total{datname="postgres"}`
		before := p.scrape(t).Get(t, series)
		causeDeadlock(t, primary)
		p.eventually(t, 10*time.Second, "deadlock counted", func(m sample) bool { return m[series] > before })
	})

	t.Run("a silent upstream is not hidden", func(t *testing.T) {
		s.eventually(t, 10*time.Second, "standby caught up", func(m sample) bool {
			return m["pgha_standby_lag_seconds"] == 0 && m["pgha_standby_wal_receiver_up"] == 1
		})
		primary.Freeze()
		defer primary.Resume()
		// A hung primary: the scrape must give up at its deadline.
		p.downWithinDeadline(t, "frozen primary")
		// The standby's receiver is still "streaming" until it times out.
		m := s.eventually(t, 15*time.Second, "receiver reported down", func(m sample) bool {
			return m["pgha_standby_wal_receiver_up"] == 0
		})
		time.Sleep(time.Second)
		m2 := s.scrape(t)
		if l1, l2 := m.Get(t, "pgha_standby_lag_seconds"), m2.Get(t, "pgha_standby_lag_seconds"); !(l2 > l1 && l1 > 0) {
			t.Errorf("lag with a silent upstream went %v -> %v, want positive and growing", l1, l2)
		}
		primary.Resume()
		p.eventually(t, 10*time.Second, "primary back", func(m sample) bool { return m["pgha_up"] == 1 })
		if n := p.pool.Stat().TotalConns(); n > 2 {
			t.Errorf("pool holds %d connections after the hang, max 2", n)
		}
	})

	t.Run("a stopped standby leaves the primary's view", func(t *testing.T) {
		standby.Stop()
		m := p.eventually(t, 10*time.Second, "standby gone", func(m sample) bool {
			return m["pgha_replication_connected_standbys"] == 0
		})
		for k := range m {
			if strings.Contains(k, `application_name="standby1"`) {
				t.Errorf("series of the stopped standby remains: %s", k)
			}
		}
		if m := s.scrape(t); m.Get(t, "pgha_up") != 0 {
			t.Errorf("stopped standby: pgha_up = 1")
		}
	})

	t.Run("a stopped primary gives pgha_up 0 within the deadline", func(t *testing.T) {
		primary.Stop()
		m := p.downWithinDeadline(t, "stopped primary")
		if m.Get(t, `pgha_scrape_errors_total{collector="status"}`) < 1 {
			t.Errorf("the failure is not counted")
		}
	})
}

// downWithinDeadline scrapes a target that is down or hung: it must report
// pgha_up 0, and give up at its deadline (with slack for a loaded machine)
// rather than hang.
func (tg *target) downWithinDeadline(t *testing.T, what string) sample {
	t.Helper()
	start := time.Now()
	m := tg.scrape(t)
	if m.Get(t, "pgha_up") != 0 {
		t.Errorf("%s: pgha_up = 1", what)
	}
	if took := time.Since(start); took > scrapeTimeout+2*time.Second {
		t.Errorf("%s: scrape took %s, deadline %s", what, took, scrapeTimeout)
	}
	return m
}

// causeDeadlock makes two transactions wait for each other's row lock.
func causeDeadlock(t *testing.T, pg *testenv.Postgres) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, b := pg.Connect("postgres"), pg.Connect("postgres")
	txA, err := a.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer txA.Rollback(ctx)
	txB, err := b.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer txB.Rollback(ctx)
	mustExec(t, txA, "UPDATE t SET v = v + 1 WHERE id = 1")
	mustExec(t, txB, "UPDATE t SET v = v + 1 WHERE id = 2")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Add(2)
	go func() { defer wg.Done(); _, errs[0] = txA.Exec(ctx, "UPDATE t SET v = v + 1 WHERE id = 2") }()
	go func() { defer wg.Done(); _, errs[1] = txB.Exec(ctx, "UPDATE t SET v = v + 1 WHERE id = 1") }()
	wg.Wait()
	if !strings.Contains(fmt.Sprint(errors.Join(errs...)), "deadlock detected") {
		t.Fatalf("no deadlock: %v", errs)
	}
}

func mustExec(t *testing.T, tx pgx.Tx, sql string) {
	t.Helper()
	if _, err := tx.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// TestArchiveTimeout: pgha_archiver_timeout_seconds is the server's own
// archive_timeout, read on every scrape: 0 when off (a quiet primary then
// archives nothing until a segment fills), the seconds otherwise, on a
// standby too.
func TestArchiveTimeout(t *testing.T) {
	const series = "pgha_archiver_timeout_seconds"
	monitor := func(pg *testenv.Postgres) *target {
		return newTarget(t, pg.DSNAs("pgha_monitor", "postgres"), Options{Timeout: scrapeTimeout})
	}
	withRole := func(pg *testenv.Postgres) {
		pg.Exec("CREATE ROLE pgha_monitor LOGIN")
		pg.Exec("GRANT pg_monitor TO pgha_monitor")
	}

	off := testenv.StartPrimary(t, "timeout-off", testenv.PrimaryOptions{Settings: []string{"archive_timeout = 0"}})
	withRole(off)
	if got := monitor(off).scrape(t).Get(t, series); got != 0 {
		t.Errorf("archive_timeout = 0: %s = %v, want 0", series, got)
	}

	on := testenv.StartPrimary(t, "timeout-60s", testenv.PrimaryOptions{Settings: []string{"archive_timeout = 60s"}})
	withRole(on) // replicated to the standby below
	p := monitor(on)
	if got := p.scrape(t).Get(t, series); got != 60 {
		t.Errorf("archive_timeout = 60s: %s = %v, want 60", series, got)
	}

	// The standby starts with the primary's postgresql.conf, then gets a
	// setting of its own: each server reports its own.
	standby := testenv.StartStandby(t, on, "timeout-standby")
	s := monitor(standby)
	if m := s.scrape(t); m.Get(t, "pgha_in_recovery") != 1 || m.Get(t, series) != 60 {
		t.Errorf("standby: in_recovery %v, %s = %v, want 1 and 60", m["pgha_in_recovery"], series, m[series])
	}
	standby.Exec("ALTER SYSTEM SET archive_timeout = '2min'")
	standby.Exec("SELECT pg_reload_conf()")
	s.eventually(t, 10*time.Second, "standby reports its new archive_timeout", func(m sample) bool { return m[series] == 120 })
	if got := p.scrape(t).Get(t, series); got != 60 {
		t.Errorf("primary after the standby's change: %s = %v, want 60", series, got)
	}
}
