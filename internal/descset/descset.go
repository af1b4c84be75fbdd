// Package descset declares an exporter's metric descriptors in one place,
// so that the collector can Describe them all and the mixin can check that
// every metric a rule uses is produced by an exporter.
package descset

import "github.com/prometheus/client_golang/prometheus"

// Set is the descriptors of one metric namespace (pgha, pitr, ...).
type Set struct {
	namespace string
	all       []*prometheus.Desc
}

// New starts a Set for namespace.
func New(namespace string) *Set { return &Set{namespace: namespace} }

// Desc declares <namespace>_<name>.
func (s *Set) Desc(name, help string, labels ...string) *prometheus.Desc {
	d := prometheus.NewDesc(prometheus.BuildFQName(s.namespace, "", name), help, labels, nil)
	s.all = append(s.all, d)
	return d
}

// All returns every descriptor declared.
func (s *Set) All() []*prometheus.Desc { return append([]*prometheus.Desc(nil), s.all...) }

// Describe sends every descriptor, for a prometheus.Collector's Describe.
func (s *Set) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range s.all {
		ch <- d
	}
}
