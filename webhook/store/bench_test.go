package store

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// BenchmarkPruneHistory: 100,000 incidents resolved 100 days ago, and
// their 220,000 audit entries, removed by one pruning pass on each store
// (in transactions of historyChunk records, beside the store's other
// work).
func BenchmarkPruneHistory(b *testing.B) {
	for _, be := range []struct {
		name string
		open func(b *testing.B) Store
	}{
		{"embedded", func(b *testing.B) Store { s, _ := openEmbedded(b); return s }},
		{"postgres", func(b *testing.B) Store { return postgresStore(b, "escalator-prune") }},
	} {
		b.Run(be.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				s := be.open(b)
				pol := policies(b)
				at := time.Now().Add(-100 * 24 * time.Hour)
				var wg sync.WaitGroup
				for w := 0; w < 16; w++ {
					wg.Add(1)
					go func(w int) {
						defer wg.Done()
						for g := w; g < 10000; g += 16 {
							var alerts []string
							for a := 0; a < 10; a++ {
								alerts = append(alerts, fmt.Sprintf("HotelAppDown/p%d-%d", g, a))
							}
							for _, status := range []string{"firing", "resolved"} {
								if _, err := s.Receive(ctx, delivery(b, fmt.Sprint("g", g), status, alerts...), pol, at); err != nil {
									b.Error(err)
									return
								}
							}
						}
					}(w)
				}
				wg.Wait()
				b.StartTimer()
				t0 := time.Now()
				incidents, entries, err := s.PruneHistory(ctx, time.Now().Add(-90*24*time.Hour))
				took := time.Since(t0)
				b.StopTimer()
				if err != nil || incidents != 100000 {
					b.Fatalf("pruned %d incidents, %d entries: %v", incidents, entries, err)
				}
				b.ReportMetric(took.Seconds(), "prune-s")
				b.ReportMetric(float64(incidents+entries)/took.Seconds(), "records/s")
				s.Close()
			}
		})
	}
}
