// Package metrictest reads what a registry exposes into a map keyed the
// way PromQL writes a series, for tests to assert on.
package metrictest

import (
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Sample is one gathering: name{k="v",...} (labels sorted) to value.
type Sample map[string]float64

// Gather collects reg into a Sample, failing the test on error.
func Gather(t testing.TB, reg prometheus.Gatherer) Sample {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := Sample{}
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			var v float64
			switch {
			case m.Gauge != nil:
				v = m.Gauge.GetValue()
			case m.Counter != nil:
				v = m.Counter.GetValue()
			case m.Untyped != nil:
				v = m.Untyped.GetValue()
			}
			out[Key(mf.GetName(), m.Label)] = v
		}
	}
	return out
}

// Key writes a series as name{k="v",...} with sorted labels.
func Key(name string, labels []*dto.LabelPair) string {
	if len(labels) == 0 {
		return name
	}
	parts := make([]string, 0, len(labels))
	for _, l := range labels {
		parts = append(parts, l.GetName()+`="`+l.GetValue()+`"`)
	}
	sort.Strings(parts)
	return name + "{" + strings.Join(parts, ",") + "}"
}

// Get returns a series' value, failing the test when it is absent and
// listing the series of that name that are there.
func (s Sample) Get(t testing.TB, series string) float64 {
	t.Helper()
	v, ok := s[series]
	if !ok {
		prefix := series
		if i := strings.IndexByte(series, '{'); i > 0 {
			prefix = series[:i]
		}
		var names []string
		for k := range s {
			if strings.HasPrefix(k, prefix) {
				names = append(names, k)
			}
		}
		sort.Strings(names)
		t.Fatalf("series %s absent; series of that name: %v", series, names)
	}
	return v
}

// Expect checks that every series of want is there with its value.
func (s Sample) Expect(t testing.TB, want map[string]float64) {
	t.Helper()
	for series, v := range want {
		if got := s.Get(t, series); got != v {
			t.Errorf("%s = %v, want %v", series, got, v)
		}
	}
}

// Pick returns the series whose names start with one of prefixes, for
// failure messages.
func (s Sample) Pick(prefixes ...string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range s {
		for _, p := range prefixes {
			if strings.HasPrefix(k, p) {
				out[k] = v
			}
		}
	}
	return out
}
