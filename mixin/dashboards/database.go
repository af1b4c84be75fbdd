package dashboards

//lint:file-ignore SA1019 The v1 dashboard model is what every Grafana imports; dashboardv2 needs Grafana 12 with a feature flag.

import (
	"fmt"
	"math/big"

	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"

	"github.com/hotel-ops/hotel-ops/mixin/rules"
	"github.com/hotel-ops/hotel-ops/mixin/spec"
)

// database is PostgreSQL and its backups (データベース監視, バックアップ・
// 復旧戦略): replication, connections, slow queries, PgBouncer's pools and
// WAL archiving from pgha_exporter; backup ages, RPO, the WAL chain, the PITR window,
// encryption, the cross-region copy and the restore tests from
// pitr_exporter.
func database(s *spec.Spec) *dashboard.DashboardBuilder {
	pg, pitr := sel(s, "pgha"), sel(s, "pitr")
	th := s.Thresholds
	bk := s.Backup
	rpo := bk.RPO["critical"]
	// The RPO graph takes half the width when the cross-region copy's
	// graph sits next to it, all of it when the spec asks for no copy.
	rpoWidth := uint32(24)
	if bk.CrossRegion {
		rpoWidth = 12
	}

	b := newBoard(s, rules.DashDatabase, "Hotel Ops / Database and PITR",
		"PostgreSQL replication, connections, slow queries and WAL archiving, PgBouncer's pools (pgha_exporter); backups and point-in-time recovery (pitr_exporter), against the threshold spec ("+s.Source+"). Spec: "+bk.Section+".",
		"now-6h").
		WithRow(row("Replication")).
		WithPanel(lines(against(timeSeries("Standby lag", "", 8, q("pgha_standby_lag_seconds"+pg, "{{instance}}")), th["replication_lag"])).
			Description("How far each standby is behind its primary; 0 while it has replayed everything (an idle primary gives 0). Spec: " + th["replication_lag"].Section + ".")).
		WithPanel(lines(against(timeSeries("Replay lag per standby", "", 8,
			q("pgha_replication_replay_lag_seconds"+pg, "{{instance}} → {{application_name}}")), th["replication_lag"])).
			Description("Seen from the primary: the time recent WAL takes to be replayed on each standby (pg_stat_replication.replay_lag). Spec: " + th["replication_lag"].Section + ".")).
		WithPanel(timeSeries("Replication slot retained WAL", "bytes", 8,
			q("pgha_replication_slot_retained_bytes"+pg, "{{instance}} {{slot_name}}")).
			Description("WAL kept on disk for each replication slot: an abandoned slot grows until the disk fills.")).
		WithRow(row("Connections and queries")).
		WithPanel(timeSeries("Connections by state", "short", 8,
			q(fmt.Sprintf(`sum by (instance, state) (pgha_connections%s)`, pg), "{{instance}} {{state}}"),
			q("pgha_max_connections"+pg, "{{instance}} max_connections")).
			Description("Client connections by state, and the max_connections they are counted against.")).
		WithPanel(lines(against(timeSeries("Connections / max_connections", "", 8,
			q(fmt.Sprintf(`sum by (job, instance) (pgha_connections%s) / on (job, instance) pgha_max_connections%s`, pg, pg), "{{instance}}")),
			th["db_connections"])).
			Description("Share of max_connections in use, as the PostgresConnections alerts compute it. Spec: " + th["db_connections"].Section + ".")).
		WithPanel(slowQueries(s))
	b = pgbouncer(s, b).
		WithRow(row("WAL archiving")).
		WithPanel(timeSeries("WAL archiving", "short", 24,
			q(fmt.Sprintf(`increase(pgha_archiver_failed_total%s[%s])`, pg, rateInterval), "{{instance}} failed attempts"),
			q("pgha_archiver_pending_segments"+pg, "{{instance}} segments waiting")).
			Description("Failed archive_command attempts per interval and WAL segments waiting to be archived: failures with a growing queue mean archiving is stuck, and the RPO with it.")).
		WithRow(row("Backups and point-in-time recovery")).
		WithPanel(backupAge(s)).
		WithPanel(statPanel("Missing WAL segments", "short", 4,
			q(fmt.Sprintf(`sum by (instance) (pitr_wal_missing_segments%s)`, pitr), "{{instance}}")).
			// One missing segment already stops recovery at the gap.
			Thresholds(steps("green", step{1, "red"})).
			Description("WAL segments missing from the chain recovery replays: recovery cannot pass a gap.")).
		// The start is 0 while no backup's chain is unbroken: end − 0
		// would claim a window reaching back to 1970.
		WithPanel(statPanel("PITR window", "s", 4,
			q(fmt.Sprintf(`(pitr_window_end_timestamp_seconds%s - pitr_window_start_timestamp_seconds%s) and on (job, instance) pitr_window_start_timestamp_seconds%s > 0`, pitr, pitr, pitr), "{{instance}}")).
			Thresholds(atLeast(bk.PITRWindow)).
			Description("How far back point-in-time recovery reaches: from the oldest backup with an unbroken WAL chain to the newest WAL (no value while no chain is unbroken). Target " + bk.PITRWindow.Human() + ".")).
		WithPanel(statPanel("Encryption (spec: "+bk.Encryption+")", "none", 8,
			q("pitr_bucket_encryption_enabled"+pitr, "bucket default encryption {{instance}}"),
			q("pitr_repository_encrypted"+pitr, "repository cipher {{instance}}")).
			Mappings(onOff()).
			GraphMode(common.BigValueGraphModeNone).
			Description("Whether the bucket encrypts objects by default and whether the backup tool encrypts the repository; the BackupNotEncrypted alert fires when neither does.")).
		WithPanel(lines(timeSeries("RPO: age of the newest archived WAL", "s", rpoWidth,
			q(fmt.Sprintf(`time() - pitr_wal_last_archived_timestamp_seconds%s`, pitr), "{{instance}}"),
			q(rules.TierObjective(s, bk.RPO), "{{instance}} RPO ({{tier}} tier)"))).
			Thresholds(above(rpo)).
			Description("Data lost if the primary vanished now, against the RPO of each repository's tier (pitr_repository_info{tier}), as RPOExceeded holds it; the line is the critical tier's. RPO by tier: " + tiers(bk.RPO) + ". Spec: 災害復旧計画 / RTO/RPO目標."))
	if bk.CrossRegion {
		b = b.WithPanel(lines(timeSeries("Cross-region copy lag", "s", 12,
			q(fmt.Sprintf(`pitr_wal_last_archived_timestamp_seconds%s - on (job, instance) pitr_replica_wal_last_archived_timestamp_seconds%s`, pitr, pitr), "{{instance}}"))).
			Thresholds(above(rpo)).
			Description("How far the replica bucket in the other region is behind the primary archive; held to the critical RPO of " + rpo.Human() + "."))
	}
	return restoreTests(s, b.WithRow(row("Restore tests")))
}

