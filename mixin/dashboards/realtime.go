package dashboards

//lint:file-ignore SA1019 The v1 dashboard model is what every Grafana imports; dashboardv2 needs Grafana 12 with a feature flag.

import (
	"fmt"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/hotel-ops/hotel-ops/mixin/rules"
	"github.com/hotel-ops/hotel-ops/mixin/spec"
)

// realtime is the operations dashboard of the spec (運用ダッシュボード /
// リアルタイム): is the service up, how fast and how well it answers, and
// whether the machines and the database have room. Error rate, latency,
// CPU and memory read the recording rules the alerts read, so a line
// crosses its threshold exactly when the alert starts counting.
func realtime(s *spec.Spec) *dashboard.DashboardBuilder {
	app, pgha := sel(s, "app"), sel(s, "pgha")
	th := s.Thresholds
	// Connections in use against max_connections, per instance, as the
	// PostgresConnections alerts compute it.
	connRatio := fmt.Sprintf(`sum by (job, instance) (pgha_connections%s) / on (job, instance) pgha_max_connections%s`, pgha, pgha)
	// The percentile is the latency SLO's (95% → p95), as in the rules.
	quantile, pName := s.SLOs["latency"].Objective.PromQL(), "p"+strings.TrimSuffix(s.SLOs["latency"].Objective.Raw, "%")

	return newBoard(s, rules.DashRealtime, "Hotel Ops / Realtime operations",
		"運用ダッシュボード / リアルタイム: service status, traffic, errors, latency, active users, node resources and database connections, coloured by the threshold spec ("+s.Source+").",
		"now-3h").
		WithRow(row("Now")).
		WithPanel(statPanel("Service status", "none", 4, q(fmt.Sprintf(`min(up%s)`, app), "")).
			Description("DOWN when any target of the application's job fails its scrape.").
			Mappings(upDown()).
			GraphMode(common.BigValueGraphModeNone)).
		WithPanel(statPanel("Requests per second", "reqps", 4, q(`sum(job:http_requests:rate5m)`, "")).
			Description("All requests to the application, 5 minute rate.")).
		WithPanel(against(statPanel("Error ratio", "", 4, q(`max(job:http_requests_errors:ratio_rate5m)`, "")), th["error_rate"]).
			Description("Share of 5xx responses over 5 minutes. Spec: " + th["error_rate"].Section + ".")).
		WithPanel(against(statPanel("Response time "+pName, "", 4, q(`max(job:http_request_duration_seconds:p95_5m)`, "")), th["response_time"]).
			Description(pName + " response time over 5 minutes. Spec: " + th["response_time"].Section + ".")).
		WithPanel(statPanel("Active users", "short", 4, q(fmt.Sprintf(`sum(sla_active_users%s)`, sel(s, "sla")), "")).
			Description("Users active now, as sla_exporter counts them in the business database.")).
		WithPanel(against(statPanel("DB connections used", "", 4, q(fmt.Sprintf(`max(%s)`, connRatio), "")), th["db_connections"]).
			Description("The busiest PostgreSQL instance's connections over max_connections. Spec: " + th["db_connections"].Section + ".")).
		WithRow(row("Application")).
		WithPanel(timeSeries("Request rate by status code", "reqps", 8,
			q(fmt.Sprintf(`sum by (code) (%s)`, rate("http_requests_total", app)), "{{code}}")).
			Description("Requests per second by HTTP status code.")).
		WithPanel(lines(against(timeSeries("Error rate", "", 8,
			q(`job:http_requests_errors:ratio_rate5m`, "{{job}}")), th["error_rate"])).
			Description("Share of 5xx responses over 5 minutes (job:http_requests_errors:ratio_rate5m), with the spec's levels. Spec: " + th["error_rate"].Section + ".")).
		WithPanel(lines(against(timeSeries("Response time", "", 8,
			q(`job:http_request_duration_seconds:p95_5m`, pName+" {{job}} (5m)"),
			q(fmt.Sprintf(`histogram_quantile(%s, sum by (le) (%s))`, quantile, rate("http_request_duration_seconds_bucket", app)), pName)),
			th["response_time"])).
			Description(pName + " response time: as the alerts see it over 5 minutes, and at the graph's resolution. Spec: " + th["response_time"].Section + ".")).
		WithRow(row("Infrastructure")).
		WithPanel(lines(against(timeSeries("CPU utilisation", "", 12,
			q(`instance:node_cpu_utilisation:ratio`, "{{instance}}")), th["cpu"])).
			Description("Busy share of all CPUs per node (instance:node_cpu_utilisation:ratio). Spec: " + th["cpu"].Section + ".")).
		WithPanel(lines(against(timeSeries("Memory utilisation", "", 12,
			q(`instance:node_memory_utilisation:ratio`, "{{instance}}")), th["memory"])).
			Description("Memory not available to new work per node (instance:node_memory_utilisation:ratio). Spec: " + th["memory"].Section + ".")).
		WithPanel(lines(against(timeSeries("Disk utilisation", "", 12, q(diskUsed(s), "{{instance}} {{mountpoint}}")), th["disk"])).
			Description("Used share of each filesystem the filesystem selector keeps. Spec: " + th["disk"].Section + ".")).
		WithPanel(lines(against(timeSeries("Network utilisation", "", 12,
			q(linkUse(s, "receive"), "{{instance}} {{device}} receive"),
			q(linkUse(s, "transmit"), "{{instance}} {{device}} transmit")), th["network"])).
			Description("Traffic of each link against its speed; links that report no speed (virtual devices) are left out. Spec: " + th["network"].Section + ".")).
		WithRow(row("Database")).
		WithPanel(lines(against(timeSeries("DB connections / max_connections", "", 24,
			q(connRatio, "{{instance}}")), th["db_connections"])).
			Description("Client connections of each PostgreSQL instance over its max_connections. Spec: " + th["db_connections"].Section + "."))
}

// diskUsed is the used share of each selected filesystem.
func diskUsed(s *spec.Spec) string {
	fs := sel(s, "node", s.Selectors["filesystem"])
	return fmt.Sprintf(`1 - node_filesystem_avail_bytes%s / node_filesystem_size_bytes%s`, fs, fs)
}

// linkUse is one direction's traffic over the link's speed.
func linkUse(s *spec.Spec, direction string) string {
	nd := sel(s, "node", s.Selectors["network_device"])
	return fmt.Sprintf(`%s / on (job, instance, device) (node_network_speed_bytes%s > 0)`,
		rate("node_network_"+direction+"_bytes_total", nd), nd)
}
