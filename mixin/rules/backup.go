package rules

import (
	"fmt"
	"math/big"
	"strings"
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

// tierTarget is each repository's objective from a table by tier (災害
// 復旧計画 / RTO/RPO目標): pitr_repository_info{tier} times its tier's
// value, one series per repository, with its job, instance and tier. A
// repository whose exporter declares no tier of the table (one older than
// the tier label) is held to the critical row, pitr_exporter's default tier,
// and labelled so.
func (g *gen) tierTarget(table map[string]spec.Value) string {
	var parts []string
	for _, tier := range spec.Tiers {
		parts = append(parts, fmt.Sprintf(`pitr_repository_info%s * %s`, g.sel("pitr", fmt.Sprintf(`tier="%s"`, tier)), table[tier].PromQL()))
	}
	return fmt.Sprintf(`%s or on (job, instance) label_replace(pitr_up%s, "tier", "critical", "", "") * 0 + %s`,
		strings.Join(parts, " or "), g.sel("pitr"), table["critical"].PromQL())
}

// TierObjective is tierTarget for the dashboards: the objective each
// repository is held to, as the alerts compute it.
func TierObjective(s *spec.Spec, table map[string]spec.Value) string {
	return (&gen{s: s}).tierTarget(table)
}

// overTier keeps the series of expr (labelled job and instance) that are
// above their repository's row of the table, adding its tier label.
func (g *gen) overTier(expr string, table map[string]spec.Value) string {
	return fmt.Sprintf(`%s > on (job, instance) group_left (tier) (%s)`, expr, g.tierTarget(table))
}

// fixtureTier is the tier of the generated tests' repository: its
// threshold is the critical row (spec.Lookup of a table).
const fixtureTier = "critical"

// tierInfo is pitr_repository_info of a repository of the tier.
func tierInfo(g *gen, tier string, segs []seg, step time.Duration) inputSeries {
	return inputSeries{series("pitr_repository_info", merge(pitrLabels(g), map[string]string{"tool": "pgbackrest", "tier": tier})),
		gaugeValues([]seg{{1, total(segs)}}, step, constant)}
}

// tieredFixture is a per-tier alert's fixture: the metric follows the
// value by c, and the repository declares the critical tier.
func tieredFixture(metric string, extra map[string]string, c curve) fixture {
	return fixture{
		labels: func(g *gen) map[string]string {
			return merge(pitrLabels(g), extra, map[string]string{"tier": fixtureTier})
		},
		okBad: higherIsWorse,
		series: func(g *gen, segs []seg, step time.Duration) []inputSeries {
			return []inputSeries{
				{series(metric, merge(pitrLabels(g), extra)), gaugeValues(segs, step, c)},
				tierInfo(g, fixtureTier, segs, step),
			}
		},
	}
}

// The restore tests' metrics (pitr_exporter restore-test): each kind
// ("backup": the newest backup restored to its end, the spec's 自動検証
// 実行; "pitr": recovery to a random second of the window, its 自動テスト
// 実行) has its record.
const (
	restoreSuccessTime = "pitr_restore_test_last_success_timestamp_seconds"
	restoreSuccess     = "pitr_restore_test_success"
	restoreOutcome     = "pitr_restore_test_last_outcome"
	restoreRTO         = "pitr_restore_test_rto_seconds"
)

func init() {
	// overdue: a timestamp older than its interval plus the allowed delay,
	// both as the spec writes them, or none at all.
	overdue := func(metric, label, value string) func(*gen, spec.Value) string {
		return func(g *gen, v spec.Value) string {
			m := metric + g.sel("pitr", fmt.Sprintf(`%s="%s"`, label, value))
			return fmt.Sprintf(`time() - %s > %s + %s or %s`, m, v.PromQL(), g.s.Thresholds["backup_delay"].Warning.PromQL(), g.never(m))
		}
	}
	overdueFx := func(metric, label, value string) fixture {
		f := ageFixture(metric, map[string]string{label: value}, nil)
		f.okBad = func(g *gen, v spec.Value) (float64, float64) { return higherIsWorse(g, g.backupDue(v)) }
		return f
	}
	const backupDone = "pitr_backup_last_completion_timestamp_seconds"
	register(map[string]*def{
		"BackupFullTooOld": {expr: overdue(backupDone, "type", "full"), fx: overdueFx(backupDone, "type", "full"), dashboard: DashDatabase,
			describe: "The newest full backup in {{ $labels.instance }}'s repository finished {{ $value | humanizeDuration }} ago (+Inf: there is none); the policy runs one every THRESHOLD."},
		"BackupIncrTooOld": {expr: overdue(backupDone, "type", "incr"), fx: overdueFx(backupDone, "type", "incr"), dashboard: DashDatabase,
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
		// Each repository against its own tier's RPO; one that archived no
		// WAL at all is infinitely old, whatever its tier.
		"RPOExceeded": {
			expr: func(g *gen, _ spec.Value) string {
				m := "pitr_wal_last_archived_timestamp_seconds" + g.sel("pitr")
				return g.overTier(fmt.Sprintf(`(time() - %s or %s)`, m, g.never(m)), g.s.Backup.RPO)
			},
			fx: tieredFixture("pitr_wal_last_archived_timestamp_seconds", nil, agoBy), dashboard: DashDatabase,
			describe: "The newest archived WAL of {{ $labels.instance }} is {{ $value | humanizeDuration }} old (+Inf: none archived), over the RPO of its tier, {{ $labels.tier }} (by tier: TIERS; set archive_timeout below it on quiet databases)."},
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
		// None ever recorded is infinitely old.
		"RestoreTestOverdue": {
			expr: func(g *gen, v spec.Value) string {
				// The quarter's test is a point-in-time recovery: a backup
				// restored to its own end (kind backup, daily) replays no
				// WAL and does not stand for it.
				m := restoreSuccessTime + g.sel("pitr", `kind="pitr"`)
				return fmt.Sprintf(`time() - max by (job, instance) (%s) > %s or %s`, m, v.PromQL(), g.never(m))
			},
			fx: func() fixture {
				f := ageFixture(restoreSuccessTime, map[string]string{"kind": "pitr"}, higherIsWorse)
				f.labels = pitrLabels // aggregated to the repository
				return f
			}(),
			dashboard: DashDatabase,
			describe:  "The last successful point-in-time restore test of {{ $labels.instance }} was {{ $value | humanizeDuration }} ago (+Inf: never); the spec tests every THRESHOLD."},
		// The last attempt of a kind failed: its outcome (the one
		// pitr_restore_test_last_outcome series at 1) names why. A failure
		// whose outcome series is missing still fires, without it.
		"RestoreTestFailed": {
			expr: func(g *gen, _ spec.Value) string {
				failed := fmt.Sprintf(`%s%s == 0`, restoreSuccess, g.sel("pitr"))
				return fmt.Sprintf(`(%[1]s) * on (job, instance, kind) group_left (outcome) (%[2]s%[3]s == 1) or on (job, instance, kind) %[1]s`,
					failed, restoreOutcome, g.sel("pitr"))
			},
			fx: fixture{
				labels: func(g *gen) map[string]string {
					return merge(pitrLabels(g), map[string]string{"kind": "backup", "outcome": "restore_failed"})
				},
				okBad: fixed(1, 0),
				series: func(g *gen, segs []seg, step time.Duration) []inputSeries {
					kind := merge(pitrLabels(g), map[string]string{"kind": "backup"})
					outcome := func(o string) map[string]string { return merge(kind, map[string]string{"outcome": o}) }
					return []inputSeries{
						{series(restoreSuccess, kind), gaugeValues(segs, step, constant)},
						{series(restoreOutcome, outcome("success")), gaugeValues(segs, step, constant)},
						{series(restoreOutcome, outcome("restore_failed")), gaugeValues(segs, step, func(v, _ float64) float64 { return 1 - v })},
					}
				},
			},
			dashboard: DashDatabase,
			describe: "The last {{ $labels.kind }} restore test of {{ $labels.instance }} " +
				`({{ if eq $labels.kind "backup" }}the newest backup restored to its end{{ else if eq $labels.kind "pitr" }}recovery to a random second of the PITR window{{ else }}kind {{ $labels.kind }}{{ end }}) ` +
				"failed: {{ $labels.outcome }}. Until a test succeeds the backups are not known to restore."},
		// Verification is the restore test of kind backup: a success of
		// the other kind does not verify the newest backup.
		"BackupVerificationOverdue": {expr: overdue(restoreSuccessTime, "kind", "backup"), fx: overdueFx(restoreSuccessTime, "kind", "backup"), dashboard: DashDatabase,
			describe: "The newest backup of {{ $labels.instance }} was last verified (restored to its end and checked) {{ $value | humanizeDuration }} ago (+Inf: never); the suite verifies it every THRESHOLD."},
		// The measured RTO (fetch, replay and check of the last successful
		// test of a kind) against the repository's tier.
		"RestoreRTOExceeded": {
			expr: func(g *gen, _ spec.Value) string {
				return g.overTier(restoreRTO+g.sel("pitr"), g.s.Backup.RTO)
			},
			fx: tieredFixture(restoreRTO, map[string]string{"kind": "pitr"}, constant), dashboard: DashDatabase,
			describe: "The last successful {{ $labels.kind }} restore test of {{ $labels.instance }} took {{ $value | humanizeDuration }} to fetch, replay and check, over the RTO of its tier, {{ $labels.tier }} (by tier: TIERS)."},
	})
}
