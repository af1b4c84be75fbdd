package action

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/hotel-ops/hotel-ops/internal/testenv"
)

// pgPassword rides in every DSN of these tests (trust authentication
// ignores it): no error may show it, nor the DSN.
const pgPassword = "hunter2-failover"

func dsnOf(p *testenv.Postgres) string { return p.DSN("postgres") + "&password=" + pgPassword }

// unreachableDSN names a port nothing listens on.
func unreachableDSN(t *testing.T) string {
	return fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/postgres?sslmode=disable", pgPassword, testenv.FreePort(t))
}

// failoverConfig is a valid postgres_failover configuration of the
// given DSNs, quick to run: 5s unreachable, 40s timeout.
func failoverConfig(t *testing.T, primary, standby string, others ...string) Config {
	t.Helper()
	c := Config{
		Type: TypePostgresFailover, Category: CategoryMajor, Rollback: "rebuild the old primary as a standby of the new one",
		Labels:         map[string]string{"cluster": "[a-z0-9-]+"},
		PrimaryDSNFile: writeFile(t, "primary", primary+"\n"),
		StandbyDSNFile: writeFile(t, "standby", standby+"\n"),
		UnreachableFor: model.Duration(5 * time.Second),
		Timeout:        model.Duration(40 * time.Second),
	}
	for i, o := range others {
		c.OtherDSNFiles = append(c.OtherDSNFiles, writeFile(t, fmt.Sprintf("other%d", i), o))
	}
	return c
}

// mustRefuse checks that a run failed saying want, without a secret.
func mustRefuse(t *testing.T, detail string, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("run succeeded (%q), want a refusal saying %q", detail, want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("refusal\n got %v\nwant …%s…", err, want)
	}
	noSecret(t, err)
}

func noSecret(t *testing.T, err error) {
	t.Helper()
	for _, s := range []string{pgPassword, "postgres://", "sslmode"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error shows %q: %v", s, err)
		}
	}
}

func standbyInRecovery(t *testing.T, p *testenv.Postgres) bool {
	t.Helper()
	return queryPG[bool](t, p, "SELECT pg_is_in_recovery()")
}

func queryPG[T any](t *testing.T, p *testenv.Postgres, sql string, args ...any) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := p.Connect("postgres")
	defer c.Close(ctx)
	var v T
	if err := c.QueryRow(ctx, sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %s: %v", p.Name, sql, err)
	}
	return v
}

