package store

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The store's figures follow what it writes: the journal grows with a
// delivery, and after a snapshot the snapshot holds it and the journal
// starts again; a store whose snapshots succeed says 0 failed.
func TestEmbeddedMetrics(t *testing.T) {
	s, _ := openEmbedded(t)
	if _, err := s.Receive(ctx, delivery(t, "g", "firing", "HotelAppDown/a"), policies(t), time.Date(2026, 11, 28, 6, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	before := s.db.Stats()
	if before.JournalBytes < 500 {
		t.Fatalf("journal after a delivery: %d bytes", before.JournalBytes)
	}
	if err := s.db.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	after := s.db.Stats()
	if after.LiveBytes < 500 || after.SlabBytes < after.LiveBytes {
		t.Fatalf("in memory: %+v", after)
	}
	if after.SnapshotBytes < 500 || after.JournalBytes >= before.JournalBytes {
		t.Fatalf("after a snapshot: %+v (before %+v)", after, before)
	}
	want := fmt.Sprintf(`# HELP escalator_store_bytes The embedded store on disk, by part: snapshot (the whole store as of its last snapshot) and journal (every commit since).
# TYPE escalator_store_bytes gauge
escalator_store_bytes{part="journal"} %d
escalator_store_bytes{part="snapshot"} %d
# HELP escalator_store_memory_bytes The embedded store in memory, by part: slabs (the memory its records are in) and live (what the current records take of it; the rest is records replaced or deleted, not yet reclaimed).
# TYPE escalator_store_memory_bytes gauge
escalator_store_memory_bytes{part="live"} %d
escalator_store_memory_bytes{part="slabs"} %d
# HELP escalator_store_snapshot_failed 1 when the embedded store's last snapshot could not be written (the journal grows until one is; the next start replays it all), else 0.
# TYPE escalator_store_snapshot_failed gauge
escalator_store_snapshot_failed 0
`, after.JournalBytes, after.SnapshotBytes, after.LiveBytes, after.SlabBytes)
	if err := testutil.CollectAndCompare(s, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}
