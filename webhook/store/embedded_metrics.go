package store

import "github.com/prometheus/client_golang/prometheus"

// The embedded store's own figures: what it holds on disk, and whether
// its snapshots are being written. A snapshot that keeps failing (a full
// disk) loses nothing, but the journal then grows until one succeeds and
// the next start replays all of it; nothing else would say so.
var (
	storeBytesDesc = prometheus.NewDesc("escalator_store_bytes",
		"The embedded store on disk, by part: snapshot (the whole store as of its last snapshot) and journal (every commit since).", []string{"part"}, nil)
	storeMemoryDesc = prometheus.NewDesc("escalator_store_memory_bytes",
		"The embedded store in memory, by part: slabs (the memory its records are in) and live (what the current records take of it; the rest is records replaced or deleted, not yet reclaimed).", []string{"part"}, nil)
	snapshotFailedDesc = prometheus.NewDesc("escalator_store_snapshot_failed",
		"1 when the embedded store's last snapshot could not be written (the journal grows until one is; the next start replays it all), else 0.", nil, nil)
)

// Describe implements prometheus.Collector.
func (s *Embedded) Describe(ch chan<- *prometheus.Desc) {
	ch <- storeBytesDesc
	ch <- storeMemoryDesc
	ch <- snapshotFailedDesc
}

// Collect implements prometheus.Collector.
func (s *Embedded) Collect(ch chan<- prometheus.Metric) {
	st := s.db.Stats()
	ch <- prometheus.MustNewConstMetric(storeBytesDesc, prometheus.GaugeValue, float64(st.SnapshotBytes), "snapshot")
	ch <- prometheus.MustNewConstMetric(storeBytesDesc, prometheus.GaugeValue, float64(st.JournalBytes), "journal")
	ch <- prometheus.MustNewConstMetric(storeMemoryDesc, prometheus.GaugeValue, float64(st.SlabBytes), "slabs")
	ch <- prometheus.MustNewConstMetric(storeMemoryDesc, prometheus.GaugeValue, float64(st.LiveBytes), "live")
	failed := 0.0
	if st.CheckpointErr != "" {
		failed = 1
	}
	ch <- prometheus.MustNewConstMetric(snapshotFailedDesc, prometheus.GaugeValue, failed)
}
