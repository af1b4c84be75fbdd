package dashboards

//lint:file-ignore SA1019 The v1 dashboard model is what every Grafana imports; dashboardv2 needs Grafana 12 with a feature flag.

import (
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/hotel-ops/hotel-ops/mixin/rules"
	"github.com/hotel-ops/hotel-ops/mixin/spec"
)

// suiteJobs are the suite's own exporters, in the order shown.
var suiteJobs = []string{"pgha", "pitr", "sla", "escalator"}

// suite is the monitoring suite's own health: an exporter that is not
// scraped, cannot read its source or cannot deliver a notification
// silences every alert built on it, so it is watched like the service.
func suite(s *spec.Spec) *dashboard.DashboardBuilder {
	pg, pitr, esc := sel(s, "pgha"), sel(s, "pitr"), sel(s, "escalator")
	var ups []query
	for _, job := range suiteJobs {
		ups = append(ups, q("up"+sel(s, job), "{{job}} {{instance}}"))
	}
	section := s.Alerts["HotelOpsExporterDown"].Section

	return newBoard(s, rules.DashSuite, "Hotel Ops / Suite health",
		"The monitoring suite itself: scrapes of pgha_exporter, pitr_exporter, sla_exporter and escalator, their work and escalator's notifications. Spec: "+section+".",
		"now-6h").
		WithRow(row("Scrapes")).
		WithPanel(statPanel("Exporter targets", "none", 24, ups...).
			Mappings(upDown()).
			GraphMode(common.BigValueGraphModeNone).
			Description("Whether Prometheus scrapes each target of the suite's exporters.")).
		WithRow(row("pgha_exporter")).
		WithPanel(statPanel("PostgreSQL reachable", "none", 12, q("pgha_up"+pg, "{{instance}}")).
			Mappings(upDown()).
			Height(graphHeight).
			Description("Whether pgha_exporter's last scrape could connect to PostgreSQL and read its status.")).
		WithPanel(timeSeries("pgha scrape duration", "s", 12, q("pgha_scrape_duration_seconds"+pg, "{{instance}}")).
			Description("Time the last scrape of PostgreSQL took.")).
		WithRow(row("pitr_exporter")).
		WithPanel(statPanel("Backup repository readable", "none", 6, q("pitr_up"+pitr, "{{instance}}")).
			Mappings(upDown()).
			Height(graphHeight).
			Description("Whether pitr_exporter's last refresh of the backup repository succeeded; the backup figures are from the last success.")).
		WithPanel(statPanel("Since last successful refresh", "s", 6,
			q(fmt.Sprintf(`time() - pitr_refresh_last_success_timestamp_seconds%s`, pitr), "{{instance}}")).
			Height(graphHeight).
			Description("Age of the backup figures on the database dashboard.")).
		WithPanel(timeSeries("pitr refresh duration", "s", 6, q("pitr_refresh_duration_seconds"+pitr, "{{instance}}")).
			Description("How long the last refresh of the repository took.")).
		WithPanel(timeSeries("S3 requests", "reqps", 6,
			q(fmt.Sprintf(`sum by (instance, operation) (%s)`, rate("pitr_s3_requests_total", pitr)), "{{instance}} {{operation}}")).
			Description("Requests pitr_exporter makes to S3, by operation: what the monitoring costs the bucket.")).
		WithRow(row("escalator")).
		WithPanel(timeSeries("Notifications", "ops", 6,
			q(fmt.Sprintf(`sum by (channel, result) (%s)`, rate("escalator_notifications_total", esc)), "{{channel}} {{result}}")).
			Description("Notifications escalator sends per second, by channel and result.")).
		WithPanel(timeSeries("Escalation lag", "s", 6, quantiles("escalator_escalation_lag_seconds_bucket", esc)...).
			Description("How late escalation steps fire after they are due.")).
		WithPanel(timeSeries("Delivery latency", "s", 6, quantiles("escalator_delivery_duration_seconds_bucket", esc)...).
			Description("How long escalator takes to answer Alertmanager's deliveries. A 200 comes only after the delivery is committed, so a slow or stalling disk under the store shows here first.")).
		WithPanel(timeSeries("Pending escalation timers", "short", 6,
			q(fmt.Sprintf(`sum by (instance) (escalator_timers_pending%s)`, esc), "{{instance}}")).
			Description("Escalations waiting for their delay to pass.")).
		WithPanel(timeSeries("Open incidents", "short", 6,
			q(fmt.Sprintf(`sum by (severity) (escalator_incidents_open%s)`, esc), "{{severity}}")).
			Description("Incidents escalator holds open, by severity."))
}

// quantiles are a histogram's median and tail over all instances.
func quantiles(bucket, esc string) []query {
	var qs []query
	for _, p := range []struct{ q, name string }{{"0.5", "p50"}, {"0.95", "p95"}, {"0.99", "p99"}} {
		qs = append(qs, q(fmt.Sprintf(`histogram_quantile(%s, sum by (le) (%s))`, p.q, rate(bucket, esc)), p.name))
	}
	return qs
}
