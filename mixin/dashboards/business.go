package dashboards

//lint:file-ignore SA1019 The v1 dashboard model is what every Grafana imports; dashboardv2 needs Grafana 12 with a feature flag.

import (
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/hotel-ops/hotel-ops/mixin/rules"
	"github.com/hotel-ops/hotel-ops/mixin/spec"
)

// business is the spec's business indicators (ビジネス指標) as
// sla_exporter reads them from the booking database: orders, revenue,
// active users and conversion. The spec sets no levels for them, so the
// panels compare with the same time last week instead.
func business(s *spec.Spec) *dashboard.DashboardBuilder {
	src := sel(s, "sla")
	// Counters are shown per hour: bookings arrive a few a minute, and a
	// per-second rate of 0.03 reads as nothing.
	perHour := func(metric, offset string) string {
		r := rate(metric, src)
		if offset != "" {
			r = fmt.Sprintf("rate(%s%s[%s] offset %s)", metric, src, rateInterval, offset)
		}
		return fmt.Sprintf(`sum(%s) * 3600`, r)
	}
	users := fmt.Sprintf(`sum(sla_active_users%s)`, src)
	conversion := fmt.Sprintf(`avg(sla_conversion_ratio%s)`, src)

	return newBoard(s, rules.DashBusiness, "Hotel Ops / Business",
		"ビジネス指標: orders, revenue, active users and conversion from sla_exporter, each against the same time last week.",
		"now-7d").
		WithRow(row("Now")).
		WithPanel(statPanel("Orders per hour", "short", 6, q(perHour("sla_orders_total", ""), "orders/h")).
			Description("Orders placed, per hour (sla_orders_total).")).
		WithPanel(statPanel("Revenue per hour", "short", 6, q(perHour("sla_revenue_total", ""), "revenue/h")).
			Description("Revenue booked per hour, in the currency of the sla_exporter query (sla_revenue_total).")).
		WithPanel(statPanel("Active users now", "short", 6, q(users, "active users")).
			Description("Users active now (sla_active_users).")).
		WithPanel(statPanel("Conversion now", "percentunit", 6, q(conversion, "conversion")).
			Description("Share of visits that end in a booking (sla_conversion_ratio).")).
		WithRow(row("Trends")).
		WithPanel(timeSeries("Orders", "short", 12,
			q(perHour("sla_orders_total", ""), "orders/h"),
			q(perHour("sla_orders_total", "1w"), "orders/h a week ago")).
			Description("Orders per hour against the same time last week.")).
		WithPanel(timeSeries("Revenue", "short", 12,
			q(perHour("sla_revenue_total", ""), "revenue/h"),
			q(perHour("sla_revenue_total", "1w"), "revenue/h a week ago")).
			Description("Revenue per hour against the same time last week.")).
		WithPanel(timeSeries("Active users", "short", 12,
			q(users, "active users"),
			q(fmt.Sprintf(`sum(sla_active_users%s offset 1w)`, src), "a week ago")).
			Description("Active users against the same time last week.")).
		WithPanel(timeSeries("Conversion", "percentunit", 12,
			q(conversion, "conversion"),
			q(fmt.Sprintf(`avg(sla_conversion_ratio%s offset 1w)`, src), "a week ago")).
			Description("Conversion against the same time last week."))
}
