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
				// pgha_exporter down is PostgresDown (the database's state is
				// unknown): paged to the DBA, not a warning here. pitr_exporter
				// is part of every deployment, so its absence counts too.
				var parts []string
				for _, job := range []string{"pitr", "sla", "escalator"} {
					parts = append(parts, fmt.Sprintf("up%s == 0", g.sel(job)))
				}
				parts = append(parts, fmt.Sprintf("absent(up%s)", g.sel("pitr")))
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
			dashboard: DashSuite, window: 5 * minute, history: "escalator", on: "job, instance",
			describe: "escalator at {{ $labels.instance }} fails to deliver {{ $labels.channel }} notifications ({{ $value | humanize }} a second): escalations may not reach anyone."},
		// escalator sends the first pages; without one answering, Alertmanager
		// pages directly (paging="direct" routes around escalator).
		"EscalatorDown": {
			expr: func(g *gen, _ spec.Value) string { return escalatorAbsent(g) },
			fx: fixture{labels: func(g *gen) map[string]string { return jobLabel(g, "escalator") }, okBad: fixed(1, 0),
				series: func(g *gen, segs []seg, step time.Duration) []inputSeries {
					return []inputSeries{{series("up", escLabels(g)), gaugeValues(segs, step, constant)}}
				}},
			dashboard: DashSuite,
			describe:  "No escalator answers its scrape: first pages and escalations stop. Alertmanager now pages every firing alert directly (EscalatorFallback), without acknowledgement links."},
		// Every firing alert, re-raised with its own labels while no
		// escalator is up, so that Alertmanager's direct routes page it.
		// ALERTS carries no annotations: the copy names the original.
		"EscalatorFallback": {
			expr: func(g *gen, _ spec.Value) string {
				return fmt.Sprintf(`label_replace(label_replace(ALERTS{alertstate="firing", paging!="direct"}, "fallback_for", "$1", "alertname", "(.+)"), "alertstate", "", "alertstate", ".*") and on () (%s)`, escalatorAbsent(g))
			},
			fx: fixture{okBad: fixed(1, 0),
				labels: func(g *gen) map[string]string {
					return map[string]string{"fallback_for": "HotelAppDown", "severity": "critical", "team": "app", "category": "availability", "job": "hotel-saas"}
				},
				series: func(g *gen, segs []seg, step time.Duration) []inputSeries {
					firing := map[string]string{"alertname": "HotelAppDown", "alertstate": "firing", "severity": "critical", "team": "app", "category": "availability", "job": "hotel-saas"}
					return []inputSeries{
						{series("ALERTS", firing), gaugeValues([]seg{{1, total(segs)}}, step, constant)},
						{series("up", escLabels(g)), gaugeValues(segs, step, constant)},
					}
				}},
			dashboard: DashSuite,
			describe:  "{{ $labels.fallback_for }} fires while no escalator is up, so Alertmanager pages it directly. Acknowledge in the receiving tool; escalator takes over when it is back."},
	})
}

// escalatorAbsent is true when no escalator answers: every target down, or
// none configured.
func escalatorAbsent(g *gen) string {
	return fmt.Sprintf(`sum by (job) (up%s) == 0 or absent(up%s)`, g.sel("escalator"), g.sel("escalator"))
}

// jobLabel is the job label alone of a job's selector.
func jobLabel(g *gen, job string) map[string]string {
	return map[string]string{"job": g.mustLabels([]string{job}, nil)["job"]}
}
