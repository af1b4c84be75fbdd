package hotelapp

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DurationBuckets are the buckets of http_request_duration_seconds. The
// alert rules select le="0.5" and le="1": keep both.
var DurationBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Login results, the values of auth_login_attempts_total's result label.
const (
	LoginSuccess = "success"
	LoginFailure = "failure"
)

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	logins   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, faults func() Faults) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "HTTP requests served, by status code, method and route name (handler).",
		}, []string{"code", "method", "handler"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, by method and route name (handler).",
			Buckets: DurationBuckets,
		}, []string{"method", "handler"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auth_login_attempts_total",
			Help: "Login attempts that were decided, by result (success or failure).",
		}, []string{"result"}),
	}
	collectors := []prometheus.Collector{
		m.requests, m.duration, m.logins,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hotelapp_fault_error_ratio",
			Help: "Injected fault: share of API requests answering 500.",
		}, func() float64 { return faults().ErrorRatio }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hotelapp_fault_latency_seconds",
			Help: "Injected fault: latency added to each API request.",
		}, func() float64 { return faults().Latency.Seconds() }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hotelapp_fault_login_failure_ratio",
			Help: "Injected fault: share of logins failing whatever the password.",
		}, func() float64 { return faults().LoginFailureRatio }),
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	// Both results exist from the start, so rate() over them is defined.
	m.logins.WithLabelValues(LoginSuccess)
	m.logins.WithLabelValues(LoginFailure)
	return m, nil
}

// instrument counts and times the requests of one route, labelled with its
// name (never the raw path, so the label's values are bounded).
func (m *metrics) instrument(handler string, next http.Handler) http.Handler {
	l := prometheus.Labels{"handler": handler}
	return promhttp.InstrumentHandlerCounter(m.requests.MustCurryWith(l),
		promhttp.InstrumentHandlerDuration(m.duration.MustCurryWith(l), next))
}
