package monitor

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/config"
	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/restore"
	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/s3store"
)

// A record written by a newer restore-test, with an outcome this exporter
// does not know, is still one series per outcome: a duplicate would make
// every scrape fail.
func TestUnknownRestoreOutcomeIsAnError(t *testing.T) {
	cfg, err := config.Parse("pitr.yml", []byte("s3:\n  endpoint: localhost:9000\n  bucket: b\n"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	m := &Monitor{cfg: cfg, Stats: &s3store.Stats{}, failures: map[string]float64{}}
	m.bucket.RestoreTests = map[string]restore.Record{
		restore.KindPITR: {LastAttempt: restore.Result{Kind: restore.KindPITR, Outcome: "exploded", Finished: now}},
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m)
	if _, err := reg.Gather(); err != nil {
		t.Fatalf("gathering: %v", err)
	}
	got := testutil.ToFloat64(prometheus.CollectorFunc(func(ch chan<- prometheus.Metric) {
		ms := make(chan prometheus.Metric, 100)
		m.collectRestoreTests(m.bucket.RestoreTests, func(d *prometheus.Desc, v float64, l ...string) {
			if d == restoreOutcomeDesc && l[1] == restore.OutcomeError {
				ms <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
			}
		})
		close(ms)
		for x := range ms {
			ch <- x
		}
	}))
	if got != 1 {
		t.Errorf("outcome error = %v, want 1", got)
	}
}