// waitFor polls sql on p until it returns true.
func waitFor(t *testing.T, p *testenv.Postgres, what, sql string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !queryPG[bool](t, p, sql, args...) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s: still not after 20s", p.Name, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// caughtUp commits a transaction on primary and waits until standby has
// replayed it, and so all before it. (Comparing LSNs would not do: on an
// idle primary the insert position can stay ahead of anything sent.)
func caughtUp(t *testing.T, primary, standby *testenv.Postgres) {
	t.Helper()
	began := queryPG[time.Time](t, primary, "SELECT now()")
	primary.Exec("CREATE TABLE IF NOT EXISTS caught_up (at timestamptz)")
	primary.Exec("INSERT INTO caught_up VALUES (now())")
	waitFor(t, standby, "a commit replayed", "SELECT coalesce(pg_last_xact_replay_timestamp() >= $1, false)", began)
}

func runFailover(t *testing.T, a Action) (detail string, took time.Duration, err error) {
	t.Helper()
	start := time.Now()
	detail, err = a.Run(context.Background(), map[string]string{"cluster": "main"})
	return detail, time.Since(start), err
}

// (a) A primary that answers is never failed over, nor one that answers
// with an error: it is up.
func TestFailoverPrimaryAnswers(t *testing.T) {
	t.Parallel()
	p := testenv.StartPrimary(t, "fo-answers", testenv.PrimaryOptions{})
	s := testenv.StartStandby(t, p, "fo_answers_standby")

	a := newAction(t, failoverConfig(t, dsnOf(p), dsnOf(s)))
	detail, took, err := runFailover(t, a)
	mustRefuse(t, detail, err, "primary answered at ")
	mustRefuse(t, detail, err, ": not failing over")
	if took > 3*time.Second {
		t.Errorf("refusing took %s: the first check should have done", took)
	}

	// A login the primary refuses is an answer all the same.
	a = newAction(t, failoverConfig(t, p.DSNAs("nobody", "postgres"), dsnOf(s)))
	detail, took, err = runFailover(t, a)
	mustRefuse(t, detail, err, `primary answered at `)
	mustRefuse(t, detail, err, `role "nobody" does not exist (SQLSTATE 28000)`)
	if took > 3*time.Second {
		t.Errorf("refusing took %s: the first check should have done", took)
	}

	if !standbyInRecovery(t, s) {
		t.Error("the standby was promoted")
	}
}

// (b) The primary stopped: after unreachable_for the standby is promoted.
// Another standby (in recovery) and a node that does not answer do not
// stand in the way.
func TestFailoverPromotes(t *testing.T) {
	t.Parallel()
	p := testenv.StartPrimary(t, "fo-promotes", testenv.PrimaryOptions{})
	s := testenv.StartStandby(t, p, "fo_promotes_standby")
	s2 := testenv.StartStandby(t, p, "fo_promotes_other")
	p.Exec("CREATE TABLE t AS SELECT generate_series(1, 1000) AS i")
	caughtUp(t, p, s)

	a := newAction(t, failoverConfig(t, dsnOf(p), dsnOf(s), dsnOf(s2), unreachableDSN(t)))
	desc, _ := a.Describe(nil)
	wantDesc := fmt.Sprintf("promote standby 127.0.0.1:%d if primary 127.0.0.1:%d stays unreachable for 5s and lag ≤ 10s / 16 MiB and none of 127.0.0.1:%d, 127.0.0.1:",
		s.Port, p.Port, s2.Port)
	if !strings.HasPrefix(desc, wantDesc) || strings.Contains(desc, pgPassword) {
		t.Errorf("Describe:\n got %s\nwant %s…", desc, wantDesc)
	}

	p.Stop()
	detail, took, err := runFailover(t, a)
	if err != nil {
		t.Fatal(err)
	}
	if re := regexp.MustCompile(fmt.Sprintf(`^promoted 127\.0\.0\.1:%d after the primary was unreachable for [5-9]s; replay lag 0 B / 0s$`, s.Port)); !re.MatchString(detail) {
		t.Errorf("detail %q does not match %s", detail, re)
	}
	if took < 5*time.Second {
		t.Errorf("promoted after %s, before the primary was unreachable for 5s", took)
	}
	if standbyInRecovery(t, s) {
		t.Error("the standby is still in recovery")
	}
	if queryPG[int](t, s, "SELECT count(*) FROM t") != 1000 {
		t.Error("the promoted standby lacks the primary's rows")
	}
	if !standbyInRecovery(t, s2) {
		t.Error("the other standby left recovery")
	}

	// Run again: the standby is a primary now.
	detail, _, err = runFailover(t, a)
	mustRefuse(t, detail, err, fmt.Sprintf("standby 127.0.0.1:%d is not in recovery: already promoted?", s.Port))
}

// A hung primary (TCP accepted, nothing answers) is unreachable too:
// each check gives up after 2s; the standby's WAL receiver gives up
// after its wal_receiver_timeout (here 2s), and then it is promoted.
func TestFailoverFrozenPrimary(t *testing.T) {
	t.Parallel()
	p := testenv.StartPrimary(t, "fo-frozen", testenv.PrimaryOptions{})
	s := testenv.StartStandby(t, p, "fo_frozen_standby")
	s.Exec("ALTER SYSTEM SET wal_receiver_timeout = '2s'")
	s.Exec("SELECT pg_reload_conf()")
	caughtUp(t, p, s)
	p.Freeze()
	defer p.Resume()
	a := newAction(t, failoverConfig(t, dsnOf(p), dsnOf(s)))
	detail, took, err := runFailover(t, a)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(detail, fmt.Sprintf("promoted 127.0.0.1:%d after the primary was unreachable for ", s.Port)) {
		t.Errorf("detail %q", detail)
	}
	if took < 5*time.Second || took > 20*time.Second {
		t.Errorf("took %s", took)
	}
	if standbyInRecovery(t, s) {
		t.Error("the standby is still in recovery")
	}
}

// Only escalator lost the primary (a partition: here its checks go to a
// port nothing listens on) while the standby still streams from it: no
// promotion, which would make two primaries.
func TestFailoverPartitionRefused(t *testing.T) {
	t.Parallel()
	p := testenv.StartPrimary(t, "fo-partition", testenv.PrimaryOptions{})
	s := testenv.StartStandby(t, p, "fo_partition_standby")
	caughtUp(t, p, s)
	gone := fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=postgres", testenv.FreePort(t))
	a := newAction(t, failoverConfig(t, gone, dsnOf(s)))
	detail, _, err := runFailover(t, a)
	mustRefuse(t, detail, err, "still streams WAL from the primary")
	if !standbyInRecovery(t, s) {
		t.Error("the standby was promoted while it still streamed from a live primary")
	}
}

// One check that succeeds within unreachable_for is enough to refuse:
// the primary was down for a moment, not gone.
func TestFailoverPrimaryReturns(t *testing.T) {
	t.Parallel()
	p := testenv.StartPrimary(t, "fo-returns", testenv.PrimaryOptions{})
	s := testenv.StartStandby(t, p, "fo_returns_standby")
	c := failoverConfig(t, dsnOf(p), dsnOf(s))
	c.UnreachableFor = model.Duration(15 * time.Second)
	c.Timeout = model.Duration(50 * time.Second)
	a := newAction(t, c)
	p.Stop()
	type result struct {
		detail string
		err    error
		took   time.Duration
	}
	done := make(chan result, 1)
	go func() {
		start := time.Now()
		d, err := a.Run(context.Background(), nil)
		done <- result{d, err, time.Since(start)}
	}()
	time.Sleep(1500 * time.Millisecond)
	p.Start()
	r := <-done
	mustRefuse(t, r.detail, r.err, "primary answered at ")
	if r.took >= 15*time.Second {
		t.Errorf("refused after %s: the checks stopped before the primary came back", r.took)
	}
	if !standbyInRecovery(t, s) {
		t.Error("the standby was promoted")
	}
}

// (c) A standby behind, in bytes or in time, is not promoted. Replay is
// paused, WAL written and received, then the primary stopped: the
// standby holds WAL it has not replayed, and its last replayed
// transaction ages while the primary is watched.
func TestFailoverLag(t *testing.T) {
	t.Parallel()
	p := testenv.StartPrimary(t, "fo-lag", testenv.PrimaryOptions{})
	s := testenv.StartStandby(t, p, "fo_lag_standby")
	p.Exec("CREATE TABLE t (i int)")
	p.Exec("INSERT INTO t VALUES (1)")
	caughtUp(t, p, s) // a transaction replayed: its timestamp is the lag's
	s.Exec("SELECT pg_wal_replay_pause()")
	waitFor(t, s, "replay paused", "SELECT pg_get_wal_replay_pause_state() = 'paused'")
	p.Exec("INSERT INTO t SELECT generate_series(1, 100000)") // some MB of WAL
	waitFor(t, s, "1 MiB of WAL received and not replayed",
		"SELECT pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) > 1048576")
	p.Stop()

	c := failoverConfig(t, dsnOf(p), dsnOf(s))
	c.MaxLagBytes = 64 << 10
	c.MaxLag = model.Duration(time.Hour)
	detail, _, err := runFailover(t, newAction(t, c))
	mustRefuse(t, detail, err, "of WAL received and not replayed, over max_lag_bytes 64 KiB: not failing over")

	c.MaxLagBytes = 1 << 30
	c.MaxLag = model.Duration(time.Second)
	detail, _, err = runFailover(t, newAction(t, c))
	mustRefuse(t, detail, err, "behind, over max_lag 1s: not failing over")

	if !standbyInRecovery(t, s) {
		t.Error("the standby was promoted")
	}
}

// (d) Another node already a primary: refused before the primary is even
// watched. A node that answers but cannot say is refused too.
func TestFailoverOtherPrimary(t *testing.T) {
	t.Parallel()
	p := testenv.StartPrimary(t, "fo-other", testenv.PrimaryOptions{})
	s := testenv.StartStandby(t, p, "fo_other_standby")
	other := testenv.StartPrimary(t, "fo-other-primary", testenv.PrimaryOptions{})
	p.Stop()

	a := newAction(t, failoverConfig(t, dsnOf(p), dsnOf(s), unreachableDSN(t), dsnOf(other)))
	detail, took, err := runFailover(t, a)
	mustRefuse(t, detail, err, fmt.Sprintf("other node 127.0.0.1:%d is not in recovery: another primary exists: not failing over", other.Port))
	if took > 4*time.Second {
		t.Errorf("refused after %s: the other nodes are checked before the primary is watched", took)
	}

	a = newAction(t, failoverConfig(t, dsnOf(p), dsnOf(s), other.DSNAs("nobody", "postgres")))
	detail, _, err = runFailover(t, a)
	mustRefuse(t, detail, err, fmt.Sprintf("other node 127.0.0.1:%d answered but could not say whether it is a primary", other.Port))

	if !standbyInRecovery(t, s) {
		t.Error("the standby was promoted")
	}
}

// (e) A "standby" that is a primary already, or does not answer.
func TestFailoverStandbyNotInRecovery(t *testing.T) {
	t.Parallel()
	notStandby := testenv.StartPrimary(t, "fo-not-standby", testenv.PrimaryOptions{})
	a := newAction(t, failoverConfig(t, unreachableDSN(t), dsnOf(notStandby)))
	detail, _, err := runFailover(t, a)
	mustRefuse(t, detail, err, fmt.Sprintf("standby 127.0.0.1:%d is not in recovery: already promoted? not failing over", notStandby.Port))

	a = newAction(t, failoverConfig(t, unreachableDSN(t), unreachableDSN(t)))
	detail, _, err = runFailover(t, a)
	mustRefuse(t, detail, err, "is unreachable (")
}

// A run whose deadline cannot hold the watch refuses at once rather
// than wait and be cut off.
func TestFailoverShortDeadline(t *testing.T) {
	t.Parallel()
	p := testenv.StartPrimary(t, "fo-deadline", testenv.PrimaryOptions{})
	s := testenv.StartStandby(t, p, "fo_deadline_standby")
	p.Stop()
	a := newAction(t, failoverConfig(t, dsnOf(p), dsnOf(s)))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	start := time.Now()
	detail, err := a.Run(ctx, nil)
	mustRefuse(t, detail, err, "of the run's time left, and watching the primary takes 5s")
	if time.Since(start) > 3*time.Second {
		t.Errorf("refused after %s", time.Since(start))
	}
}

func TestFailoverDescribeDefaults(t *testing.T) {
	c := failoverConfig(t, "postgres://u:"+pgPassword+"@10.0.0.1:5432/postgres", "host=10.0.0.2 port=5433 user=u password="+pgPassword)
	c.UnreachableFor, c.Timeout = 0, model.Duration(2*time.Minute)
	desc, err := newAction(t, c).Describe(nil)
	if want := "promote standby 10.0.0.2:5433 if primary 10.0.0.1:5432 stays unreachable for 30s and lag ≤ 10s / 16 MiB"; err != nil || desc != want {
		t.Errorf("Describe: %q, %v\nwant %q", desc, err, want)
	}
}

// (f) Validation, and the checks New makes of the DSNs.
func TestFailoverValidate(t *testing.T) {
	const p = "actions.a"
	valid := func() Config {
		return Config{Type: TypePostgresFailover, Category: CategoryMajor, Rollback: "r",
			PrimaryDSNFile: "/run/secrets/primary", StandbyDSNEnv: "STANDBY_DSN", Timeout: model.Duration(61 * time.Second)}
	}
	tests := []struct {
		name string
		edit func(*Config)
		want []string
	}{
		{name: "ok", edit: func(*Config) {}},
		{name: "ok with all", edit: func(c *Config) {
			c.OtherDSNFiles = []string{"/o1", "/o2"}
			c.UnreachableFor = model.Duration(5 * time.Second)
			c.Timeout = model.Duration(36 * time.Second)
			c.MaxLag = model.Duration(time.Second)
			c.MaxLagBytes = 1
			c.Labels = map[string]string{"cluster": "main"}
			c.DryRun = ptr(false)
			c.ApprovalTimeout = model.Duration(time.Hour)
		}},
		{name: "emergency", edit: func(c *Config) { c.Category = CategoryEmergency },
			want: []string{p + `.category: type postgres_failover is a major change (it needs an approval): set category: major, got "emergency"`}},
		{name: "standard", edit: func(c *Config) { c.Category = CategoryStandard }, want: []string{p + ".category: type postgres_failover is a major change"}},
		{name: "no category", edit: func(c *Config) { c.Category = "" }, want: []string{p + ".category: required"}},
		{name: "default timeout", edit: func(c *Config) { c.Timeout = 0 },
			want: []string{p + ".timeout: must be more than unreachable_for + 30s (1m) for type postgres_failover: the primary is watched for unreachable_for, then checked again and the standby promoted; got 30s (the default)"}},
		{name: "timeout equal", edit: func(c *Config) { c.Timeout = model.Duration(time.Minute) }, want: []string{p + ".timeout: must be more than unreachable_for + 30s (1m)"}},
		{name: "timeout for unreachable_for", edit: func(c *Config) {
			c.UnreachableFor = model.Duration(2 * time.Minute)
			c.Timeout = model.Duration(2 * time.Minute)
		},
			want: []string{p + ".timeout: must be more than unreachable_for + 30s (2m30s)"}},
		{name: "timeout too long", edit: func(c *Config) { c.Timeout = model.Duration(10 * time.Minute) }, want: []string{p + ".timeout: at most 5m"}},
		{name: "no primary", edit: func(c *Config) { c.PrimaryDSNFile = "" },
			want: []string{p + ".primary_dsn_file: required for type postgres_failover (or primary_dsn_env)"}},
		{name: "no standby", edit: func(c *Config) { c.StandbyDSNEnv = "" },
			want: []string{p + ".standby_dsn_file: required for type postgres_failover (or standby_dsn_env)"}},
		{name: "no DSN at all", edit: func(c *Config) { c.PrimaryDSNFile, c.StandbyDSNEnv = "", "" },
			want: []string{p + ".primary_dsn_file: required", p + ".standby_dsn_file: required"}},
		{name: "both primary", edit: func(c *Config) { c.PrimaryDSNEnv = "P" },
			want: []string{p + ".primary_dsn_file: set only one of primary_dsn_file and primary_dsn_env"}},
		{name: "standby is primary", edit: func(c *Config) { c.StandbyDSNEnv, c.StandbyDSNFile = "", c.PrimaryDSNFile },
			want: []string{p + ".standby_dsn_file: is primary_dsn_file"}},
		{name: "others", edit: func(c *Config) { c.OtherDSNFiles = []string{"/o", "", "/o", "/run/secrets/primary"} }, want: []string{
			p + `.other_dsn_files: "/o" listed twice`,
			p + `.other_dsn_files: "/run/secrets/primary" is the primary's or the standby's DSN`,
			p + ".other_dsn_files: element 1: needs the file",
		}},
		{name: "unreachable_for short", edit: func(c *Config) { c.UnreachableFor = model.Duration(4 * time.Second) },
			want: []string{p + ".unreachable_for: at least 5s, got 4s"}},
		{name: "negatives", edit: func(c *Config) { c.UnreachableFor, c.MaxLag, c.MaxLagBytes = -1, -1, -1 }, want: []string{
			p + ".unreachable_for: must not be negative", p + ".max_lag: must not be negative", p + ".max_lag_bytes: must not be negative",
		}},
		{name: "key of another type", edit: func(c *Config) { c.DSNFile = "/d"; c.Database = "{{.db}}" },
			want: []string{p + ".dsn_file: not used by type postgres_failover", p + ".database: not used by type postgres_failover"}},
		{name: "failover key elsewhere", edit: func(c *Config) {
			*c = base(TypePostgresPoolReset)
			c.StandbyDSNFile = "/s"
		}, want: []string{p + ".standby_dsn_file: not used by type postgres_pool_reset"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.edit(&c)
			wantFieldErrors(t, c.Validate(p), tt.want)
		})
	}
}

func TestFailoverNew(t *testing.T) {
	const primary = "postgres://u:" + pgPassword + "@10.0.0.1:5432/postgres"
	for _, tt := range []struct {
		name  string
		edit  func(t *testing.T, c *Config)
		want  string
		valid bool
	}{
		{name: "same server", want: "the standby and the primary are the same server, 10.0.0.1:5432",
			edit: func(t *testing.T, c *Config) {
				c.StandbyDSNFile = writeFile(t, "s", "host=10.0.0.1 port=5432 password="+pgPassword)
			}},
		{name: "other is the standby", want: "names 10.0.0.2:5432, which is listed already",
			edit: func(t *testing.T, c *Config) {
				c.OtherDSNFiles = []string{writeFile(t, "o", "postgres://x:"+pgPassword+"@10.0.0.2/db")}
			}},
		{name: "several hosts", want: "the DSN in standby_dsn_file ",
			edit: func(t *testing.T, c *Config) {
				c.StandbyDSNFile = writeFile(t, "s", "postgres://u:"+pgPassword+"@10.0.0.2:5432,10.0.0.3:5432/db")
			}},
		{name: "invalid DSN", want: "is not a valid PostgreSQL connection string",
			edit: func(t *testing.T, c *Config) {
				c.StandbyDSNFile = writeFile(t, "s", "postgres://u:"+pgPassword+"@10.0.0.2:notaport/db")
			}},
		{name: "missing env", want: "standby_dsn: environment variable ESCALATOR_TEST_NO_SUCH_DSN is unset or empty",
			edit: func(t *testing.T, c *Config) { c.StandbyDSNFile, c.StandbyDSNEnv = "", "ESCALATOR_TEST_NO_SUCH_DSN" }},
		{name: "sslmode prefer is one server", valid: true,
			edit: func(t *testing.T, c *Config) {
				c.StandbyDSNFile = writeFile(t, "s", "postgres://u:"+pgPassword+"@10.0.0.2:5432/db?sslmode=prefer")
			}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := failoverConfig(t, primary, "postgres://u:"+pgPassword+"@10.0.0.2:5432/db")
			tt.edit(t, &c)
			a, err := New("fo", c)
			if tt.valid {
				if err != nil {
					t.Fatal(err)
				}
				_ = a.Close()
				return
			}
			if err == nil {
				_ = a.Close()
				t.Fatalf("New accepted it, want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want …%s…", err, tt.want)
			}
			if tt.name == "several hosts" && !strings.Contains(err.Error(), "names more than one server") {
				t.Errorf("got %v", err)
			}
			noSecret(t, err)
		})
	}
}
