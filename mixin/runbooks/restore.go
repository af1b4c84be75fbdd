package runbooks

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/hotel-ops/hotel-ops/mixin/rules"
	"github.com/hotel-ops/hotel-ops/mixin/spec"
)

// What the on-call does about the restore tests' alerts and the per-tier
// objectives, beyond the flow's diagnosis: read the test's own record,
// act on its outcome, run one on demand. The record and the command are
// pitr_exporter's (exporters/pitr_exporter/README.md).

// Where pitr_exporter restore-test records each kind's result (its
// restore_test.result_prefix, by default next to the repository), and how
// to run one: as the database's OS user, never root.
const (
	recordCmd = "aws s3 cp s3://<bucket>/<result_prefix><kind>.json -   # result_prefix: <repository.path without its leading />/hotel-ops/restore-test/<stanza>/"
	rerunCmd  = "runuser -u postgres -- pitr_exporter restore-test --config.file=/etc/pitr_exporter/pitr.yml --kind=<kind>"
)

func link(alert string) string { return fmt.Sprintf("[%s](#%s)", alert, rules.Anchor(alert)) }

// readRecord reads the record of a kind: a step of every restore-test
// alert.
func readRecord(kind string) string {
	return fmt.Sprintf("Read the test's record (the bucket and path of the exporter's configuration; `restore_test.result_prefix` when set, and every run is kept under `history/<kind>/` beside it):\n\n"+
		"   ```sh\n   %s\n   ```\n\n"+
		"   `last_attempt` holds the outcome, pgBackRest's or PostgreSQL's message, the backup restored, the target, each phase's seconds and each check's value; `last_success` the last test that passed", strings.Replace(recordCmd, "<kind>", kind, 1))
}

// rerun is the last step: a test on demand, which the alert sees at the
// exporter's next refresh.
func rerun(kind string) string {
	cmd := strings.Replace(rerunCmd, "<kind>", kind, 1)
	return fmt.Sprintf("Once the cause is fixed, run a test now (kind `pitr` recovers to a random moment of the window, `--target=<RFC 3339>` to a given one; `backup` restores the newest backup to its end). It prints the result as JSON, records it, and exits 0 on success (1 on a failure, or when it could not record it; 1 without recording anything when a scheduled test holds the scratch directory: wait for it); the alert resolves once pitr_exporter reads the bucket again (every `refresh.bucket_check_interval`):\n\n"+
		"   ```sh\n   %s\n   ```", cmd)
}

