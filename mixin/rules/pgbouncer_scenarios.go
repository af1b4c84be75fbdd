package rules

import (
	"fmt"
	"math"
	"time"
)

// Scenarios of the PgBouncer rules, from the spec's words where the
// per-alert cases cannot say it. 接続数: 警告 最大接続数の70%, 危険 85%, held
// by each pool against its pool_size and by PgBouncer against
// max_client_conn: a point under the level does not alert, a point over
// does, and free server connections (idle, used) are not in use. Clients
// waiting for a server (the slow-query levels, 1秒以上 / 5秒以上): none
// waiting is no wait, a wait just under the level is not one at it, a wait
// of exactly the level is, and a burst shorter than the `for` does not
// page. PgBouncer down: a PgBouncer that stops being reported is down,
// a target that never had one is not, a target removed from Prometheus is
// not watched any more; a PgBouncer target that cannot be scraped is not
// a PostgreSQL that is down.

func (g *gen) pgbouncerScenarios(set *Set) []scenario {
	var out []scenario
	out = append(out, g.poolScenarios(set)...)
	out = append(out, g.waitScenarios(set)...)
	out = append(out, g.clientScenarios(set)...)
	out = append(out, g.bouncerDownScenarios(set)...)
	out = append(out, g.bouncerTargetScenarios(set)...)
	return out
}

// quietAt is an evaluation long after an alert that is true from the
// start would have fired: its for, its keep_firing_for and ten minutes.
func quietAt(a *AlertRule) (time.Duration, int) {
	at := roundUp(durationOf(a.Rule.For)+durationOf(a.Rule.KeepFiringFor)+10*minute, minute)
	return at, int(at/minute) + 1
}

// percentPoint is one percentage point: "69% does not warn at 70%".
const percentPoint = 0.01

// poolScenarios: a pool of fixturePoolSize server connections.
func (g *gen) poolScenarios(set *Set) []scenario {
	var out []scenario
	ls := poolFixtureLabels(g)
	state := func(st string) map[string]string { return merge(ls, map[string]string{"state": st}) }
	pool := func(n int, byState map[string]float64) []inputSeries {
		in := []inputSeries{held("pgha_pgbouncer_pool_size", ls, fixturePoolSize, n)}
		for _, st := range []string{"active", "idle", "used", "tested", "login"} {
			if v, ok := byState[st]; ok {
				in = append(in, held("pgha_pgbouncer_pool_server_connections", state(st), v, n))
			}
		}
		return in
	}
	for _, name := range []string{"PgBouncerPoolHigh", "PgBouncerPoolCritical"} {
		a := set.alert(name)
		if a == nil {
			continue
		}
		level := a.value.Float()
		under := math.Round((level - percentPoint) * fixturePoolSize) // 69 of 100 at 70%
		over := math.Round((level + percentPoint) * fixturePoolSize)
		free := fixturePoolSize - over
		quiet, qn := quietAt(a)
		at, n := firesAt(a)
		out = append(out,
			scenario{file: a.File, eval: minute, deps: a.Rule.Expr, group: TestGroup{
				Name:     fmt.Sprintf("%s: %s of %d server connections in use (%s%%, level %s) stays silent, the rest idle or used", a.Name, num(under), fixturePoolSize, num(under), a.value.Human()),
				Interval: "1m",
				// The free ones are idle and used: all of pool_size open.
				InputSeries: pool(qn, map[string]float64{"active": under - 2, "tested": 1, "login": 1, "idle": math.Ceil((fixturePoolSize - under) / 2), "used": math.Floor((fixturePoolSize - under) / 2)}),
				AlertTests:  []alertTest{{EvalTime: durString(quiet), Alertname: a.Name, ExpAlerts: []expAlert{}}},
			}},
			scenario{file: a.File, eval: minute, deps: a.Rule.Expr, group: TestGroup{
				Name:        fmt.Sprintf("%s: %s of %d server connections in use (active, tested, login: %s%%, level %s) fires once its for of %s has passed", a.Name, num(over), fixturePoolSize, num(over), a.value.Human(), a.Rule.For),
				Interval:    "1m",
				InputSeries: pool(n, map[string]float64{"active": over - 2, "tested": 1, "login": 1, "idle": free}),
				AlertTests:  []alertTest{{EvalTime: durString(at), Alertname: a.Name, ExpAlerts: []expAlert{firing(a, ls, over/fixturePoolSize)}}},
			}},
			// A pool that opened every connection once and is quiet now:
			// PgBouncer keeps them, idle, then used after server_check_delay.
			scenario{file: a.File, eval: minute, deps: a.Rule.Expr, group: TestGroup{
				Name:        fmt.Sprintf("%s: a quiet pool with all %d server connections open, idle or used, stays silent", a.Name, fixturePoolSize),
				Interval:    "1m",
				InputSeries: pool(qn, map[string]float64{"active": 0, "idle": fixturePoolSize / 4, "used": fixturePoolSize * 3 / 4}),
				AlertTests:  []alertTest{{EvalTime: durString(quiet), Alertname: a.Name, ExpAlerts: []expAlert{}}},
			}},
		)
	}
	return out
}

