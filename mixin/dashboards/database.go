package dashboards

//lint:file-ignore SA1019 The v1 dashboard model is what every Grafana imports; dashboardv2 needs Grafana 12 with a feature flag.

import (
	"fmt"
	"math/big"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"

	"github.com/hotel-ops/hotel-ops/mixin/rules"
	"github.com/hotel-ops/hotel-ops/mixin/spec"
)

// database is PostgreSQL and its backups (データベース監視, バックアップ・
// 復旧戦略): replication, connections, slow queries and WAL archiving
// from pgha_exporter; backup ages, RPO, the WAL chain, the PITR window,
// encryption and the cross-region copy from pitr_exporter.
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
		"PostgreSQL replication, connections, slow queries and WAL archiving (pgha_exporter); backups and point-in-time recovery (pitr_exporter), against the threshold spec ("+s.Source+"). Spec: "+bk.Section+".",
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
		WithPanel(slowQueries(s)).
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
			q(fmt.Sprintf(`time() - pitr_wal_last_archived_timestamp_seconds%s`, pitr), "{{instance}}"))).
			Thresholds(above(rpo)).
			Description("Data lost if the primary vanished now, held to the critical tier's RPO. RPO by tier: " + tiers(bk.RPO) + ". Spec: 災害復旧計画 / RPO."))
	if bk.CrossRegion {
		b = b.WithPanel(lines(timeSeries("Cross-region copy lag", "s", 12,
			q(fmt.Sprintf(`pitr_wal_last_archived_timestamp_seconds%s - on (job, instance) pitr_replica_wal_last_archived_timestamp_seconds%s`, pitr, pitr), "{{instance}}"))).
			Thresholds(above(rpo)).
			Description("How far the replica bucket in the other region is behind the primary archive; held to the critical RPO of " + rpo.Human() + "."))
	}
	return b
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
func tiers(m map[string]spec.Value) string {
	var out []string
	for _, k := range []string{"critical", "high", "medium", "low"} {
		if v, ok := m[k]; ok {
			out = append(out, k+" "+v.Human())
		}
	}
	return strings.Join(out, ", ")
}
