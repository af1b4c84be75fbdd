package escalate

import "github.com/prometheus/client_golang/prometheus"

// Metrics are escalator's; mixin/generate/contract.go lists the same names
// for the rules and dashboards that read them.
type Metrics struct {
	AlertsReceived *prometheus.CounterVec
	Duplicates     prometheus.Counter
	Resolution     *prometheus.HistogramVec
	Steps          *prometheus.CounterVec
	EscalationLag  prometheus.Histogram
	Notifications  *prometheus.CounterVec
	Deliveries     *prometheus.HistogramVec
	Truncated      prometheus.Counter
	EarlyResolves  prometheus.Counter
	Actions        *prometheus.CounterVec
	ActionDuration *prometheus.HistogramVec
	Diagnostics    prometheus.Histogram
	Resolved       *prometheus.CounterVec
	timersPending  *prometheus.Desc
	incidentsOpen  *prometheus.Desc
	storeFn        func() (int, map[string]int, error)
}

// NewMetrics registers escalator's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		AlertsReceived: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "escalator_alerts_received_total", Help: "Alerts received from Alertmanager, by status."}, []string{"status"}),
		Duplicates:     prometheus.NewCounter(prometheus.CounterOpts{Name: "escalator_duplicate_deliveries_total", Help: "Deliveries already received (another Alertmanager peer, or a repeat)."}),
		Resolution: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "escalator_incident_resolution_seconds", Help: "Time from opening to resolving an incident (MTTR), by the alert's severity label.",
			Buckets: []float64{60, 300, 900, 1800, 3600, 2 * 3600, 4 * 3600, 8 * 3600, 24 * 3600, 72 * 3600}}, []string{"severity"}),
		Steps: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "escalator_escalation_steps_total", Help: "Escalation steps taken, by policy."}, []string{"policy"}),
		EscalationLag: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "escalator_escalation_lag_seconds", Help: "Delay from an escalation step's due time to its notification being sent, per notification sent.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}}),
		Notifications: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "escalator_notifications_total", Help: "Notification attempts by channel and result (success, failure, retry)."}, []string{"channel", "result"}),
		// The webhook's answer waits for the store's commit, so this is
		// where a slow or stalling disk shows (webhook/README.md).
		Deliveries: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "escalator_delivery_duration_seconds",
			Help:    "Time to answer an Alertmanager delivery, by HTTP status; a 200 comes after the delivery is committed.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}}, []string{"code"}),
		Truncated: prometheus.NewCounter(prometheus.CounterOpts{Name: "escalator_alerts_truncated_total",
			Help: "Alerts Alertmanager left out of its deliveries (truncatedAlerts: a group outgrew the receiver's max_alerts); they never became incidents."}),
		EarlyResolves: prometheus.NewCounter(prometheus.CounterOpts{Name: "escalator_early_resolves_total",
			Help: "Alerts whose resolve arrived before their firing (Alertmanager peers out of order): recorded closed, nobody paged."}),
		Actions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "escalator_actions_total",
			Help: "Auto-recovery action runs by action and result: succeeded, failed, unknown (cut off: never retried), dry_run, cooldown, budget, not_open, refused."}, []string{"action", "result"}),
		ActionDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "escalator_action_duration_seconds", Help: "Time an auto-recovery action ran, by action.",
			Buckets: []float64{.01, .05, .1, .5, 1, 5, 10, 30, 60, 300}}, []string{"action"}),
		Diagnostics: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "escalator_diagnostics_duration_seconds",
			Help:    "Time an incident's health checks took before its trigger notifications went out (what diagnostics add to the first page).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}),
		Resolved: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "escalator_incidents_resolved_total",
			Help: "Incidents resolved by Alertmanager, by severity and whether automation fixed them (automated: an action succeeded and nobody acknowledged): the automation rate."}, []string{"severity", "automated"}),
		timersPending: prometheus.NewDesc("escalator_timers_pending", "Escalation steps waiting for their time.", nil, nil),
		incidentsOpen: prometheus.NewDesc("escalator_incidents_open", "Incidents not resolved yet, by severity.", []string{"severity"}, nil),
	}
	reg.MustRegister(m.AlertsReceived, m.Duplicates, m.Resolution, m.Steps, m.EscalationLag, m.Notifications, m.Deliveries, m.Truncated, m.EarlyResolves, m.Actions, m.ActionDuration, m.Diagnostics, m.Resolved, m)
	return m
}

// Describe implements prometheus.Collector for the store-backed gauges.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.timersPending
	ch <- m.incidentsOpen
}

// Collect reads the gauges from the store at scrape time.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	if m.storeFn == nil {
		return
	}
	pending, open, err := m.storeFn()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(m.timersPending, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(m.timersPending, prometheus.GaugeValue, float64(pending))
	for sev, n := range open {
		ch <- prometheus.MustNewConstMetric(m.incidentsOpen, prometheus.GaugeValue, float64(n), sev)
	}
}