// waitScenarios: the oldest wait of the fixture's pool, with clients
// waiting or not.
func (g *gen) waitScenarios(set *Set) []scenario {
	var out []scenario
	ls := poolFixtureLabels(g)
	waitingLs := merge(ls, map[string]string{"state": "waiting"})
	pool := func(maxWait, waiting []seg) []inputSeries {
		return []inputSeries{
			{series("pgha_pgbouncer_pool_max_wait_seconds", ls), gaugeValues(maxWait, minute, constant)},
			{series("pgha_pgbouncer_pool_client_connections", waitingLs), gaugeValues(waiting, minute, constant)},
			{series("pgha_pgbouncer_pool_client_connections", merge(ls, map[string]string{"state": "active"})), gaugeValues([]seg{{20, total(waiting)}}, minute, constant)},
		}
	}
	for _, name := range []string{"PgBouncerPoolWaitHigh", "PgBouncerPoolWaitCritical"} {
		a := set.alert(name)
		if a == nil {
			continue
		}
		level := a.value.Float()
		under := level - 0.1 // 0.9 s at 1 s
		quiet, qn := quietAt(a)
		at, n := firesAt(a)
		group := func(name string, in []inputSeries, tests ...alertTest) {
			out = append(out, scenario{file: a.File, eval: minute, deps: a.Rule.Expr, group: TestGroup{
				Name: a.Name + ": " + name, Interval: "1m", InputSeries: in, AlertTests: tests}})
		}
		group(fmt.Sprintf("no client waiting (0) stays silent, whatever max wait says (%ss)", num(level*2)),
			pool([]seg{{level * 2, qn}}, []seg{{0, qn}}),
			alertTest{EvalTime: durString(quiet), Alertname: a.Name, ExpAlerts: []expAlert{}})
		group(fmt.Sprintf("3 clients waiting, the oldest %ss (under %s) stays silent", num(under), a.value.Human()),
			pool([]seg{{under, qn}}, []seg{{3, qn}}),
			alertTest{EvalTime: durString(quiet), Alertname: a.Name, ExpAlerts: []expAlert{}})
		group(fmt.Sprintf("3 clients waiting, the oldest %s (the level: 以上) fires once its for of %s has passed", a.value.Human(), a.Rule.For),
			pool([]seg{{level, n}}, []seg{{3, n}}),
			alertTest{EvalTime: durString(at), Alertname: a.Name, ExpAlerts: []expAlert{firing(a, ls, level)}})
		// A burst: waits at twice the level for less than the for, then
		// served: never fires.
		if f := durationOf(a.Rule.For); f >= 2*minute {
			burst := int(f/minute) - 1
			rest := qn - burst
			group(fmt.Sprintf("a burst of waits at %ss for %dm, shorter than its for of %s, stays silent", num(level*2), burst, a.Rule.For),
				pool([]seg{{level * 2, burst}, {0, rest}}, []seg{{3, burst}, {0, rest}}),
				alertTest{EvalTime: durString(time.Duration(burst) * minute), Alertname: a.Name, ExpAlerts: []expAlert{}},
				alertTest{EvalTime: durString(quiet), Alertname: a.Name, ExpAlerts: []expAlert{}})
		}
	}
	return out
}

