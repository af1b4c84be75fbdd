package suite

import (
	"fmt"
	"testing"
	"time"

	slaconfig "github.com/hotel-ops/hotel-ops/exporters/sla_exporter/config"
	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/examples"
)

// The suite's sla_exporter configuration is the shipped example with
// only the servers and the SLA's refresh changed: written back through YAML, the queries, the
// SLOs and the planned maintenance windows are the example's.
func TestSLAConfigIsTheExample(t *testing.T) {
	out, err := slaConfig("/suite/standby-dsn", "127.0.0.1:6390", "http://127.0.0.1:9091", "http://127.0.0.1:9097", "/suite/escalator-token", 42*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	got, err := slaconfig.Parse("sla.yml", out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want, err := slaconfig.Parse("hotel.yml", examples.Hotel)
	if err != nil {
		t.Fatal(err)
	}
	if got.Database.DSNFile != "/suite/standby-dsn" || got.Redis.Addr != "127.0.0.1:6390" || got.SLA.PrometheusURL != "http://127.0.0.1:9091" ||
		got.Escalator.URL != "http://127.0.0.1:9097" || got.Escalator.TokenFile != "/suite/escalator-token" || time.Duration(got.SLA.Refresh) != 42*time.Second {
		t.Errorf("servers not set: database %+v, redis %+v, prometheus %q, escalator %+v, refresh %v", got.Database, got.Redis, got.SLA.PrometheusURL, got.Escalator, got.SLA.Refresh)
	}

	// Everything else as shipped (nil and empty lists print alike).
	str := func(v any) string { return fmt.Sprintf("%+v", v) }
	if len(got.Queries) != len(want.Queries) {
		t.Fatalf("%d queries, the example has %d", len(got.Queries), len(want.Queries))
	}
	for i := range want.Queries {
		g, w := got.Queries[i], want.Queries[i]
		if (g.Redis == nil) != (w.Redis == nil) || g.Redis != nil && *g.Redis != *w.Redis {
			t.Errorf("query %s: redis %+v, the example's %+v", w.Name, g.Redis, w.Redis)
		}
		g.Redis, w.Redis = nil, nil
		if str(g) != str(w) {
			t.Errorf("query %s:\n%+v\nthe example's:\n%+v", w.Name, g, w)
		}
	}
	if str(got.SLA.SLOs) != str(want.SLA.SLOs) || str(got.SLA.Spans) != str(want.SLA.Spans) || got.SLA.Timezone != want.SLA.Timezone ||
		got.SLA.Step != want.SLA.Step || got.SLA.Maintenance.CountAsDowntime != want.SLA.Maintenance.CountAsDowntime {
		t.Errorf("sla:\n%+v\nthe example's:\n%+v", got.SLA, want.SLA)
	}
	if str(got.Reports) != str(want.Reports) || got.Escalator.Refresh != want.Escalator.Refresh {
		t.Errorf("reports or escalator refresh differ from the example's")
	}
	// The maintenance windows (Alertmanager's time_intervals, written
	// back by their own marshallers) cover the same half hours over two
	// years, leap day and quarter ends included.
	gi, wi := got.SLA.Maintenance.TimeIntervals, want.SLA.Maintenance.TimeIntervals
	if len(gi) != len(wi) {
		t.Fatalf("%d maintenance intervals, the example has %d", len(gi), len(wi))
	}
	covered := 0
	for tm := time.Date(2027, 1, 1, 0, 0, 0, 0, want.SLA.Location); tm.Year() < 2029; tm = tm.Add(30 * time.Minute) {
		for i := range wi {
			if len(gi[i].TimeIntervals) != len(wi[i].TimeIntervals) {
				t.Fatalf("maintenance %s: %d intervals, the example has %d", wi[i].Name, len(gi[i].TimeIntervals), len(wi[i].TimeIntervals))
			}
			for j := range wi[i].TimeIntervals {
				g, w := gi[i].TimeIntervals[j].ContainsTime(tm), wi[i].TimeIntervals[j].ContainsTime(tm)
				if g != w {
					t.Fatalf("maintenance %s[%d] at %v: %v, the example's %v", wi[i].Name, j, tm, g, w)
				}
				if w {
					covered++
				}
			}
		}
	}
	if covered == 0 {
		t.Error("no half hour in planned maintenance over two years: the comparison compared nothing")
	}
}
