// Package restore is pitr_exporter's restore test: it restores the
// repository into a scratch directory with the backup tool, recovers it to
// a target time with a real PostgreSQL, checks what it recovered, removes
// it, and records the outcome and the time each phase took (the measured
// RTO) in the repository's bucket, where every pitr_exporter reads it.
package restore

import (
	"encoding/json"
	"fmt"
	"time"
)

// Kinds of restore test.
const (
	// KindBackup restores the newest backup to its consistent end: the
	// spec's automatic verification of each (incremental) backup.
	KindBackup = "backup"
	// KindPITR recovers to a second inside the PITR window, random unless
	// given: the spec's automatic point-in-time recovery test.
	KindPITR = "pitr"
)

// Outcomes. Success, or the reason a test failed.
const (
	OutcomeSuccess            = "success"
	OutcomeNoWindow           = "no_window"           // nothing to restore to
	OutcomeDiskSpace          = "disk_space"          // refused, or stopped, to keep the disk from filling
	OutcomeRestoreFailed      = "restore_failed"      // the backup tool failed (corrupt or missing backup files)
	OutcomeRecoveryIncomplete = "recovery_incomplete" // recovery ended before the target: WAL missing or unreadable
	OutcomeStartFailed        = "start_failed"        // PostgreSQL did not start on the restored files
	OutcomeCheckFailed        = "check_failed"        // a check query failed or saw the wrong data
	OutcomeTimeout            = "timeout"             // the deadline passed
	OutcomeError              = "error"               // anything else: the message says
)

// Outcomes lists every outcome, for metrics that pre-create them.
var Outcomes = []string{OutcomeSuccess, OutcomeNoWindow, OutcomeDiskSpace, OutcomeRestoreFailed, OutcomeRecoveryIncomplete,
	OutcomeStartFailed, OutcomeCheckFailed, OutcomeTimeout, OutcomeError}

// Result is one restore test.
type Result struct {
	Kind    string `json:"kind"`
	Outcome string `json:"outcome"`
	Message string `json:"message,omitempty"`
	Host    string `json:"host,omitempty"`
	Tool    string `json:"tool"`

	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`

	Backup      string    `json:"backup,omitempty"` // label of the backup restored
	Target      time.Time `json:"target"`           // what recovery was asked to reach
	TargetGiven bool      `json:"target_given,omitempty"`
	// Recovered is the commit time of the last transaction replayed, zero
	// when none was (a backup restored to its own end).
	Recovered    time.Time `json:"recovered,omitempty"`
	RecoveredLSN string    `json:"recovered_lsn,omitempty"`

	Phases Phases        `json:"phases"`
	Checks []CheckResult `json:"checks,omitempty"`

	// CleanedUp says the test removed an earlier run's leftovers first.
	CleanedUp string `json:"cleaned_up,omitempty"`
}

// Phases are the seconds each part of the test took: fetching the backup's
// files, replaying WAL to the target, running the checks.
type Phases struct {
	Fetch  float64 `json:"fetch_seconds"`
	Replay float64 `json:"replay_seconds"`
	Check  float64 `json:"check_seconds"`
}

// RTO is the measured recovery time: from nothing to a checked database.
func (p Phases) RTO() float64 { return p.Fetch + p.Replay + p.Check }

// CheckResult is what one check query returned.
type CheckResult struct {
	Name    string `json:"name"`
	Value   string `json:"value"`
	OK      bool   `json:"ok"`
	Message string `json:"message,omitempty"`
}

// Record is the object kept per kind: the last attempt, and the last
// success (the same when the last attempt succeeded).
type Record struct {
	LastAttempt Result  `json:"last_attempt"`
	LastSuccess *Result `json:"last_success,omitempty"`
}

// Key is the object of a kind under a result prefix.
func Key(prefix, kind string) string { return prefix + kind + ".json" }

// HistoryKey is where each run is also kept, by its start.
func HistoryKey(prefix string, r Result) string {
	return prefix + "history/" + r.Kind + "/" + r.Started.UTC().Format("20060102T150405Z") + ".json"
}

// Next is the record after r: r becomes the last attempt, and the last
// success if it succeeded.
func (rec Record) Next(r Result) Record {
	out := Record{LastAttempt: r, LastSuccess: rec.LastSuccess}
	if r.Outcome == OutcomeSuccess {
		out.LastSuccess = &r
	}
	return out
}

// ParseRecord reads a record object, refusing one that is not ours.
func ParseRecord(data []byte) (Record, error) {
	var rec Record
	if err := json.Unmarshal(data, &rec); err != nil {
		return Record{}, fmt.Errorf("restore test record: %w", err)
	}
	if rec.LastAttempt.Kind == "" || rec.LastAttempt.Outcome == "" || rec.LastAttempt.Finished.IsZero() {
		return Record{}, fmt.Errorf("restore test record: kind, outcome and finished are required")
	}
	if s := rec.LastSuccess; s != nil && (s.Outcome != OutcomeSuccess || s.Kind != rec.LastAttempt.Kind) {
		return Record{}, fmt.Errorf("restore test record: last_success is not a success of kind %q", rec.LastAttempt.Kind)
	}
	return rec, nil
}
