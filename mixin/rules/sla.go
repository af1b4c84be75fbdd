package rules

import (
	"fmt"
	"math/big"
	"time"

	"github.com/hotel-ops/hotel-ops/mixin/spec"
)

// sla_exporter: its own health (queries, SLA refresh), the calendar
// month's error budget, and the business anomaly the spec's dashboard
// implies (orders against the same time last week, as for throughput).

func slaLabels(g *gen) map[string]string {
	return g.mustLabels([]string{"sla"}, map[string]string{"instance": "sla-1:9189"})
}

// minOrdersPerHour is the traffic below which a drop in orders is noise:
// from 4 to 1 an hour is a quiet night, not an outage (suite default).
const minOrdersPerHour = 6

func init() {
	ordersDrop := func(g *gen, v spec.Value) string {
		ratio := new(big.Rat).Sub(big.NewRat(1, 1), v.Rat())
		now := fmt.Sprintf(`sum by (job) (rate(sla_orders_total%s[1h]))`, g.sel("sla"))
		before := fmt.Sprintf(`sum by (job) (rate(sla_orders_total%s[1h] offset 1w))`, g.sel("sla"))
		return fmt.Sprintf(`%s / %s < %s and on (job) %s * 3600 > %d`, now, before, spec.Decimal(ratio), before, minOrdersPerHour)
	}
	register(map[string]*def{
		"SLAQueryFailing": {
			expr:      func(g *gen, _ spec.Value) string { return fmt.Sprintf(`sla_query_up%s == 0`, g.sel("sla")) },
			fx:        gaugeFixture("sla_query_up", slaLabels, map[string]string{"query": "orders", "source": "sql"}, fixed(1, 0)),
			dashboard: DashSuite,
			describe:  "Business query {{ $labels.query }} ({{ $labels.source }}) of sla_exporter at {{ $labels.instance }} fails: its figures are from its last good run (sla_query_last_success_timestamp_seconds); sla_query_errors_total says why (timeout, write_refused, too_many_series, query_error, unreachable)."},
		"SLARefreshFailing": {
			expr: func(g *gen, _ spec.Value) string {
				return fmt.Sprintf(`time() - sla_refresh_last_success_timestamp_seconds%s > 1800`, g.sel("sla"))
			},
			fx: fixture{labels: slaLabels, okBad: fixed(300, 3600), series: func(g *gen, segs []seg, step time.Duration) []inputSeries {
				return []inputSeries{{series("sla_refresh_last_success_timestamp_seconds", slaLabels(g)), gaugeValues(segs, step, agoBy)}}
			}},
			dashboard: DashSLA,
			describe:  "sla_exporter at {{ $labels.instance }} has not computed the SLA from Prometheus for {{ $value | humanizeDuration }}: the SLA per period is stale (see sla_refresh_errors_total and its log)."},
		"SLAMonthlyBudgetSpent": {
			expr: func(g *gen, _ spec.Value) string {
				return fmt.Sprintf(`sla_error_budget_remaining_ratio%s < 0`, g.sel("sla", `span="month", which="current"`))
			},
			fx:        gaugeFixture("sla_error_budget_remaining_ratio", slaLabels, map[string]string{"slo": "availability", "span": "month", "which": "current", "period": "2026-11"}, fixed(0.2, -0.1)),
			dashboard: DashSLA,
			describe:  "The {{ $labels.slo }} SLO's error budget for {{ $labels.period }} is spent ({{ $value | humanizePercentage }} left): this calendar month's SLA is missed, whatever the rest of the month brings."},
		"BusinessOrdersDrop": {
			expr: ordersDrop, dashboard: DashBusiness, window: time.Hour, history: "sla", on: "job",
			fx: fixture{
				earliest: minute, warmup: time.Hour, labels: func(g *gen) map[string]string { return jobLabel(g, "sla") }, evalEvery: 5 * minute,
				baseline: 1, baselineFor: 7 * 24 * time.Hour,
				// 10 % above: the test's last evaluation comes a few minutes
				// after the series ends, and a 1h rate then reads up to 7 %
				// low (Prometheus extrapolates half an interval at most).
				okBad: func(_ *gen, v spec.Value) (float64, float64) {
					r, _ := new(big.Rat).Sub(big.NewRat(1, 1), v.Rat()).Float64()
					return r * 1.1, r * 0.96
				},
				series: func(g *gen, segs []seg, step time.Duration) []inputSeries {
					ls := merge(slaLabels(g), map[string]string{"query": "orders"})
					per := 60 * step.Hours() // 60 orders an hour at 1
					return []inputSeries{{series("sla_orders_total", ls), counterValues(segs, func(v float64) float64 { return v * per })}}
				},
			},
			describe: "Orders at {{ $labels.job }} are {{ $value | humanizePercentage }} of the same hour last week (warning at a drop of THRESHOLD): bookings may be failing where requests succeed (payments, search results)."},
	})
}