// restoreTests are the restore tests of pitr_exporter restore-test, by
// kind: "backup" restores the newest backup to its end (増分バックアップ /
// 自動検証実行), "pitr" recovers to a random second of the window (Point-
// in-Time Recovery / 自動テスト実行). Their last outcome, the age of their
// last success, the measured RTO against the tier's and how long each
// phase of the last attempt took.
func restoreTests(s *spec.Spec, b *dashboard.DashboardBuilder) *dashboard.DashboardBuilder {
	pitr := sel(s, "pitr")
	bk := s.Backup
	return b.
		// The outcome's name, green when it is success: the success flag
		// carries the outcome label of the one outcome series at 1.
		WithPanel(statPanel("Restore tests: last outcome", "none", 12,
			q(fmt.Sprintf(`max by (instance, kind, outcome) (pitr_restore_test_success%s * on (job, instance, kind) group_left (outcome) (pitr_restore_test_last_outcome%s == 1))`, pitr, pitr),
				"{{kind}} {{instance}}: {{outcome}}")).
			Thresholds(steps("red", step{1, "green"})).
			TextMode(common.BigValueTextModeName).
			ColorMode(common.BigValueColorModeBackground).
			GraphMode(common.BigValueGraphModeNone).
			Description("The outcome of the last restore test of each kind: backup restores the newest backup to its end (spec: 増分バックアップ / 自動検証実行), pitr recovers to a random second of the PITR window (Point-in-Time Recovery / 自動テスト実行). Red is a failure (RestoreTestFailed); no value for a kind never run.")).
		WithPanel(restoreTestAge(s)).
		WithPanel(timeSeries("Measured RTO vs the tier's objective", "s", 12,
			q("pitr_restore_test_rto_seconds"+pitr, "{{kind}} {{instance}} measured"),
			q(rules.TierObjective(s, bk.RTO), "{{instance}} RTO ({{tier}} tier)")).
			Description("Fetch, replay and check of the last successful restore test of each kind (the measured RTO), against the RTO of the repository's tier, as RestoreRTOExceeded holds it. RTO by tier: " + tiers(bk.RTO) + ". Spec: 災害復旧計画 / RTO/RPO目標; 復旧テスト / 評価項目: RTO/RPO達成度.")).
		WithPanel(timeSeries("Restore test phases", "s", 12,
			q("pitr_restore_test_duration_seconds"+pitr, "{{kind}} {{instance}} {{phase}}")).
			Description("How long each phase of the last restore test of each kind took, whatever its outcome: fetch (the backup's files), replay (WAL to the target), check (the queries on the recovered database)."))
}

