package store

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hotel-ops/hotel-ops/internal/latency"
)

// BenchmarkDiskSync measures what every answer of the handler waits for:
// a write of 16 KB and its fsync, on the file system the benchmarks'
// stores use, every 2 ms (the cadence of commits at 500 deliveries/s)
// for 30 s per iteration. The handler cannot answer faster than its
// store's fsync, so a disk whose fsync p99 or maximum here is over 10 ms
// will also show in BenchmarkStores' steady-500 (webhook/README.md).
func BenchmarkDiskSync(b *testing.B) {
	const perIter, every = 15000, 2 * time.Millisecond
	f, err := os.Create(filepath.Join(b.TempDir(), "sync"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 16<<10)
	var lat latency.Sample
	tick := time.NewTicker(every)
	defer tick.Stop()
	for i := 0; i < b.N*perIter; i++ {
		<-tick.C
		// Appended and kept, as a log is: rewriting one block would let
		// the file system skip work a growing log cannot.
		t0 := time.Now()
		if _, err := f.Write(block); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	latency.Report(b, lat)
	b.ReportMetric(float64(lat.Over(10*time.Millisecond)), "over-10ms")
}
