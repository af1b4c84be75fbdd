package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hotel-ops/hotel-ops/internal/suite"
)

// Time from a fault to its page is bounded by the spec's detection time
// (for, which includes the rule's rate window), one scrape, one rule
// evaluation, Alertmanager's group_wait on escalator's route (10s) and a
// margin for the machine.
const (
	groupWait = 10 * time.Second
	margin    = 45 * time.Second
)

func bound(detection time.Duration) time.Duration {
	return detection + suite.ScrapeInterval + suite.EvalInterval + groupWait + margin
}

// latency is one measured fault → page time, for the report.
type latency struct {
	alert, channel string
	took, limit    time.Duration
}

type report struct {
	mu   sync.Mutex
	rows []latency
}

func (r *report) add(l latency) { r.mu.Lock(); r.rows = append(r.rows, l); r.mu.Unlock() }

// TestPaging injects the faults of アラート設定 and 監視項目・閾値 that can
// be made here into a running stack and checks each page: which
// channels, by when, its escalation, its recovery, and, across the whole
// run, that nobody is paged about anything the test did not cause.
func TestPaging(t *testing.T) {
	if testing.Short() {
		t.Skip("the end-to-end suite takes minutes; run without -short")
	}
	start := time.Now()
	s := startStack(t)
	t.Logf("stack up in %v", time.Since(start).Round(time.Second))
	rep := &report{}
	defer func() {
		sort.Slice(rep.rows, func(i, j int) bool {
			return rep.rows[i].alert+rep.rows[i].channel < rep.rows[j].alert+rep.rows[j].channel
		})
		var b strings.Builder
		fmt.Fprintf(&b, "fault → page (limit: detection + scrape %v + evaluation %v + group_wait %v + margin %v):\n", suite.ScrapeInterval, suite.EvalInterval, groupWait, margin)
		for _, r := range rep.rows {
			fmt.Fprintf(&b, "  %-34s %-14s %7.1fs  (limit %v)\n", r.alert, r.channel, r.took.Seconds(), r.limit)
		}
		t.Log(b.String())
		t.Logf("whole run %v", time.Since(start).Round(time.Second))
	}()

	// At rest, nothing pages; meanwhile sla_exporter's figures arrive.
	rested := time.Now()
	slaDone := make(chan struct{})
	go func() {
		defer close(slaDone)
		t.Run("sla_business", func(t *testing.T) { s.slaBusiness(t) })
	}()
	restoreDone := make(chan struct{})
	go func() {
		defer close(restoreDone)
		t.Run("restore_test", func(t *testing.T) { s.restoreBackup(t) })
	}()
	time.Sleep(30 * time.Second)
	<-slaDone
	<-restoreDone
	t.Logf("at rest for %v", time.Since(rested).Round(time.Second))
	if p := s.Pages(); len(p) > 0 {
		t.Fatalf("a healthy stack paged: %v", p)
	}

	// Phase 1: three independent faults at once; the month's SLA arrives
	// meanwhile.
	var wg sync.WaitGroup
	run := func(name string, f func(t *testing.T)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.Run(name, f)
		}()
	}
	slowQuery := s.startSlowQuery(t)
	run("system_down", func(t *testing.T) { s.systemDown(t, rep) })
	run("database_down", func(t *testing.T) { s.databaseDown(t, rep) })
	run("slow_query", func(t *testing.T) { s.slowQueryPages(t, rep, slowQuery) })
	run("sla_availability", func(t *testing.T) { s.slaAvailability(t) })
	wg.Wait()
	if t.Failed() {
		return
	}

	// Phase 2: escalator killed while a critical fires, and the
	// application dies: Alertmanager pages directly.
	t.Run("escalator_down", func(t *testing.T) { s.escalatorDown(t, rep, slowQuery) })
	slowQuery.cancel()
	if t.Failed() {
		return
	}

	// Phase 3: escalator is back; more faults at once (the application's
	// slow and failing requests together: one fault switch).
	run("high_response_time+high_error_rate", func(t *testing.T) { s.slowAndFailing(t, rep) })
	run("replication_lag", func(t *testing.T) { s.replicationLag(t, rep) })
	run("db_connections", func(t *testing.T) { s.connections(t, rep) })
	run("wal_archiving", func(t *testing.T) { s.archivingFails(t, rep) })
	wg.Wait()

	// Phase 4, alone: added latency and a full connection pool would slow
	// the attacker's own logins.
	t.Run("security_breach", func(t *testing.T) { s.bruteForce(t, rep) })

	if strays := s.pages.strays(); len(strays) > 0 {
		var lines []string
		for _, p := range strays {
			lines = append(lines, p.String())
		}
		t.Errorf("pages about alerts the test did not cause:\n%s", strings.Join(lines, "\n"))
	}
}

