package rules

import (
	"fmt"
	"time"

	"github.com/hotel-ops/hotel-ops/mixin/spec"
)

// PgBouncer rules from pgha_exporter's PgBouncer collector
// (pgha_pgbouncer_*): PgBouncer answering, its pools against their
// pool_size, clients waiting for a server connection, and its client
// connections against max_client_conn. They select the pgha job, as the
// PostgreSQL rules do: a kind: pgbouncer target is one more pgha_exporter
// target.

// poolLabels are what a pool's series carry besides job and instance.
const poolLabels = "database, user"

// poolFreeStates are the states of a pool's server connections that a
// waiting client can have at once: sv_idle, and sv_used (idle past
// server_check_delay, handed out after its check query). Every other
// state (active, tested, login, active_cancel, being_canceled) holds a
// slot of the pool's pool_size.
const poolFreeStates = "idle|used"

func bouncerLabels(g *gen) map[string]string {
	return g.mustLabels([]string{"pgha"}, map[string]string{"instance": "pgbouncer-1:9187"})
}

// poolFixtureLabels are one pool of the fixture's PgBouncer.
func poolFixtureLabels(g *gen) map[string]string {
	return merge(bouncerLabels(g), map[string]string{"database": "hotel", "user": "app"})
}

// fixturePoolSize is the pool_size of the fixture's pool.
const fixturePoolSize = 100

// poolUse is the share of each pool's pool_size its server connections in
// use take; a pool with no size (0) is left out rather than divided by.
func (g *gen) poolUse() string {
	p := g.sel("pgha")
	return fmt.Sprintf(`sum by (job, instance, %[3]s) (pgha_pgbouncer_pool_server_connections%[1]s) / on (job, instance, %[3]s) (pgha_pgbouncer_pool_size%[2]s > 0)`,
		g.sel("pgha", fmt.Sprintf(`state!~"%s"`, poolFreeStates)), p, poolLabels)
}

// clientUse is PgBouncer's client connections over max_client_conn.
func (g *gen) clientUse() string {
	p := g.sel("pgha")
	return fmt.Sprintf(`pgha_pgbouncer_client_connections%[1]s / on (job, instance) (pgha_pgbouncer_config_max_client_connections%[1]s > 0)`, p)
}

// PgBouncerPoolUse and PgBouncerClientUse are poolUse and clientUse for
// the dashboards: the figures as the alerts compute them.
func PgBouncerPoolUse(s *spec.Spec) string   { return (&gen{s: s}).poolUse() }
func PgBouncerClientUse(s *spec.Spec) string { return (&gen{s: s}).clientUse() }

// The target label that tells Prometheus a /probe target is a PgBouncer
// (the exporter's targets file says kind: pgbouncer; the scrape
// configuration says it again, since Prometheus cannot read that file).
const bouncerTarget = `kind="pgbouncer"`

// bouncerOnly is the targets known to be PgBouncers and not PostgreSQL
// instances: labelled kind="pgbouncer" or reporting on a PgBouncer within
// the day, and reporting on no PostgreSQL within the day. What a target
// reported outranks its label, so a PostgreSQL target labelled
// kind="pgbouncer" by mistake is a database once it has answered.
func (g *gen) bouncerOnly() string {
	p := g.sel("pgha")
	return fmt.Sprintf(`((max_over_time(pgha_pgbouncer_up%[1]s[1d]) or up%[2]s) unless on (job, instance) max_over_time(pgha_up%[1]s[1d]))`, p, g.sel("pgha", bouncerTarget))
}

// bouncerDown is PgBouncer not answering pgha_exporter (pgha_pgbouncer_up
// 0), or a target that reported on a PgBouncer within the day and reports
// none now while Prometheus still scrapes it: pgha_exporter itself does
// not answer (on a target that reports a PostgreSQL too PostgresDown says
// so, and inhibits this), or it was restarted without its PgBouncer. As
// with a stopped standby, "and on up" keeps a target removed from
// Prometheus' configuration from alerting on; a target that never had a
// PgBouncer is never counted, unless its scrape configuration labels it
// kind="pgbouncer": then a failed scrape is this alert's from the first,
// unless the target reported only on a PostgreSQL within the day (the
// label is wrong: PostgresDown pages it).
func (g *gen) bouncerDown() string {
	p := g.sel("pgha")
	return fmt.Sprintf(`max by (job, instance) (pgha_pgbouncer_up%[1]s == 0 or (max_over_time(pgha_pgbouncer_up%[1]s[1d]) unless on (job, instance) pgha_pgbouncer_up%[1]s) * 0 and on (job, instance) up%[1]s or (up%[2]s == 0 unless on (job, instance) (max_over_time(pgha_up%[1]s[1d]) unless on (job, instance) max_over_time(pgha_pgbouncer_up%[1]s[1d]))))`, p, g.sel("pgha", bouncerTarget))
}

