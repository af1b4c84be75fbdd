package monitor

import (
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/restore"
	"github.com/hotel-ops/hotel-ops/internal/descset"
)

const namespace = "pitr"

var descs = descset.New(namespace)

func newDesc(name, help string, labels ...string) *prometheus.Desc {
	return descs.Desc(name, help, labels...)
}

// Descriptors returns every pitr_* descriptor, for the mixin's check that
// each metric a rule uses is produced.
func Descriptors() []*prometheus.Desc { return descs.All() }

var (
	upDesc          = newDesc("up", "Whether the last refresh of the repository succeeded (1) or not (0); the other figures are from the last success.")
	lastSuccessDesc = newDesc("refresh_last_success_timestamp_seconds", "When the repository was last refreshed successfully.")
	durationDesc    = newDesc("refresh_duration_seconds", "How long the last refresh took.")
	failuresDesc    = newDesc("refresh_errors_total", "Failed refreshes, by check (repository, replica, bucket, restore_test: a restore test's record that could not be read).", "check")
	requestsDesc    = newDesc("s3_requests_total", "HTTP requests to S3, by operation.", "operation")
	requestErrDesc  = newDesc("s3_request_errors_total", "Failed HTTP requests to S3, by operation.", "operation")

	lastCompletionDesc = newDesc("backup_last_completion_timestamp_seconds", "When the newest backup of the type completed.", "type")
	lastDurationDesc   = newDesc("backup_last_duration_seconds", "How long the newest backup of the type took.", "type")
	lastSizeDesc       = newDesc("backup_last_size_bytes", "Database size in the newest backup of the type.", "type")
	countDesc          = newDesc("backups", "Backups of the type retained.", "type")
	oldestDesc         = newDesc("backup_oldest_completion_timestamp_seconds", "When the oldest retained backup of the type completed.", "type")
	nextDueDesc        = newDesc("backup_next_due_timestamp_seconds", "When the next backup of the type is due by the policy's schedule.", "type")
	retentionDesc      = newDesc("backup_retention_seconds", "How long the policy keeps backups of the type.", "type")
	encryptedRepoDesc  = newDesc("repository_encrypted", "Whether the repository itself is encrypted by the backup tool (pgBackRest repo cipher).")

	walLastDesc     = newDesc("wal_last_archived_timestamp_seconds", "When the newest WAL segment by position on the chain was archived (its object's time when first seen; a later copy does not move it): the RPO is now minus this.")
	walMissingDesc  = newDesc("wal_missing_segments", "WAL segments missing from the chain that recovery from the oldest retained backup to the newest segment replays.", "timeline")
	walSegmentsDesc = newDesc("wal_segments", "Archived WAL segment objects.")
	walTimelineDesc = newDesc("wal_timeline", "The newest timeline with archived WAL or a history file.")
	walDeletedDesc  = newDesc("wal_deleted_segments_total", "WAL segments found deleted from the range recovery needs (from the oldest retained backup's WAL start on), by the re-check or a complete listing.")
	walRecheckDesc  = newDesc("wal_recheck_last_complete_timestamp_seconds", "When the last re-check pass over the range recovery needs ended (or the last complete listing); under recheck_within plus a refresh ago while refreshes succeed.")
	windowStartDesc = newDesc("window_start_timestamp_seconds", "The earliest point recoverable to: the end of the oldest backup whose WAL chain to the newest segment is unbroken; absent when there is no such backup.")
	windowEndDesc   = newDesc("window_end_timestamp_seconds", "The latest point recoverable to: the newest archived WAL; absent when no backup's chain reaches it.")
	windowGoalDesc  = newDesc("window_target_seconds", "The PITR window the policy asks for.")
	rpoGoalDesc     = newDesc("rpo_target_seconds", "The recovery point objective the policy asks for.")

	bucketEncDesc     = newDesc("bucket_encryption_enabled", "Whether the bucket has default server-side encryption.")
	bucketEncAlgDesc  = newDesc("bucket_encryption_info", "The bucket's default encryption algorithm.", "algorithm")
	bucketVerDesc     = newDesc("bucket_versioning_enabled", "Whether the bucket has versioning enabled.")
	bucketCheckedDesc = newDesc("bucket_last_check_timestamp_seconds", "When the bucket's settings were last read successfully.")
	replicaWALDesc    = newDesc("replica_wal_last_archived_timestamp_seconds", "When the newest WAL segment arrived in the replica bucket (another region).")

	repositoryInfoDesc = newDesc("repository_info", "The repository's backup tool and its tier in the spec's RTO/RPO table.", "tool", "tier")
	rtoGoalDesc        = newDesc("rto_target_seconds", "The recovery time objective the policy asks for (the tier's by default).")

	restoreSuccessTimeDesc = newDesc("restore_test_last_success_timestamp_seconds", "When the last successful restore test of the kind finished.", "kind")
	restoreAttemptTimeDesc = newDesc("restore_test_last_attempt_timestamp_seconds", "When the last restore test of the kind finished, whatever its outcome.", "kind")
	restoreSuccessDesc     = newDesc("restore_test_success", "Whether the last restore test of the kind succeeded (1) or not (0).", "kind")
	restoreOutcomeDesc     = newDesc("restore_test_last_outcome", "The outcome of the last restore test of the kind: 1 for its outcome, 0 for the others.", "kind", "outcome")
	restoreDurationDesc    = newDesc("restore_test_duration_seconds", "How long each phase of the last restore test of the kind took: fetch (the backup's files), replay (WAL to the target), check (the queries).", "kind", "phase")
	restoreRTODesc         = newDesc("restore_test_rto_seconds", "The measured RTO: fetch, replay and check of the last successful restore test of the kind.", "kind")
	restoreTargetDesc      = newDesc("restore_test_target_timestamp_seconds", "The point the last restore test of the kind recovered to.", "kind")
	restoreGapDesc         = newDesc("restore_test_recovery_gap_seconds", "How far before its target the last successful restore test's last replayed transaction committed.", "kind")
)

