package business

import (
	"github.com/prometheus/client_golang/prometheus"
)

// The health of each query, beside its values.
var (
	upDesc = prometheus.NewDesc("sla_query_up",
		"1 if the query's last run succeeded; 0 if it failed (its last good values stay exported) or has not run yet.",
		[]string{"query", "source"}, nil)
	lastSuccessDesc = prometheus.NewDesc("sla_query_last_success_timestamp_seconds",
		"When the run whose values are exported started, in seconds since the epoch; 0 before the first success.",
		[]string{"query"}, nil)
	durationDesc = prometheus.NewDesc("sla_query_duration_seconds",
		"How long the query's last run took.",
		[]string{"query"}, nil)
	errorsDesc = prometheus.NewDesc("sla_query_errors_total",
		"Failed runs of the query by reason: timeout, write_refused (a read-only transaction refused a write), too_many_series, query_error (the server refused the query or its result was unusable), no_connection (every pooled connection held by other queries for the whole timeout), unreachable.",
		[]string{"query", "reason"}, nil)
	seriesDesc = prometheus.NewDesc("sla_query_series",
		"Series the query's exported run produced (at most its max_series).",
		[]string{"query"}, nil)
)

// Descriptors are the health metrics every query has, for the mixin's
// check that each metric a rule or dashboard reads has a producer.
func Descriptors() []*prometheus.Desc {
	return []*prometheus.Desc{upDesc, lastSuccessDesc, durationDesc, errorsDesc, seriesDesc}
}

// Describe implements prometheus.Collector.
func (r *Runner) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range Descriptors() {
		ch <- d
	}
	for _, q := range r.queries {
		for _, d := range q.descs {
			ch <- d
		}
	}
}

// Collect implements prometheus.Collector: it copies what the last runs
// built, under each query's lock, and never runs a query.
func (r *Runner) Collect(ch chan<- prometheus.Metric) {
	for _, q := range r.queries {
		q.mu.Lock()
		name := q.cfg.Name
		up := 0.0
		if q.up {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, up, name, q.cfg.Source())
		last := 0.0
		if !q.lastSuccess.IsZero() {
			last = float64(q.lastSuccess.UnixMilli()) / 1000
		}
		ch <- prometheus.MustNewConstMetric(lastSuccessDesc, prometheus.GaugeValue, last, name)
		if q.attempted {
			ch <- prometheus.MustNewConstMetric(durationDesc, prometheus.GaugeValue, q.duration.Seconds(), name)
		}
		for reason, n := range q.errors {
			ch <- prometheus.MustNewConstMetric(errorsDesc, prometheus.CounterValue, n, name, reason)
		}
		ch <- prometheus.MustNewConstMetric(seriesDesc, prometheus.GaugeValue, float64(len(q.metrics)), name)
		for _, m := range q.metrics {
			ch <- m
		}
		q.mu.Unlock()
	}
}
