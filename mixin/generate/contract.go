package generate

import (
	"regexp"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	pghacollector "github.com/hotel-ops/hotel-ops/exporters/pgha_exporter/collector"
	pitrmonitor "github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/monitor"
)

// The metrics rules and dashboards may use, by who produces them. Our
// exporters are read from their own descriptors. escalator's are listed
// here (reading its descriptors would link its stores into mixgen; a test
// compares the list with what it registers), and so are those of
// sla_exporter, a planned exporter whose names the dashboards already read
// (docs/design.md, "Metric contract"); the rest are external exporters and
// the application.

// designContract lists escalator's metrics (webhook/escalate/metrics.go)
// and the planned sla_exporter's.
var designContract = map[string][]string{
	"escalator": {
		"escalator_alerts_received_total", "escalator_duplicate_deliveries_total", "escalator_incidents_open",
		"escalator_incident_resolution_seconds_sum", "escalator_incident_resolution_seconds_count", "escalator_incident_resolution_seconds_bucket",
		"escalator_escalation_steps_total", "escalator_escalation_lag_seconds_bucket", "escalator_escalation_lag_seconds_sum",
		"escalator_escalation_lag_seconds_count", "escalator_timers_pending", "escalator_notifications_total",
		"escalator_delivery_duration_seconds_bucket", "escalator_delivery_duration_seconds_sum", "escalator_delivery_duration_seconds_count",
		"escalator_alerts_truncated_total", "escalator_early_resolves_total",
		"escalator_actions_total", "escalator_incidents_resolved_total",
		"escalator_action_duration_seconds_bucket", "escalator_action_duration_seconds_sum", "escalator_action_duration_seconds_count",
		"escalator_diagnostics_duration_seconds_bucket", "escalator_diagnostics_duration_seconds_sum", "escalator_diagnostics_duration_seconds_count",
	},
	"sla_exporter": {
		"sla_query_up", "sla_query_last_success_timestamp_seconds", "sla_availability_ratio", "sla_error_budget_remaining_ratio",
		// the shipped example configuration's business metrics
		"sla_orders_total", "sla_revenue_total", "sla_active_users", "sla_conversion_ratio",
	},
}

// external lists the metrics of exporters outside the suite.
var external = map[string][]string{
	"prometheus": {"up", "ALERTS"}, // ALERTS: written by Prometheus' rule manager for every alert
	"node_exporter": {
		"node_cpu_seconds_total", "node_memory_MemAvailable_bytes", "node_memory_MemTotal_bytes",
		"node_filesystem_avail_bytes", "node_filesystem_size_bytes",
		"node_network_receive_bytes_total", "node_network_transmit_bytes_total", "node_network_speed_bytes",
	},
	"blackbox_exporter": {"probe_ssl_earliest_cert_expiry", "probe_success"},
	"application": {
		"http_requests_total", "http_request_duration_seconds_bucket", "http_request_duration_seconds_count",
		"http_request_duration_seconds_sum", "auth_login_attempts_total",
	},
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func descNames(ds []*prometheus.Desc) []string {
	var out []string
	for _, d := range ds {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			out = append(out, m[1])
		}
	}
	return out
}

// Producers maps every known metric name to who produces it: an exporter
// of the suite, the design contract, an external exporter.
func Producers() map[string]string {
	out := map[string]string{}
	for _, n := range descNames(pghacollector.Descriptors()) {
		out[n] = "pgha_exporter"
	}
	for _, n := range descNames(pitrmonitor.Descriptors()) {
		out[n] = "pitr_exporter"
	}
	for who, names := range designContract {
		for _, n := range names {
			out[n] = who + " (design contract)"
		}
	}
	for who, names := range external {
		for _, n := range names {
			out[n] = who
		}
	}
	return out
}

// isRecording tells recording-rule names (level:metric:operations).
func isRecording(name string) bool { return strings.Count(name, ":") >= 2 }
