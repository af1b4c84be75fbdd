package store

import "github.com/prometheus/client_golang/prometheus"

// The embedded store's own figures: what it holds on disk, and whether
// its snapshots are being written. A snapshot that keeps failing (a full
// disk) loses nothing, but the journal then grows until one succeeds and
// the next start replays all of it; nothing else would say so.
var (
	storeBytesDesc = prometheus.NewDesc("escalator_store_bytes",
		"The embedded store on disk, by part: snapshot (the whole store as of its last snapshot) and journal (every commit since).", []string{"part"}, nil)
	snapshotFailedDesc = prometheus.NewDesc("escalator_store_snapshot_failed",
		"1 when the embedded store's last snapshot could not be written (the journal grows until one is; the next start replays it all), else 0.", nil, nil)
)

// Describe implements prometheus.Collector.
func (s *Embedded) Describe(ch chan<- *prometheus.Desc) {
	ch <- storeBytesDesc
	ch <- snapshotFailedDesc
}

// Collect implements prometheus.Collector.
func (s *Embedded) Collect(ch chan<- prometheus.Metric) {
	st := s.db.Stats()
	ch <- prometheus.MustNewConstMetric(storeBytesDesc, prometheus.GaugeValue, float64(st.SnapshotBytes), "snapshot")
	ch <- prometheus.MustNewConstMetric(storeBytesDesc, prometheus.GaugeValue, float64(st.JournalBytes), "journal")
	failed := 0.0
	if st.CheckpointErr != "" {
		failed = 1
	}
	ch <- prometheus.MustNewConstMetric(snapshotFailedDesc, prometheus.GaugeValue, failed)
}
