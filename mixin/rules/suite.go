package rules

import (
	"fmt"
	"strings"
	"time"

	"github.com/hotel-ops/hotel-ops/mixin/spec"
)

// The suite's own health: exporters scraped, pitr_exporter refreshing,
// escalator delivering.

func trimSlash(s string) string { return strings.TrimRight(s, "/") }

func init() {
	register(map[string]*def{
		"HotelOpsExporterDown": {
			expr: func(g *gen, _ spec.Value) string {
				var parts []string
				for _, job := range []string{"pgha", "pitr", "sla", "escalator"} {
					parts = append(parts, fmt.Sprintf("up%s == 0", g.sel(job)))
				}
				return strings.Join(parts, " or ")
			},
			fx: func() fixture {
				labels := func(g *gen) map[string]string {
					return g.mustLabels([]string{"pitr"}, map[string]string{"instance": "pitr-1:9188"})
				}
				return fixture{labels: labels, okBad: fixed(1, 0), series: func(g *gen, segs []seg, step time.Duration) []inputSeries {
					return []inputSeries{{series("up", labels(g)), gaugeValues(segs, step, constant)}}
				}}
			}(),
			dashboard: DashSuite,
			describe:  "Prometheus cannot scrape {{ $labels.job }} at {{ $labels.instance }}: the alerts that depend on it are blind."},
		"PITRRefreshFailing": {
			expr: func(g *gen, _ spec.Value) string { return fmt.Sprintf(`pitr_up%s == 0`, g.sel("pitr")) },
			fx:   gaugeFixture("pitr_up", pitrLabels, nil, fixed(1, 0)), dashboard: DashSuite,
			describe: "pitr_exporter at {{ $labels.instance }} cannot read its backup repository; its figures are from the last good refresh (see pitr_refresh_errors_total and its log)."},
		"EscalatorNotificationsFailing": {
			expr: func(g *gen, _ spec.Value) string {
				return fmt.Sprintf(`sum by (job, instance, channel) (rate(escalator_notifications_total%s[5m])) > 0`, g.sel("escalator", `result="failure"`))
			},
			fx: fixture{earliest: minute, warmup: 5 * minute, okBad: fixed(0, 0.05),
				labels: func(g *gen) map[string]string { return merge(escLabels(g), map[string]string{"channel": "slack"}) },
				series: func(g *gen, segs []seg, step time.Duration) []inputSeries {
					ls := merge(escLabels(g), map[string]string{"channel": "slack", "result": "failure"})
					return []inputSeries{{series("escalator_notifications_total", ls), counterValues(segs, func(v float64) float64 { return v * step.Seconds() })}}
				}},
			dashboard: DashSuite,
			describe:  "escalator at {{ $labels.instance }} fails to deliver {{ $labels.channel }} notifications ({{ $value | humanize }} a second): escalations may not reach anyone."},
	})
}