// clientScenarios: PgBouncer's client connections against a
// max_client_conn of 1000.
func (g *gen) clientScenarios(set *Set) []scenario {
	var out []scenario
	ls := bouncerLabels(g)
	const maxClients = 1000
	for _, name := range []string{"PgBouncerClientConnectionsHigh", "PgBouncerClientConnectionsCritical"} {
		a := set.alert(name)
		if a == nil {
			continue
		}
		level := a.value.Float()
		under := math.Round((level - percentPoint) * maxClients)
		over := math.Round((level + percentPoint) * maxClients)
		quiet, qn := quietAt(a)
		at, n := firesAt(a)
		in := func(used float64, n int) []inputSeries {
			return []inputSeries{held("pgha_pgbouncer_client_connections", ls, used, n), held("pgha_pgbouncer_config_max_client_connections", ls, maxClients, n)}
		}
		out = append(out,
			scenario{file: a.File, eval: minute, deps: a.Rule.Expr, group: TestGroup{
				Name:        fmt.Sprintf("%s: %s of max_client_conn %d (level %s) stays silent", a.Name, num(under), maxClients, a.value.Human()),
				Interval:    "1m",
				InputSeries: in(under, qn),
				AlertTests:  []alertTest{{EvalTime: durString(quiet), Alertname: a.Name, ExpAlerts: []expAlert{}}},
			}},
			scenario{file: a.File, eval: minute, deps: a.Rule.Expr, group: TestGroup{
				Name:        fmt.Sprintf("%s: %s of max_client_conn %d (level %s) fires once its for of %s has passed", a.Name, num(over), maxClients, a.value.Human(), a.Rule.For),
				Interval:    "1m",
				InputSeries: in(over, n),
				AlertTests:  []alertTest{{EvalTime: durString(at), Alertname: a.Name, ExpAlerts: []expAlert{firing(a, ls, over/maxClients)}}},
			}},
		)
	}
	return out
}

// bouncerDownScenarios: pgha_exporter reports on a PgBouncer for ten
// minutes, then no more for twenty.
func (g *gen) bouncerDownScenarios(set *Set) []scenario {
	a := set.alert("PgBouncerDown")
	if a == nil {
		return nil
	}
	const reported, gone = 10, 20 // minutes
	ls := bouncerLabels(g)
	pg := pghaLabels(g)
	first := reported + int(math.Ceil(durationOf(a.Rule.For).Seconds()/60)) + 1
	last := reported + gone - 1
	fires := func(m int) alertTest {
		return alertTest{EvalTime: durString(time.Duration(m) * minute), Alertname: a.Name, ExpAlerts: []expAlert{firing(a, ls, 0)}}
	}
	silent := func(m int) alertTest {
		return alertTest{EvalTime: durString(time.Duration(m) * minute), Alertname: a.Name, ExpAlerts: []expAlert{}}
	}
	bouncer := fmt.Sprintf("1x%d stale", reported)
	group := func(name string, in []inputSeries, tests ...alertTest) scenario {
		return scenario{file: a.File, eval: minute, deps: a.Rule.Expr, group: TestGroup{
			Name: a.Name + ": " + name, Interval: "1m", InputSeries: in, AlertTests: tests}}
	}
	return []scenario{
		group("pgha_exporter answers but reports no PgBouncer any more (restarted without it) fires, and goes on firing",
			[]inputSeries{{series("pgha_pgbouncer_up", ls), bouncer}, held("up", ls, 1, reported+gone)},
			silent(reported-1), fires(first), fires(last)),
		group("pgha_exporter itself does not answer for the PgBouncer target (up 0) fires too",
			[]inputSeries{{series("pgha_pgbouncer_up", ls), bouncer}, {series("up", ls), fmt.Sprintf("1x%d 0x%d", reported, gone)}},
			fires(first), fires(last)),
		group("a PostgreSQL target that never had a PgBouncer, next to a PgBouncer that answers, stays silent",
			[]inputSeries{held("pgha_up", pg, 1, reported+gone), held("up", pg, 1, reported+gone),
				held("pgha_pgbouncer_up", ls, 1, reported+gone), held("up", ls, 1, reported+gone)},
			silent(last)),
		group("a target removed from Prometheus' configuration (no up any more) stays silent",
			[]inputSeries{{series("pgha_pgbouncer_up", ls), bouncer}, {series("up", ls), bouncer}},
			silent(first), silent(last)),
		group(`a target the scrape configuration labels kind="pgbouncer" that never answered fires from the first`,
			[]inputSeries{{series("up", merge(ls, map[string]string{"kind": "pgbouncer"})), fmt.Sprintf("0x%d", reported+gone)}},
			alertTest{EvalTime: durString(time.Duration(first-reported) * minute), Alertname: a.Name, ExpAlerts: []expAlert{firing(a, ls, 0)}}, fires(last)),
		// The label is wrong: PostgresDown pages it (bouncerTargetScenarios).
		group(`a PostgreSQL target labelled kind="pgbouncer" by mistake that reported as a PostgreSQL, then stops answering, stays silent`,
			[]inputSeries{{series("pgha_up", mislabelled(pg)), bouncer}, {series("up", mislabelled(pg)), fmt.Sprintf("1x%d 0x%d", reported, gone)}},
			silent(first), silent(last)),
	}
}