// expect waits for a trigger page of alert on every channel, at most
// limit after since, and records each latency.
func (s *stack) expect(t *testing.T, rep *report, alert string, channels []string, since time.Time, limit time.Duration) time.Time {
	t.Helper()
	ctx, cancel := context.WithDeadline(context.Background(), since.Add(limit))
	defer cancel()
	var last time.Time
	for _, ch := range channels {
		p, err := s.WaitPage(ctx, ch, alert, since, false)
		if err != nil {
			t.Errorf("%v\nreceived: %v\nPrometheus alerts: %v", err, s.Pages(), s.alerts())
			continue
		}
		rep.add(latency{alert: alert, channel: ch, took: p.At.Sub(since), limit: limit})
		if p.At.After(last) {
			last = p.At
		}
	}
	return last
}

func (s *stack) alerts() string {
	as, err := s.Prometheus.Alerts(context.Background())
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, a := range as {
		out = append(out, fmt.Sprintf("%s{instance=%s}=%s", a.Labels["alertname"], a.Labels["instance"], a.State))
	}
	return strings.Join(out, " ")
}

func (s *stack) faults(t *testing.T, body string) {
	t.Helper()
	if err := s.SetFaults(body); err != nil {
		t.Fatal(err)
	}
}

// systemDown: HTTP 5xx > 50% for 2 minutes → pagerduty, slack, email,
// with the shipped detection time; escalation to the manager (shortened
// to 1m by the override); recovery resolves it.
func (s *stack) systemDown(t *testing.T, rep *report) {
	// A total outage also breaks the error-rate, SLO and login alerts:
	// those pages are caused too.
	// The month's SLA (sla_exporter) has a budget of 4.3 minutes of
	// downtime: this outage may spend it.
	s.pages.allow("HotelAppDown", "HotelAppErrorRateCritical", "HotelAppErrorRateHigh", "SLOAvailabilityBudgetBurn", "LoginFailuresHigh", "SLAMonthlyBudgetSpent")
	t0 := time.Now()
	s.faults(t, `{"error_ratio": 1}`)
	detect := s.Spec.Alerts["HotelAppDown"].For.D()
	paged := s.expect(t, rep, "HotelAppDown", []string{"pagerduty", "slack", "email"}, t0, bound(detect))
	if paged.IsZero() {
		return
	}
	// 15分後にマネージャーに通知 (1m here): the step follows the first page.
	esc := s.Spec.Escalations.Steps["system_down"].After.D()
	s.expect(t, rep, "HotelAppDown", []string{"manager"}, paged, esc+margin)

	tr := time.Now()
	s.faults(t, "")
	s.expectResolved(t, rep, "HotelAppDown", tr, s.Spec.Alerts["HotelAppDown"].For.D())
}