func init() {
	// A pool of fixturePoolSize: the value's share of it active and
	// logging in, beside free connections (idle, used) that must not
	// count, and a client waiting.
	poolFx := fixture{labels: poolFixtureLabels, okBad: higherIsWorse, series: func(g *gen, segs []seg, step time.Duration) []inputSeries {
		ls := poolFixtureLabels(g)
		active, login := make([]seg, len(segs)), make([]seg, len(segs))
		for i, s := range segs {
			active[i], login[i] = seg{s.v * fixturePoolSize * 0.9, s.n}, seg{s.v * fixturePoolSize * 0.1, s.n}
		}
		n := total(segs)
		state := func(st string) map[string]string { return merge(ls, map[string]string{"state": st}) }
		return []inputSeries{
			{series("pgha_pgbouncer_pool_server_connections", state("active")), gaugeValues(active, step, constant)},
			{series("pgha_pgbouncer_pool_server_connections", state("login")), gaugeValues(login, step, constant)},
			{series("pgha_pgbouncer_pool_server_connections", state("idle")), gaugeValues([]seg{{4, n}}, step, constant)},
			{series("pgha_pgbouncer_pool_server_connections", state("used")), gaugeValues([]seg{{3, n}}, step, constant)},
			{series("pgha_pgbouncer_pool_size", ls), gaugeValues([]seg{{fixturePoolSize, n}}, step, constant)},
		}
	}}
	pool := func(g *gen, v spec.Value) string { return fmt.Sprintf(`%s > %s`, g.poolUse(), v.PromQL()) }

	// The oldest wait of a pool while some client of it waits: PgBouncer
	// reports 0 when none waits, and a wait that is over is not one.
	wait := func(g *gen, v spec.Value) string {
		return fmt.Sprintf(`pgha_pgbouncer_pool_max_wait_seconds%s >= %s and on (job, instance, %s) pgha_pgbouncer_pool_client_connections%s > 0`,
			g.sel("pgha"), v.PromQL(), poolLabels, g.sel("pgha", `state="waiting"`))
	}
	// The oldest client has waited the value; three wait while it is
	// above 0, none once it is 0.
	waitFx := fixture{labels: poolFixtureLabels, okBad: higherIsWorse, series: func(g *gen, segs []seg, step time.Duration) []inputSeries {
		ls := poolFixtureLabels(g)
		waiting := make([]seg, len(segs))
		for i, s := range segs {
			waiting[i] = seg{0, s.n}
			if s.v > 0 {
				waiting[i].v = 3
			}
		}
		return []inputSeries{
			{series("pgha_pgbouncer_pool_max_wait_seconds", ls), gaugeValues(segs, step, constant)},
			{series("pgha_pgbouncer_pool_client_connections", merge(ls, map[string]string{"state": "waiting"})), gaugeValues(waiting, step, constant)},
		}
	}}

	clients := func(g *gen, v spec.Value) string { return fmt.Sprintf(`%s > %s`, g.clientUse(), v.PromQL()) }
	clientsFx := fixture{labels: bouncerLabels, okBad: higherIsWorse, series: func(g *gen, segs []seg, step time.Duration) []inputSeries {
		ls := bouncerLabels(g)
		used := make([]seg, len(segs))
		for i, s := range segs {
			used[i] = seg{s.v * 1000, s.n}
		}
		return []inputSeries{
			{series("pgha_pgbouncer_client_connections", ls), gaugeValues(used, step, constant)},
			{series("pgha_pgbouncer_config_max_client_connections", ls), gaugeValues([]seg{{1000, total(segs)}}, step, constant)},
		}
	}}

	register(map[string]*def{
		"PgBouncerDown": {
			expr:      func(g *gen, _ spec.Value) string { return g.bouncerDown() },
			fx:        gaugeFixture("pgha_pgbouncer_up", bouncerLabels, nil, fixed(1, 0)),
			dashboard: DashDatabase,
			describe:  "pgha_exporter cannot read PgBouncer's admin console at {{ $labels.instance }} (PgBouncer down, or refusing pgha_exporter), or a target that reported on a PgBouncer today, or is labelled kind=\"pgbouncer\", reports none (pgha_exporter does not answer for it, or runs without it): clients connecting through it may not reach the database."},
		"PgBouncerPoolHigh": {expr: pool, fx: poolFx, dashboard: DashDatabase,
			describe: "Pool {{ $labels.database }}/{{ $labels.user }} on {{ $labels.instance }} has {{ $value | humanizePercentage }} of its pool_size in server connections in use (warning above THRESHOLD)."},
		"PgBouncerPoolCritical": {expr: pool, fx: poolFx, dashboard: DashDatabase,
			describe: "Pool {{ $labels.database }}/{{ $labels.user }} on {{ $labels.instance }} has {{ $value | humanizePercentage }} of its pool_size in server connections in use (critical above THRESHOLD): clients will wait for a server connection."},
		"PgBouncerPoolWaitHigh": {expr: wait, fx: waitFx, dashboard: DashDatabase,
			describe: "Clients of pool {{ $labels.database }}/{{ $labels.user }} on {{ $labels.instance }} wait for a server connection; the oldest has waited {{ $value | humanizeDuration }} (warning at THRESHOLD)."},
		"PgBouncerPoolWaitCritical": {expr: wait, fx: waitFx, dashboard: DashDatabase,
			describe: "Clients of pool {{ $labels.database }}/{{ $labels.user }} on {{ $labels.instance }} wait for a server connection; the oldest has waited {{ $value | humanizeDuration }} (critical at THRESHOLD): past query_wait_timeout PgBouncer disconnects them."},
		"PgBouncerClientConnectionsHigh": {expr: clients, fx: clientsFx, dashboard: DashDatabase,
			describe: "PgBouncer at {{ $labels.instance }} holds {{ $value | humanizePercentage }} of max_client_conn in client connections (warning above THRESHOLD)."},
		"PgBouncerClientConnectionsCritical": {expr: clients, fx: clientsFx, dashboard: DashDatabase,
			describe: "PgBouncer at {{ $labels.instance }} holds {{ $value | humanizePercentage }} of max_client_conn in client connections (critical above THRESHOLD): at max_client_conn new clients are refused."},
	})
}
