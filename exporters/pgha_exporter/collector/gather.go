package collector

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Parallel is Gatherers gathering each of its members in a goroutine of
// its own (prometheus.Gatherers gathers one after the other), then merging
// their answers with the same checks. The exporter gives each target of a
// scrape a registry of its own and gathers them as one: a PostgreSQL that
// hangs to the deadline must not leave the PgBouncer beside it no time.
type Parallel prometheus.Gatherers

// Gather implements prometheus.Gatherer.
func (p Parallel) Gather() ([]*dto.MetricFamily, error) {
	gathered := make(prometheus.Gatherers, len(p))
	var wg sync.WaitGroup
	for i, g := range p {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mfs, err := g.Gather()
			gathered[i] = prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return mfs, err })
		}()
	}
	wg.Wait()
	return gathered.Gather()
}