// mislabelled is a PostgreSQL target the scrape configuration labels
// kind="pgbouncer" by mistake.
func mislabelled(pg map[string]string) map[string]string {
	return merge(pg, map[string]string{"instance": "db-3:9187", "kind": "pgbouncer"})
}

// bouncerTargetScenarios: a /probe target that is a PgBouncer stops
// answering beside a PostgreSQL target that stops too. PostgresDown
// ("PostgreSQL unreachable", which inhibits every other database alert of
// the instance) pages the PostgreSQL only; the PgBouncer is PgBouncerDown's.
// A target that reports both (PgBouncer beside PostgreSQL on /metrics) is
// a database, and so is a PostgreSQL target labelled kind="pgbouncer" by
// mistake, once it has reported as one.
func (g *gen) bouncerTargetScenarios(set *Set) []scenario {
	a, down := set.alert("PostgresDown"), set.alert("PgBouncerDown")
	if a == nil || down == nil {
		return nil
	}
	const reported, gone = 10, 20 // minutes
	bouncer, pg := bouncerLabels(g), pghaLabels(g)
	both := merge(pg, map[string]string{"instance": "db-2:9187"})
	// A PgBouncer target labelled as one in the scrape configuration,
	// that has never answered: nothing says it is not a database but
	// the label.
	labelled := merge(bouncer, map[string]string{"instance": "pgbouncer-2:9187", "kind": "pgbouncer"})
	// The alert is by job and instance: without the wrong label.
	wrong := mislabelled(pg)
	wrongDB := merge(pg, map[string]string{"instance": wrong["instance"]})
	first := reported + int(math.Ceil(durationOf(a.Rule.For).Seconds()/60)) + 1
	last := reported + gone - 1
	stops := fmt.Sprintf("1x%d 0x%d", reported, gone)
	metrics := fmt.Sprintf("1x%d stale", reported)
	eval := func(m int, ls ...map[string]string) alertTest {
		t := alertTest{EvalTime: durString(time.Duration(m) * minute), Alertname: a.Name, ExpAlerts: []expAlert{}}
		for _, l := range ls {
			t.ExpAlerts = append(t.ExpAlerts, firing(a, l, 0))
		}
		return t
	}
	return []scenario{{file: a.File, eval: minute, deps: a.Rule.Expr, group: TestGroup{
		Name:     a.Name + ": a PgBouncer target that cannot be scraped (one that reported as a PgBouncer, or one labelled kind=\"pgbouncer\" that never answered) is not a PostgreSQL down; PostgreSQL targets beside it, one that reports both, and one that reported as a PostgreSQL but is labelled kind=\"pgbouncer\", are",
		Interval: "1m",
		InputSeries: []inputSeries{
			{series("pgha_pgbouncer_up", bouncer), metrics}, {series("up", bouncer), stops},
			{series("pgha_up", pg), metrics}, {series("up", pg), stops},
			{series("pgha_up", both), metrics}, {series("pgha_pgbouncer_up", both), metrics}, {series("up", both), stops},
			{series("up", labelled), fmt.Sprintf("0x%d", reported+gone)},
			{series("pgha_up", wrong), metrics}, {series("up", wrong), stops},
		},
		AlertTests: []alertTest{eval(reported - 1), eval(first, pg, both, wrongDB), eval(last, pg, both, wrongDB)},
	}}}
}