// expectResolved waits for PagerDuty's resolve of alert after the fault
// ended at since: the rule's window to clear, a scrape and an evaluation,
// Alertmanager's group_interval, and the margin.
func (s *stack) expectResolved(t *testing.T, rep *report, alert string, since time.Time, window time.Duration) {
	t.Helper()
	limit := bound(window) + s.Spec.Routing.GroupInterval.D()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	p, err := s.WaitPage(ctx, "pagerduty", alert, since, true)
	if err != nil {
		t.Errorf("recovery: %v", err)
		return
	}
	rep.add(latency{alert: alert + " resolved", channel: "pagerduty", took: p.At.Sub(since), limit: limit})
}

// databaseDown: a standby stops. Database connection failed → pagerduty,
// slack, email and the DBA at once; the primary says a standby stopped
// streaming; the standby's lag alerts do not resolve while it is down.
func (s *stack) databaseDown(t *testing.T, rep *report) {
	s.pages.allow("PostgresDown", "PostgresStandbyDisconnected", "PostgresReplicationLagCritical", "PostgresReplicationLagHigh")
	t0 := time.Now()
	s.Standby.Stop()
	detect := s.Spec.Alerts["PostgresDown"].For.D()
	paged := s.expect(t, rep, "PostgresDown", []string{"pagerduty", "slack", "email", "dba"}, t0, bound(detect))
	s.expect(t, rep, "PostgresStandbyDisconnected", []string{"pagerduty", "dba"}, t0, bound(s.Spec.Alerts["PostgresStandbyDisconnected"].For.D()))
	if paged.IsZero() {
		return
	}
	// The lag alert of the stopped standby keeps firing (inhibited by
	// PostgresDown, so no page), and never resolves while it is down.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := s.Prometheus.WaitForAlert(ctx, "PostgresReplicationLagCritical", "firing"); err != nil {
		t.Errorf("the stopped standby's lag alert does not fire: %v (alerts: %s)", err, s.alerts())
	}
	for _, p := range s.Pages() {
		if p.Resolve && slices.Contains(p.Alerts, "PostgresReplicationLagCritical") {
			t.Errorf("a resolved notice for the lag of a stopped standby: %v", p)
		}
	}
	tr := time.Now()
	s.Standby.Start()
	s.expectResolved(t, rep, "PostgresDown", tr, 0)
}

// slowQuery is a query that runs until cancelled.
type slowQuery struct {
	started time.Time
	cancel  context.CancelFunc
	done    chan struct{}
}

func (s *stack) startSlowQuery(t *testing.T) *slowQuery {
	ctx, cancel := context.WithCancel(context.Background())
	q := &slowQuery{started: time.Now(), cancel: cancel, done: make(chan struct{})}
	conn := s.Primary.Connect("postgres")
	go func() {
		defer close(q.done)
		_, _ = conn.Exec(ctx, "SELECT pg_sleep(900)")
	}()
	t.Cleanup(func() { cancel(); <-q.done; _ = conn.Close(context.Background()) })
	return q
}

// slowQueryPages: a query of more than 5 seconds is critical at once
// (リアルタイム): the page comes within a scrape and an evaluation of the
// query crossing 5 s, not minutes later.
func (s *stack) slowQueryPages(t *testing.T, rep *report, q *slowQuery) {
	s.pages.allow("PostgresSlowQueriesCritical", "PostgresSlowQueries")
	crit := s.Spec.Thresholds["slow_query"].Critical.Duration()
	s.expect(t, rep, "PostgresSlowQueriesCritical", []string{"pagerduty", "slack", "email", "dba"}, q.started, bound(crit+s.Spec.Alerts["PostgresSlowQueriesCritical"].For.D()))
}

