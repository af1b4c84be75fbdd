package rules

import (
	"fmt"
	"time"

	"github.com/hotel-ops/hotel-ops/mixin/spec"
)

// Database rules from pgha_exporter.

func pghaLabels(g *gen) map[string]string {
	return g.mustLabels([]string{"pgha"}, map[string]string{"instance": "db-1:9187"})
}

// gaugeFixture is a fixture of one gauge that holds the value.
func gaugeFixture(metric string, labels func(*gen) map[string]string, extra map[string]string, okBad func(*gen, spec.Value) (float64, float64)) fixture {
	return fixture{labels: func(g *gen) map[string]string { return merge(labels(g), extra) }, okBad: okBad,
		series: func(g *gen, segs []seg, step time.Duration) []inputSeries {
			return []inputSeries{{series(metric, merge(labels(g), extra)), gaugeValues(segs, step, constant)}}
		}}
}

func init() {
	connFx := fixture{labels: pghaLabels, okBad: higherIsWorse, series: func(g *gen, segs []seg, step time.Duration) []inputSeries {
		ls := pghaLabels(g)
		active, idle := make([]seg, len(segs)), make([]seg, len(segs))
		for i, s := range segs {
			active[i], idle[i] = seg{s.v * 200 * 0.75, s.n}, seg{s.v * 200 * 0.25, s.n}
		}
		return []inputSeries{
			{series("pgha_connections", merge(ls, map[string]string{"state": "active"})), gaugeValues(active, step, constant)},
			{series("pgha_connections", merge(ls, map[string]string{"state": "idle"})), gaugeValues(idle, step, constant)},
			{series("pgha_max_connections", ls), gaugeValues([]seg{{200, total(segs)}}, step, constant)},
		}
	}}
	conns := func(g *gen, v spec.Value) string {
		return fmt.Sprintf(`sum by (job, instance) (pgha_connections%s) / on (job, instance) pgha_max_connections%s > %s`, g.sel("pgha"), g.sel("pgha"), v.PromQL())
	}
	// pgha_exporter counts queries over each of its --slow-query.threshold
	// values, labelled in seconds; the spec's levels must be among them.
	slow := func(g *gen, v spec.Value) string {
		return fmt.Sprintf(`pgha_queries_running_longer_than%s > 0`, g.sel("pgha", fmt.Sprintf(`threshold_seconds="%s"`, v.PromQL())))
	}
	slowFx := func(level string) fixture {
		f := fixture{okBad: fixed(0, 2)}
		f.labels = func(g *gen) map[string]string {
			return merge(pghaLabels(g), map[string]string{"threshold_seconds": g.s.Thresholds["slow_query"].Level(level).PromQL()})
		}
		f.series = func(g *gen, segs []seg, step time.Duration) []inputSeries {
			return []inputSeries{{series("pgha_queries_running_longer_than", f.labels(g)), gaugeValues(segs, step, constant)}}
		}
		return f
	}
	// A standby that stops answering takes its lag series with it, and an
	// alert on that series alone would resolve exactly when the standby is
	// gone. So a target that was a standby within the day and reports no
	// lag now (down, or its exporter unreachable) is lagging without
	// bound (+Inf), unless it answers as a primary now (promoted). "and on
	// up" keeps a target removed from Prometheus' configuration from
	// alerting on. (Raw range selections only: a subquery over the lag's
	// timestamps misses a standby that lived less than its resolution.)
	lag := func(g *gen, v spec.Value) string {
		p := g.sel("pgha")
		return fmt.Sprintf(`pgha_standby_lag_seconds%[1]s > %[2]s or (max_over_time(pgha_in_recovery%[1]s[1d]) == 1 unless on (job, instance) (pgha_standby_lag_seconds%[1]s or pgha_in_recovery%[1]s == 0)) * +Inf and on (job, instance) up%[1]s`, p, v.PromQL())
	}
	disconnected := func(g *gen, _ spec.Value) string {
		p := g.sel("pgha")
		return fmt.Sprintf(`pgha_replication_connected_standbys%[1]s < on (job, instance) max_over_time(pgha_replication_connected_standbys%[1]s[1d])`, p)
	}
	discFx := gaugeFixture("pgha_replication_connected_standbys", pghaLabels, nil, fixed(1, 0))
	discFx.baseline, discFx.baselineFor = 1, 10*minute
	// archive_timeout 0 (off) or above the RPO: a quiet primary fills no
	// WAL segment, archives nothing, and the RPO cannot hold while it is
	// quiet. Standbys do not archive here, so only primaries count.
	archiveTimeout := func(g *gen, v spec.Value) string {
		p := g.sel("pgha")
		return fmt.Sprintf(`pgha_archiver_enabled%[1]s == 1 and on (job, instance) pgha_in_recovery%[1]s == 0 and on (job, instance) (pgha_archiver_timeout_seconds%[1]s == 0 or pgha_archiver_timeout_seconds%[1]s > %[2]s)`, p, v.PromQL())
	}
	archTimeoutFx := fixture{labels: pghaLabels, okBad: higherIsWorse, series: func(g *gen, segs []seg, step time.Duration) []inputSeries {
		ls := pghaLabels(g)
		n := total(segs)
		return []inputSeries{
			{series("pgha_archiver_timeout_seconds", ls), gaugeValues(segs, step, constant)},
			{series("pgha_archiver_enabled", ls), gaugeValues([]seg{{1, n}}, step, constant)},
			{series("pgha_in_recovery", ls), gaugeValues([]seg{{0, n}}, step, constant)},
		}
	}}
	lagFx := gaugeFixture("pgha_standby_lag_seconds", pghaLabels, nil, higherIsWorse)
	// The last archive attempt failed (after the last success) while WAL
	// waits: a broken archive_command, not a single retried failure.
	archFx := fixture{labels: pghaLabels, okBad: fixed(0, 1), series: func(g *gen, segs []seg, step time.Duration) []inputSeries {
		ls := pghaLabels(g)
		failedAgo, okAgo := make([]seg, len(segs)), make([]seg, len(segs))
		for i, s := range segs {
			if s.v > 0 { // failing: failed a minute ago, last success an hour ago
				failedAgo[i], okAgo[i] = seg{60, s.n}, seg{3600, s.n}
			} else {
				failedAgo[i], okAgo[i] = seg{3600, s.n}, seg{60, s.n}
			}
		}
		return []inputSeries{
			{series("pgha_archiver_last_failed_timestamp_seconds", ls), gaugeValues(failedAgo, step, agoBy)},
			{series("pgha_archiver_last_archived_timestamp_seconds", ls), gaugeValues(okAgo, step, agoBy)},
			{series("pgha_archiver_pending_segments", ls), gaugeValues([]seg{{12, total(segs)}}, step, constant)},
		}
	}}
	register(map[string]*def{
		// When pgha_exporter itself cannot be scraped nobody knows whether
		// the database is up: that is paged as the database being down, to
		// the DBA too, not as a warning about the suite. A /probe target
		// that is a PgBouncer is not a database: its failed scrape is
		// PgBouncerDown's. Prometheus knows it by the target label
		// kind="pgbouncer" of the scrape configuration, or by its having
		// reported on a PgBouncer within the day; either way only while
		// it reported no PostgreSQL within the day, so a PostgreSQL
		// target given the label by mistake still pages as a database
		// (an unlabelled one that never answered, or not for a day, is
		// counted here too).
		"PostgresDown": {
			expr: func(g *gen, _ spec.Value) string {
				return fmt.Sprintf(`max by (job, instance) (pgha_up%[1]s == 0 or (up%[1]s == 0 unless on (job, instance) %[2]s)) or absent(up%[1]s)`,
					g.sel("pgha"), g.bouncerOnly())
			},
			fx:       gaugeFixture("pgha_up", pghaLabels, nil, fixed(1, 0)),
			describe: "pgha_exporter cannot connect to PostgreSQL at {{ $labels.instance }}, its queries fail, or pgha_exporter itself does not answer.", dashboard: DashDatabase},
		"PostgresConnectionsHigh": {expr: conns, fx: connFx, dashboard: DashDatabase,
			describe: "{{ $labels.instance }} uses {{ $value | humanizePercentage }} of max_connections (warning above THRESHOLD)."},
		"PostgresConnectionsCritical": {expr: conns, fx: connFx, dashboard: DashDatabase,
			describe: "{{ $labels.instance }} uses {{ $value | humanizePercentage }} of max_connections (critical above THRESHOLD)."},
		"PostgresSlowQueries": {expr: slow, fx: slowFx("warning"), dashboard: DashDatabase,
			describe: "{{ $value }} queries on {{ $labels.instance }} have run longer than THRESHOLD."},
		"PostgresSlowQueriesCritical": {expr: slow, fx: slowFx("critical"), dashboard: DashDatabase,
			describe: "{{ $value }} queries on {{ $labels.instance }} have run longer than THRESHOLD."},
		"PostgresReplicationLagHigh": {expr: lag, fx: lagFx, dashboard: DashDatabase,
			describe: "Standby {{ $labels.instance }} is {{ $value | humanizeDuration }} behind its primary (+Inf: it does not answer; warning above THRESHOLD)."},
		"PostgresReplicationLagCritical": {expr: lag, fx: lagFx, dashboard: DashDatabase,
			describe: "Standby {{ $labels.instance }} is {{ $value | humanizeDuration }} behind its primary (+Inf: it does not answer; critical above THRESHOLD)."},
		"PostgresStandbyDisconnected": {expr: disconnected, fx: discFx, dashboard: DashDatabase,
			describe: "{{ $value }} standbys stream from {{ $labels.instance }}, fewer than at some time in the last day: a standby stopped, or lost its connection (the count drops back to normal a day after a standby is retired)."},
		"PostgresArchiveTimeoutTooLong": {expr: archiveTimeout, fx: archTimeoutFx, dashboard: DashDatabase,
			describe: "archive_timeout on {{ $labels.instance }} is off or above the THRESHOLD RPO: while the primary is quiet it fills no WAL segment and archives nothing, so the RPO cannot hold. Set archive_timeout to a minute."},
		"PostgresWALArchivingFailing": {
			expr: func(g *gen, _ spec.Value) string {
				return fmt.Sprintf(`pgha_archiver_last_failed_timestamp_seconds%s > on (job, instance) pgha_archiver_last_archived_timestamp_seconds%s and on (job, instance) pgha_archiver_pending_segments%s > 0`,
					g.sel("pgha"), g.sel("pgha"), g.sel("pgha"))
			},
			fx: archFx, dashboard: DashDatabase,
			describe: "The last archive_command on {{ $labels.instance }} failed and WAL segments wait to be archived: point-in-time recovery falls behind."},
	})
}