// Describe implements prometheus.Collector.
func (m *Monitor) Describe(ch chan<- *prometheus.Desc) { descs.Describe(ch) }

// Collect serves the latest results; it never touches S3.
func (m *Monitor) Collect(ch chan<- prometheus.Metric) {
	s := m.Snapshot()
	g := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	c := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	up := 0.0
	if s.Healthy {
		up = 1
	}
	g(upDesc, up)
	g(lastSuccessDesc, ts(s.LastOK))
	g(durationDesc, s.Duration.Seconds())
	for k, v := range s.Failures {
		c(failuresDesc, v, k)
	}
	reqs, errs := m.Stats.Snapshot()
	for op, v := range reqs {
		c(requestsDesc, v, op)
		c(requestErrDesc, errs[op], op)
	}
	p := m.cfg.Policy
	g(windowGoalDesc, time.Duration(p.PITRWindow).Seconds())
	g(rpoGoalDesc, time.Duration(p.RPO).Seconds())
	g(rtoGoalDesc, time.Duration(p.RTO).Seconds())
	g(repositoryInfoDesc, 1, m.cfg.Repository.Type, m.cfg.Repository.Tier)
	for typ, sch := range p.Backups {
		g(retentionDesc, time.Duration(sch.Retention).Seconds(), typ)
	}

	if st := s.State; st != nil {
		type agg struct {
			n            int
			last, oldest int
		}
		byType := map[string]*agg{}
		for i, b := range st.Backups {
			a := byType[b.Type]
			if a == nil {
				a = &agg{oldest: i}
				byType[b.Type] = a
			}
			a.n++
			a.last = i
		}
		for typ, sch := range p.Backups {
			var lastStart time.Time
			if a := byType[typ]; a != nil {
				lastStart = st.Backups[a.last].Start
			}
			g(nextDueDesc, ts(p.NextDue(sch, lastStart, st.Time)), typ)
		}
		for _, typ := range []string{"full", "diff", "incr"} {
			a := byType[typ]
			if a == nil {
				g(countDesc, 0, typ)
				continue
			}
			last, oldest := st.Backups[a.last], st.Backups[a.oldest]
			g(countDesc, float64(a.n), typ)
			g(lastCompletionDesc, ts(last.Stop), typ)
			g(lastDurationDesc, last.Stop.Sub(last.Start).Seconds(), typ)
			g(lastSizeDesc, float64(last.Size), typ)
			g(oldestDesc, ts(oldest.Stop), typ)
		}
		g(encryptedRepoDesc, boolf(st.Encrypted))
		g(walLastDesc, ts(st.NewestWALTime))
		g(walSegmentsDesc, float64(st.Segments))
		g(walTimelineDesc, float64(st.NewestTimeline))
		for tl, n := range st.Missing {
			g(walMissingDesc, float64(n), strconv.FormatUint(uint64(tl), 10))
		}
		if len(st.Missing) == 0 && st.NewestTimeline > 0 {
			g(walMissingDesc, 0, strconv.FormatUint(uint64(st.NewestTimeline), 10))
		}
		c(walDeletedDesc, float64(st.DeletedSegments))
		g(walRecheckDesc, ts(st.RecheckComplete))
		if !st.WindowStart.IsZero() { // no window, no series: 0 would read as a real time
			g(windowStartDesc, ts(st.WindowStart))
			g(windowEndDesc, ts(st.WindowEnd))
		}
	}
	if !s.Bucket.Checked.IsZero() {
		g(bucketEncDesc, boolf(s.Bucket.Encrypted))
		if s.Bucket.EncryptionAlgorithm != "" {
			g(bucketEncAlgDesc, 1, s.Bucket.EncryptionAlgorithm)
		}
		g(bucketVerDesc, boolf(s.Bucket.Versioned))
		g(bucketCheckedDesc, ts(s.Bucket.Checked))
	}
	m.collectRestoreTests(s.Bucket.RestoreTests, g)
	if s.HasReplica && !s.Replica.Listed.IsZero() {
		g(replicaWALDesc, ts(s.Replica.NewestWALTime))
	}
}

