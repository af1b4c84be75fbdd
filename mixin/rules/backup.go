package rules

import (
	"fmt"
	"math/big"
	"time"

	"github.com/hotel-ops/hotel-ops/mixin/spec"
)

// Backup and PITR rules from pitr_exporter: ages against the policy, the
// WAL chain, the window, encryption and the cross-region copy.

func pitrLabels(g *gen) map[string]string {
	return g.mustLabels([]string{"pitr"}, map[string]string{"instance": "pitr-1:9188"})
}

// ageFixture holds a timestamp metric the value's seconds in the past, so
// time() − metric is the value at every evaluation.
func ageFixture(metric string, extra map[string]string, okBad func(*gen, spec.Value) (float64, float64)) fixture {
	labels := func(g *gen) map[string]string { return merge(pitrLabels(g), extra) }
	return fixture{labels: labels, okBad: okBad, series: func(g *gen, segs []seg, step time.Duration) []inputSeries {
		return []inputSeries{{series(metric, labels(g)), gaugeValues(segs, step, agoBy)}}
	}}
}

// backupDue is the age after which a backup of the policy is overdue: its
// interval plus the allowed delay.
func (g *gen) backupDue(every spec.Value) spec.Value {
	r := new(big.Rat).Add(every.Rat(), g.s.Thresholds["backup_delay"].Warning.Rat())
	v, _ := spec.ParseValue(spec.Decimal(r))
	v.Unit = spec.Seconds
	return v
}

// never is the branch for a repository that pitr_exporter reads but that
// holds no such series at all (no incremental backup ever, no restore test
// ever, no replica bucket configured): an age alert on the series alone
// would stay silent exactly then. Its value is +Inf: infinitely old.
func (g *gen) never(metric string) string {
	return fmt.Sprintf(`(pitr_up%s == 1 unless on (job, instance) %s) * +Inf`, g.sel("pitr"), metric)
}

