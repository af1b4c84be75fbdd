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
	lag := func(g *gen, v spec.Value) string {
		return fmt.Sprintf(`pgha_standby_lag_seconds%s > %s`, g.sel("pgha"), v.PromQL())
	}
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
		"PostgresDown": {
			expr:     func(g *gen, _ spec.Value) string { return fmt.Sprintf(`pgha_up%s == 0`, g.sel("pgha")) },
			fx:       gaugeFixture("pgha_up", pghaLabels, nil, fixed(1, 0)),
			describe: "pgha_exporter cannot connect to PostgreSQL at {{ $labels.instance }} or its queries fail.", dashboard: DashDatabase},
		"PostgresConnectionsHigh": {expr: conns, fx: connFx, dashboard: DashDatabase,
			describe: "{{ $labels.instance }} uses {{ $value | humanizePercentage }} of max_connections (warning above THRESHOLD)."},
		"PostgresConnectionsCritical": {expr: conns, fx: connFx, dashboard: DashDatabase,
			describe: "{{ $labels.instance }} uses {{ $value | humanizePercentage }} of max_connections (critical above THRESHOLD)."},
		"PostgresSlowQueries": {expr: slow, fx: slowFx("warning"), dashboard: DashDatabase,
			describe: "{{ $value }} queries on {{ $labels.instance }} have run longer than THRESHOLD."},
		"PostgresSlowQueriesCritical": {expr: slow, fx: slowFx("critical"), dashboard: DashDatabase,
			describe: "{{ $value }} queries on {{ $labels.instance }} have run longer than THRESHOLD."},
		"PostgresReplicationLagHigh": {expr: lag, fx: lagFx, dashboard: DashDatabase,
			describe: "Standby {{ $labels.instance }} is {{ $value | humanizeDuration }} behind its primary (warning above THRESHOLD)."},
		"PostgresReplicationLagCritical": {expr: lag, fx: lagFx, dashboard: DashDatabase,
			describe: "Standby {{ $labels.instance }} is {{ $value | humanizeDuration }} behind its primary (critical above THRESHOLD)."},
		"PostgresWALArchivingFailing": {
			expr: func(g *gen, _ spec.Value) string {
				return fmt.Sprintf(`pgha_archiver_last_failed_timestamp_seconds%s > on (job, instance) pgha_archiver_last_archived_timestamp_seconds%s and on (job, instance) pgha_archiver_pending_segments%s > 0`,
					g.sel("pgha"), g.sel("pgha"), g.sel("pgha"))
			},
			fx: archFx, dashboard: DashDatabase,
			describe: "The last archive_command on {{ $labels.instance }} failed and WAL segments wait to be archived: point-in-time recovery falls behind."},
	})
}