// escalatorDown: kill -9 escalator while a critical fires, and kill the
// application: Alertmanager pages EscalatorDown and every firing alert
// directly, to the channels routing names.
func (s *stack) escalatorDown(t *testing.T, rep *report, q *slowQuery) {
	s.pages.allow("EscalatorDown", "EscalatorFallback", "HotelAppUnreachable", "HotelOpsExporterDown", "SLAMonthlyBudgetSpent")
	t0 := time.Now()
	s.Escalator.Kill(syscall.SIGKILL)
	s.App.Kill(syscall.SIGKILL)
	direct := s.Spec.Alerts["EscalatorDown"].For.D()
	s.expect(t, rep, "EscalatorDown", []string{"pagerduty", "slack", "email"}, t0, bound(direct))
	fallback := s.Spec.Alerts["EscalatorFallback"].For.D()
	// The slow query still fires: its fallback copy goes to the DBA too.
	for _, ch := range []string{"pagerduty", "slack", "email", "dba"} {
		s.expectFallback(t, rep, "PostgresSlowQueriesCritical", ch, t0, bound(fallback))
	}
	// The dead application: HotelAppUnreachable, paged directly.
	unreachable := s.Spec.Alerts["HotelAppUnreachable"].For.D()
	s.expectFallback(t, rep, "HotelAppUnreachable", "pagerduty", t0, bound(unreachable+fallback))

	// escalator back: it takes over (Alertmanager sends it the groups again).
	s.Escalator.Restart()
	s.App.Restart()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := s.Prometheus.WaitForTarget(ctx, "escalator", "up"); err != nil {
		t.Errorf("escalator not scraped again: %v", err)
	}
	_ = q
}

// expectFallback waits for a direct page that stands for alert.
func (s *stack) expectFallback(t *testing.T, rep *report, alert, channel string, since time.Time, limit time.Duration) {
	t.Helper()
	deadline := since.Add(limit)
	for time.Now().Before(deadline) {
		for _, p := range s.Pages() {
			if p.Channel == channel && !p.Resolve && !p.At.Before(since) && slices.Contains(p.Alerts, "EscalatorFallback") && slices.Contains(p.Alerts, alert) {
				rep.add(latency{alert: "EscalatorFallback(" + alert + ")", channel: channel, took: p.At.Sub(since), limit: limit})
				return
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Errorf("no direct %s page for %s within %v\nreceived: %v\nPrometheus alerts: %s", channel, alert, limit, s.Pages(), s.alerts())
}

// slowAndFailing: every request 1.5 s slower, and 3% of them answer 500.
// The p95 is above 1 s: critical (and the warning it inhibits), paged at
// once as the 5-minute p95 crosses it. The error ratio is over the 1%
// warning and under the 5% critical: the warning reaches Slack and
// e-mail, never PagerDuty.
func (s *stack) slowAndFailing(t *testing.T, rep *report) {
	// The month's latency SLA (95% of requests within 500 ms, over the
	// few minutes measured) may be spent too.
	s.pages.allow("HotelAppLatencyCritical", "HotelAppLatencyHigh", "SLOLatencyBudgetBurn", "HotelAppErrorRateHigh", "SLOAvailabilityBudgetBurn", "SLAMonthlyBudgetSpent")
	t0 := time.Now()
	s.faults(t, `{"latency": "1500ms", "error_ratio": 0.03}`)
	defer s.faults(t, "")
	s.expect(t, rep, "HotelAppLatencyCritical", []string{"pagerduty", "slack", "email"}, t0, bound(s.Spec.Alerts["HotelAppLatencyCritical"].For.D()))
	s.expect(t, rep, "HotelAppErrorRateHigh", []string{"slack", "email"}, t0, bound(s.Spec.Alerts["HotelAppErrorRateHigh"].For.D()))
	for _, p := range s.Pages() {
		if p.Channel == "pagerduty" && slices.Contains(p.Alerts, "HotelAppErrorRateHigh") {
			t.Errorf("a warning reached PagerDuty: %v", p)
		}
	}
}

// bruteForce: 40 failed logins a second from one client, above the 10 a
// second of BruteForceSuspected: PagerDuty and the security team.
func (s *stack) bruteForce(t *testing.T, rep *report) {
	s.pages.allow("BruteForceSuspected", "LoginFailuresHigh")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	client := &http.Client{Timeout: 10 * time.Second}
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(25 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+s.AppAddr+"/api/login", strings.NewReader(`{"user": "guest01", "password": "not-the-password"}`))
				req.Header.Set("Content-Type", "application/json")
				if resp, err := client.Do(req); err == nil {
					resp.Body.Close()
				}
			}()
		}
	}()
	t0 := time.Now()
	s.expect(t, rep, "BruteForceSuspected", []string{"pagerduty", "security_team"}, t0, bound(s.Spec.Alerts["BruteForceSuspected"].For.D()))
}

