package generate

import (
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	pitrconfig "github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/config"
	pitrmonitor "github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/monitor"
	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/restore"
	"github.com/hotel-ops/hotel-ops/mixin/rules"
	"github.com/hotel-ops/hotel-ops/mixin/spec"
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

// The restore tests' rules read labels and label values of pitr_exporter's
// series: each metric carries the labels the rules join and select on, its
// tiers are the spec's table with the spec's values, and its outcomes are
// those the scenarios write and the runbook explains.
func TestRestoreRulesMatchPitrExporter(t *testing.T) {
	labels := map[string][]string{}
	for _, d := range pitrmonitor.Descriptors() {
		s := d.String()
		name := fqName.FindStringSubmatch(s)
		vars := varLabels.FindStringSubmatch(s)
		if name == nil || vars == nil {
			t.Fatalf("cannot read descriptor %s", s)
		}
		labels[name[1]] = strings.FieldsFunc(vars[1], func(r rune) bool { return r == ',' || r == ' ' })
	}
	for metric, want := range map[string][]string{
		"pitr_repository_info":                             {"tier"},
		"pitr_restore_test_success":                        {"kind"},
		"pitr_restore_test_last_outcome":                   {"kind", "outcome"},
		"pitr_restore_test_last_success_timestamp_seconds": {"kind"},
		"pitr_restore_test_rto_seconds":                    {"kind"},
		"pitr_restore_test_duration_seconds":               {"kind", "phase"},
	} {
		for _, l := range want {
			if !slices.Contains(labels[metric], l) {
				t.Errorf("%s: pitr_exporter exports labels %v, the rules and dashboards read %s", metric, labels[metric], l)
			}
		}
	}

	s, files := defaults(t)
	if got := slices.Sorted(maps.Keys(pitrconfig.Tiers)); !slices.Equal(got, slices.Sorted(slices.Values(spec.Tiers))) {
		t.Errorf("pitr_exporter's tiers %v, the spec's %v", got, spec.Tiers)
	}
	for tier, o := range pitrconfig.Tiers {
		if rpo, rto := s.Backup.RPO[tier].Duration(), s.Backup.RTO[tier].Duration(); rpo != o.RPO || rto != o.RTO {
			t.Errorf("tier %s: pitr_exporter's RPO %s RTO %s, the spec's %s and %s", tier, o.RPO, o.RTO, rpo, rto)
		}
	}

	if !slices.Equal(rules.RestoreOutcomes, restore.Outcomes) {
		t.Errorf("rules.RestoreOutcomes %v, pitr_exporter's %v", rules.RestoreOutcomes, restore.Outcomes)
	}
	book := string(files["runbooks/README.md"])
	for _, o := range restore.Outcomes {
		if o != restore.OutcomeSuccess && !strings.Contains(book, "- `"+o+"`: ") {
			t.Errorf("the runbook says nothing of the restore test outcome %s", o)
		}
	}
}

var varLabels = regexp.MustCompile(`variableLabels: \{([^}]*)\}`)