// restoreTestAge is the time since each kind's last successful restore
// test: kind backup held to the daily verification (yellow once its
// interval has passed, red once backup_delay has too, when
// BackupVerificationOverdue fires), every kind to the quarter's test.
func restoreTestAge(s *spec.Spec) *stat.PanelBuilder {
	bk := s.Backup
	delay := s.Thresholds["backup_delay"].Warning
	late, _ := new(big.Rat).Add(bk.VerifyEvery.Rat(), delay.Rat()).Float64()
	return statPanel("Restore tests: age of the last success", "s", 12,
		q(fmt.Sprintf(`time() - pitr_restore_test_last_success_timestamp_seconds%s`, sel(s, "pitr")), "{{kind}} {{instance}}")).
		Thresholds(above(bk.RestoreTestEvery)).
		OverrideByRegexp("^backup ", thresholdsOverride(steps("green", step{bk.VerifyEvery.Float(), "yellow"}, step{late, "red"}))).
		Description(fmt.Sprintf("Time since the last successful restore test of each kind: the backups are verified every %s (allowed %s late), and a point-in-time test (kind pitr) succeeds every %s (spec: 災害復旧計画 / 復旧テスト / 四半期毎). No value for a kind never run; the alerts count that as overdue.",
			bk.VerifyEvery.Human(), delay.Human(), bk.RestoreTestEvery.Human()))
}

// slowQueries counts queries running longer than the spec's two levels:
// pgha_exporter labels each of its --slow-query.threshold values in
// seconds, as the alerts select them.
func slowQueries(s *spec.Spec) *timeseries.PanelBuilder {
	t := s.Thresholds["slow_query"]
	var qs []query
	for _, v := range []spec.Value{t.Warning, t.Critical} {
		if v.IsZero() {
			continue
		}
		qs = append(qs, q(fmt.Sprintf(`sum by (instance) (pgha_queries_running_longer_than%s)`,
			sel(s, "pgha", fmt.Sprintf(`threshold_seconds="%s"`, v.PromQL()))), "{{instance}} > "+v.Human()))
	}
	return timeSeries("Slow queries", "short", 8, qs...).
		Description("Active queries running longer than the spec's warning and critical levels. Spec: " + t.Section + ".")
}

// backupAge is the age of the newest backup of each type, each type held
// to its own schedule: yellow once its interval has passed, red once the
// allowed delay (backup_delay) has passed too, when the alert fires.
func backupAge(s *spec.Spec) *stat.PanelBuilder {
	p := statPanel("Backup age by type", "s", 8,
		q(fmt.Sprintf(`time() - pitr_backup_last_completion_timestamp_seconds%s`, sel(s, "pitr")), "{{type}} {{instance}}"))
	delay := s.Thresholds["backup_delay"].Warning
	for _, typ := range []struct {
		name   string
		policy spec.BackupPolicy
	}{{"full", s.Backup.Full}, {"incr", s.Backup.Incr}} {
		every := typ.policy.Every
		late := new(big.Rat).Add(every.Rat(), delay.Rat())
		f, _ := late.Float64()
		p.OverrideByRegexp("^"+typ.name+" ", thresholdsOverride(steps("green", step{every.Float(), "yellow"}, step{f, "red"})))
	}
	return p.Description(fmt.Sprintf("Time since the newest backup of each type completed: full every %s, incremental every %s, each allowed %s late. Spec: %s.",
		s.Backup.Full.Every.Human(), s.Backup.Incr.Every.Human(), delay.Human(), s.Backup.Section))
}

// tiers lists recovery objectives by tier, most critical first.
func tiers(m map[string]spec.Value) string { return spec.TierList(m) }
