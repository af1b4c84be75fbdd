package generate

import (
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotel-ops/hotel-ops/webhook/escalate"
)

// describer records what escalator registers, as a Registerer.
type describer struct{ descs []*prometheus.Desc }

func (d *describer) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc)
	go func() { c.Describe(ch); close(ch) }()
	for desc := range ch {
		d.descs = append(d.descs, desc)
	}
	return nil
}

func (d *describer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		d.Register(c)
	}
}

func (d *describer) Unregister(prometheus.Collector) bool { return false }

// escalator's names are written by hand in designContract (mixgen does not
// link escalator's stores): they must be the series escalator exports,
// histograms as their _bucket, _sum and _count.
func TestEscalatorContractMatchesItsMetrics(t *testing.T) {
	reg := &describer{}
	m := escalate.NewMetrics(reg)
	histograms := map[string]bool{} // a Desc does not say its type
	for _, h := range []prometheus.Collector{m.Resolution, m.EscalationLag, m.Deliveries, m.ActionDuration, m.Diagnostics} {
		var d describer
		d.Register(h)
		for _, n := range descNames(d.descs) {
			histograms[n] = true
		}
	}
	var want []string
	for _, n := range descNames(reg.descs) {
		if histograms[n] {
			want = append(want, n+"_bucket", n+"_sum", n+"_count")
		} else {
			want = append(want, n)
		}
	}
	got := slices.Clone(designContract["escalator"])
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("designContract[\"escalator\"]:\n got %s\nwant %s", strings.Join(got, " "), strings.Join(want, " "))
	}
}