// replicationLag: replay paused on the standby while the primary writes
// (bookings, the heartbeat): lag over 30 s is critical, to the DBA too.
func (s *stack) replicationLag(t *testing.T, rep *report) {
	s.pages.allow("PostgresReplicationLagCritical", "PostgresReplicationLagHigh")
	t0 := time.Now()
	s.Standby.Exec("SELECT pg_wal_replay_pause()")
	defer s.Standby.ResumeReplay()
	crit := s.Spec.Thresholds["replication_lag"].Critical.Duration()
	s.expect(t, rep, "PostgresReplicationLagCritical", []string{"pagerduty", "slack", "email", "dba"}, t0, bound(crit+s.Spec.Alerts["PostgresReplicationLagCritical"].For.D()))
}

// connections: idle connections up to 90% of max_connections (critical
// above 85%).
func (s *stack) connections(t *testing.T, rep *report) {
	s.pages.allow("PostgresConnectionsCritical", "PostgresConnectionsHigh")
	ctx := context.Background()
	c := s.Primary.Connect("postgres")
	var max, used int
	if err := c.QueryRow(ctx, "SELECT current_setting('max_connections')::int, (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')").Scan(&max, &used); err != nil {
		t.Fatal(err)
	}
	want := max*90/100 - used
	t0 := time.Now()
	var conns []*pgx.Conn
	defer func() {
		for _, c := range conns {
			_ = c.Close(ctx)
		}
	}()
	for range want {
		cc, err := pgx.Connect(ctx, s.Primary.DSN("postgres"))
		if err != nil {
			t.Fatalf("opening connection %d of %d: %v", len(conns)+1, want, err)
		}
		conns = append(conns, cc)
	}
	s.expect(t, rep, "PostgresConnectionsCritical", []string{"pagerduty", "slack", "email", "dba"}, t0, bound(s.Spec.Alerts["PostgresConnectionsCritical"].For.D()))
}

// archivingFails: archive_command fails on the primary while it writes.
// The archiver's failures page at once (with the override's for), and
// the newest WAL in the repository ages past the RPO (3m here): both
// critical, to the DBA too; both resolve once archiving works again.
func (s *stack) archivingFails(t *testing.T, rep *report) {
	s.pages.allow("PostgresWALArchivingFailing", "RPOExceeded")
	t0 := time.Now()
	s.Primary.Exec("ALTER SYSTEM SET archive_command = '/bin/false'")
	s.Primary.Exec("SELECT pg_reload_conf()")
	s.Primary.Exec("SELECT pg_switch_wal()")
	channels := []string{"pagerduty", "slack", "email", "dba"}
	s.expect(t, rep, "PostgresWALArchivingFailing", channels, t0, bound(s.Spec.Alerts["PostgresWALArchivingFailing"].For.D()))
	rpo := s.Spec.Threshold("RPOExceeded").Duration()
	s.expect(t, rep, "RPOExceeded", channels, t0, bound(rpo+s.Spec.Alerts["RPOExceeded"].For.D()))

	tr := time.Now()
	s.Primary.Exec("ALTER SYSTEM RESET archive_command")
	s.Primary.Exec("SELECT pg_reload_conf()")
	s.Primary.Exec("SELECT pg_switch_wal()")
	s.expectResolved(t, rep, "PostgresWALArchivingFailing", tr, 0)
	// The repository is read every refresh (15 s): one more in the window.
	s.expectResolved(t, rep, "RPOExceeded", tr, suite.PITRRefresh)
}