// ts is a time in seconds, 0 for the zero time ("never").
func ts(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}

func boolf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// collectRestoreTests exports each kind's record; a kind never run has no
// series, which the rules read as "never".
func (m *Monitor) collectRestoreTests(tests map[string]restore.Record, g func(*prometheus.Desc, float64, ...string)) {
	for kind, rec := range tests {
		last := rec.LastAttempt
		g(restoreAttemptTimeDesc, ts(last.Finished), kind)
		g(restoreSuccessDesc, boolf(last.Outcome == restore.OutcomeSuccess), kind)
		outcome := last.Outcome
		if !slices.Contains(restore.Outcomes, outcome) {
			outcome = restore.OutcomeError // a newer writer's reason: still one series each
		}
		for _, o := range restore.Outcomes {
			g(restoreOutcomeDesc, boolf(o == outcome), kind, o)
		}
		g(restoreDurationDesc, last.Phases.Fetch, kind, "fetch")
		g(restoreDurationDesc, last.Phases.Replay, kind, "replay")
		g(restoreDurationDesc, last.Phases.Check, kind, "check")
		if !last.Target.IsZero() {
			g(restoreTargetDesc, ts(last.Target), kind)
		}
		if ok := rec.LastSuccess; ok != nil {
			g(restoreSuccessTimeDesc, ts(ok.Finished), kind)
			g(restoreRTODesc, ok.Phases.RTO(), kind)
			if !ok.Recovered.IsZero() && !ok.Target.IsZero() {
				g(restoreGapDesc, ok.Target.Sub(ok.Recovered).Seconds(), kind)
			}
		}
	}
}
