package generate

import (
	"regexp"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	pghacollector "github.com/hotel-ops/hotel-ops/exporters/pgha_exporter/collector"
	pitrmonitor "github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/monitor"
	slabusiness "github.com/hotel-ops/hotel-ops/exporters/sla_exporter/business"
	slaconfig "github.com/hotel-ops/hotel-ops/exporters/sla_exporter/config"
	slaexamples "github.com/hotel-ops/hotel-ops/exporters/sla_exporter/examples"
	slaincidents "github.com/hotel-ops/hotel-ops/exporters/sla_exporter/incidents"
	slaperiods "github.com/hotel-ops/hotel-ops/exporters/sla_exporter/sla"
)

// slaDescriptors are sla_exporter's own metrics: query health, SLA per
// period, incident figures.
func slaDescriptors() []*prometheus.Desc {
	return append(append(slabusiness.Descriptors(), slaperiods.Descriptors()...), slaincidents.Descriptors()...)
}

// slaExampleMetrics are the metrics the shipped example's queries define.
func slaExampleMetrics() []string {
	c, err := slaconfig.Parse("examples/hotel.yml", slaexamples.Hotel)
	if err != nil {
		panic(err) // the example's own test parses it: never in a build that passed
	}
	var out []string
	for _, q := range c.Queries {
		if q.Redis != nil {
			out = append(out, q.Redis.Metric)
		}
		for _, m := range q.Metrics {
			out = append(out, m.Name)
		}
	}
	return out
}

// The metrics rules and dashboards may use, by who produces them. Our
// exporters are read from their own descriptors, and sla_exporter's
// business metrics from its shipped example configuration (the names the
// business dashboard reads). escalator's are listed here (reading its
// descriptors would link its stores into mixgen; a test compares the list
// with what it registers); the rest are external exporters and the
// application.

// designContract lists escalator's metrics (webhook/escalate/metrics.go).
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
	for _, n := range descNames(slaDescriptors()) {
		out[n] = "sla_exporter"
	}
	for _, n := range slaExampleMetrics() {
		out[n] = "sla_exporter (shipped example configuration)"
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
