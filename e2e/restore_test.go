package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/restore"
	"github.com/hotel-ops/hotel-ops/internal/suite"
)

// restoreBackup: a backup taken while the application writes bookings is
// restored by `pitr_exporter restore-test` with the suite's shipped
// checks (bookings exist), and the suite's pitr_exporter reads the result
// from the bucket into Prometheus with the measured RTO; the generated
// restore rules stay silent (the page ledger would see them).
func (s *stack) restoreBackup(t *testing.T) {
	start := time.Now()
	s.Backup("incr")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, logs, err := s.RestoreTest(ctx, restore.KindBackup, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != restore.OutcomeSuccess {
		t.Fatalf("restore test: %s: %s\n%s", res.Outcome, res.Message, logs)
	}
	t.Logf("restore test of backup %s: fetch %.1fs, replay %.1fs, checks %.2fs; %d checks", res.Backup, res.Phases.Fetch, res.Phases.Replay, res.Phases.Check, len(res.Checks))
	wctx, wcancel := context.WithTimeout(ctx, 3*suite.PITRRefresh+time.Minute)
	defer wcancel()
	v, err := s.Prometheus.WaitForQuery(wctx, `pitr_restore_test_rto_seconds{kind="backup"} and on (job, instance) pitr_restore_test_success{kind="backup"} == 1`,
		func(v model.Vector) bool { return len(v) == 1 })
	if err != nil {
		t.Fatalf("the result never reached Prometheus: %v", err)
	}
	if got := float64(v[0].Value); got < res.Phases.RTO()-0.01 || got > res.Phases.RTO()+0.01 {
		t.Errorf("Prometheus has RTO %v, the test measured %v", got, res.Phases.RTO())
	}
	t.Logf("restore test result in Prometheus %v after the backup", time.Since(start).Round(time.Second))
}