// steps are the alert's own steps, in order; none for most alerts.
func steps(s *spec.Spec, alert string) []string {
	bk := s.Backup
	delay := s.Thresholds["backup_delay"].Warning
	switch alert {
	case "RestoreTestFailed":
		return []string{
			readRecord("<kind>") + ". Its outcome is the alert's `outcome` label, its kind the `kind` label.",
			"Act on the outcome:\n" +
				"   - `restore_failed`: pgBackRest could not restore the backup; its own message is in `last_attempt.message` (files missing or corrupt in the repository, a wrong cipher pass). Run `runuser -u postgres -- pgbackrest --config=<restore_test.pgbackrest_config> --stanza=<stanza> info` and the same with `verify`; treat that backup as not restorable and take a new full backup once the cause is fixed (" + link("BackupFullTooOld") + ").\n" +
				"   - `recovery_incomplete`: recovery ended before its target: WAL is missing or unreadable in the archive. Follow " + link("WALChainBroken") + "; point-in-time recovery stops at the gap.\n" +
				"   - `disk_space`: the scratch disk (`restore_test.scratch_dir`) had no room for the restore and `restore_test.keep_free`, so the test refused or stopped. Free or grow that disk; the next test removes what an earlier run left there.\n" +
				"   - `timeout`: the test passed its deadline (`restore_test.deadline`, by default the tier's RTO): a real recovery would miss the RTO too. See " + link("RestoreRTOExceeded") + " and the phases on the dashboard.\n" +
				"   - `start_failed`: PostgreSQL did not start on the restored files; the message ends with its log. Check `restore_test.pg_bindir` (the server's major version) and `restore_test.settings`.\n" +
				"   - `check_failed`: a check query failed or saw the wrong data; `last_attempt.checks` lists each with its value. Data older than it should be means the backups are behind.\n" +
				"   - `no_window`: there was nothing to recover into (no backup with an unbroken WAL chain): follow " + link("PITRWindowTooShort") + ".\n" +
				"   - `error`: anything else (reading the repository, the scratch directory): the message says.",
			rerun("<kind>"),
		}
	case "BackupVerificationOverdue":
		return []string{
			fmt.Sprintf("No restore test of kind `backup` (the newest backup restored to its end and checked) has succeeded for %s and its %s of allowed delay. If %s fires too, the tests run and fail: follow it. Otherwise the verifier does not run: check its schedule (`pitr_exporter restore-test --kind=backup --schedule=...` as a service, or its timer) and its host.", bk.VerifyEvery.Human(), delay.Human(), link("RestoreTestFailed")),
			readRecord("backup") + ". +Inf, or no record: no verification was ever recorded for this repository (never set up, or it writes under another `result_prefix` than the exporter reads; `restore-test` restores pgBackRest repositories only).",
			rerun("backup"),
		}
	case "RestoreTestOverdue":
		return []string{
			fmt.Sprintf("No point-in-time restore test (kind `pitr`) has succeeded for %s (復旧テスト: 四半期毎). The daily verification of kind `backup` (every %s, see %s) does not count: it restores a backup to its own end and replays no WAL. Check the `pitr` test's schedule, and %s.", bk.RestoreTestEvery.Human(), bk.VerifyEvery.Human(), link("BackupVerificationOverdue"), link("RestoreTestFailed")),
			readRecord("pitr") + ".",
			rerun("pitr") + "\n\n   The quarter's test is evaluated on RTO/RPO達成度: note the measured RTO (`pitr_restore_test_rto_seconds`) against the tier's and the recovery gap (`pitr_restore_test_recovery_gap_seconds`).",
		}
	case "RestoreRTOExceeded":
		return []string{
			fmt.Sprintf("The repository is held to its tier's RTO (`pitr_repository_info{tier}`; RTO by tier: %s). If the data's class is wrong, correct `repository.tier` in the exporter's configuration rather than the objective.", spec.TierList(bk.RTO)),
			readRecord("<kind>") + ": `last_success.phases` (or the dashboard's restore test phases) shows which phase is slow.",
			"Shorten that phase: fetch (the backup's size against the bandwidth from S3: a larger scratch host, pgBackRest's `process-max`), replay (the WAL since the backup: more frequent full or incremental backups), check (the checks' queries). This is a planned fix, not an outage: the measurement changes at the next successful test.",
			rerun("<kind>"),
		}
	case "RPOExceeded":
		return []string{
			fmt.Sprintf("The repository is held to its tier's RPO (the alert's `tier` label, from `pitr_repository_info{tier}`; a repository whose exporter declares none is held to critical). RPO by tier: %s. +Inf: no WAL was ever archived.", spec.TierList(bk.RPO)),
			fmt.Sprintf("Check archiving on the primary first: %s (archive_command failing) and %s (a quiet primary archives only every archive_timeout).", link("PostgresWALArchivingFailing"), link("PostgresArchiveTimeoutTooLong")),
		}
	case "PITRWindowTooShort":
		return []string{
			"0: there is no window at all (pitr_exporter exports none): no backup has an unbroken WAL chain to the newest WAL. Check " + link("WALChainBroken") + " and " + link("BackupFullTooOld") + "; the next full backup starts a new window.",
		}
	}
	return poolSteps(s, alert)
}

// writeSteps writes the alert's own steps, if it has any.
func writeSteps(b *bytes.Buffer, s *spec.Spec, alert string) {
	st := steps(s, alert)
	if len(st) == 0 {
		return
	}
	fmt.Fprintf(b, "What to do:\n\n")
	for i, x := range st {
		fmt.Fprintf(b, "%d. %s\n", i+1, x)
	}
	fmt.Fprintf(b, "\n")
}