func init() {
	age := func(metric string, extra string) func(*gen, spec.Value) string {
		return func(g *gen, v spec.Value) string {
			m := metric + g.sel("pitr", extra)
			return fmt.Sprintf(`time() - %s > %s or %s`, m, v.PromQL(), g.never(m))
		}
	}
	overdue := func(typ string) func(*gen, spec.Value) string {
		return func(g *gen, v spec.Value) string {
			// interval + allowed delay, both as the spec writes them
			m := "pitr_backup_last_completion_timestamp_seconds" + g.sel("pitr", fmt.Sprintf(`type="%s"`, typ))
			return fmt.Sprintf(`time() - %s > %s + %s or %s`, m, v.PromQL(), g.s.Thresholds["backup_delay"].Warning.PromQL(), g.never(m))
		}
	}
	overdueFx := func(typ string) fixture {
		f := ageFixture("pitr_backup_last_completion_timestamp_seconds", map[string]string{"type": typ}, nil)
		f.okBad = func(g *gen, v spec.Value) (float64, float64) { return higherIsWorse(g, g.backupDue(v)) }
		return f
	}
	register(map[string]*def{
		"BackupFullTooOld": {expr: overdue("full"), fx: overdueFx("full"), dashboard: DashDatabase,
			describe: "The newest full backup in {{ $labels.instance }}'s repository finished {{ $value | humanizeDuration }} ago (+Inf: there is none); the policy runs one every THRESHOLD."},
		"BackupIncrTooOld": {expr: overdue("incr"), fx: overdueFx("incr"), dashboard: DashDatabase,
			describe: "The newest incremental backup in {{ $labels.instance }}'s repository finished {{ $value | humanizeDuration }} ago (+Inf: there is none); the policy runs one every THRESHOLD."},
		"WALChainBroken": {
			expr: func(g *gen, _ spec.Value) string {
				return fmt.Sprintf(`sum by (job, instance) (pitr_wal_missing_segments%s) > 0`, g.sel("pitr"))
			},
			fx: func() fixture {
				f := gaugeFixture("pitr_wal_missing_segments", pitrLabels, map[string]string{"timeline": "1"}, fixed(0, 3))
				f.labels = pitrLabels // summed over timelines
				return f
			}(),
			dashboard: DashDatabase,
			describe:  "{{ $value }} WAL segments are missing from the archive of {{ $labels.instance }}: recovery cannot replay past the gap."},
		"RPOExceeded": {expr: age("pitr_wal_last_archived_timestamp_seconds", ""), fx: ageFixture("pitr_wal_last_archived_timestamp_seconds", nil, higherIsWorse), dashboard: DashDatabase,
			describe: "The newest archived WAL of {{ $labels.instance }} is {{ $value | humanizeDuration }} old (+Inf: none archived), over the RPO of THRESHOLD (set archive_timeout below it on quiet databases)."},
		"PITRWindowTooShort": {
			expr: func(g *gen, v spec.Value) string {
				// No window at all is exported as a start of 0, or not at all.
				m := "pitr_window_start_timestamp_seconds" + g.sel("pitr")
				return fmt.Sprintf(`time() - %[1]s < %[2]s or %[1]s == 0 or (pitr_up%[3]s == 1 unless on (job, instance) %[1]s) * 0`, m, v.PromQL(), g.sel("pitr"))
			},
			fx: ageFixture("pitr_window_start_timestamp_seconds", nil, lowerIsWorse), dashboard: DashDatabase,
			describe: "Point-in-time recovery of {{ $labels.instance }} reaches back {{ $value | humanizeDuration }}, less than THRESHOLD."},
		"BackupNotEncrypted": {
			expr: func(g *gen, _ spec.Value) string {
				return fmt.Sprintf(`max by (job, instance) (pitr_bucket_encryption_enabled%s) == 0 and on (job, instance) max by (job, instance) (pitr_repository_encrypted%s) == 0`, g.sel("pitr"), g.sel("pitr"))
			},
			fx: fixture{labels: pitrLabels, okBad: fixed(1, 0), series: func(g *gen, segs []seg, step time.Duration) []inputSeries {
				return []inputSeries{
					{series("pitr_bucket_encryption_enabled", pitrLabels(g)), gaugeValues([]seg{{0, total(segs)}}, step, constant)},
					{series("pitr_repository_encrypted", pitrLabels(g)), gaugeValues(segs, step, constant)},
				}
			}},
			dashboard: DashDatabase,
			describe:  "Neither the bucket's default encryption nor the repository cipher protects the backups of {{ $labels.instance }}; the spec asks for AES-256."},
		"BackupCrossRegionCopyStale": {
			expr: func(g *gen, v spec.Value) string {
				return fmt.Sprintf(`pitr_wal_last_archived_timestamp_seconds%s - on (job, instance) pitr_replica_wal_last_archived_timestamp_seconds%s > %s or %s`, g.sel("pitr"), g.sel("pitr"), v.PromQL(), g.never("pitr_replica_wal_last_archived_timestamp_seconds"+g.sel("pitr")))
			},
			fx: fixture{labels: pitrLabels, okBad: higherIsWorse, series: func(g *gen, segs []seg, step time.Duration) []inputSeries {
				return []inputSeries{
					{series("pitr_wal_last_archived_timestamp_seconds", pitrLabels(g)), gaugeValues([]seg{{0, total(segs)}}, step, agoBy)},
					{series("pitr_replica_wal_last_archived_timestamp_seconds", pitrLabels(g)), gaugeValues(segs, step, agoBy)},
				}
			}},
			dashboard: DashDatabase,
			describe:  "The replica bucket of {{ $labels.instance }} (another region) is {{ $value | humanizeDuration }} behind the primary archive (+Inf: no replica is configured or it holds nothing; limit THRESHOLD)."},
		"RestoreTestOverdue": {expr: age("pitr_restore_test_last_success_timestamp_seconds", ""), fx: ageFixture("pitr_restore_test_last_success_timestamp_seconds", nil, higherIsWorse), dashboard: DashDatabase,
			describe: "The last successful restore test of {{ $labels.instance }} was {{ $value | humanizeDuration }} ago (+Inf: never); the spec tests every THRESHOLD."},
	})
}
