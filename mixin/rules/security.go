package rules

import (
	"fmt"
	"time"

	"github.com/hotel-ops/hotel-ops/mixin/spec"
)

// Security rules: login failures from the application's
// auth_login_attempts_total{result}, certificates from blackbox_exporter.

func loginFixture(share bool) fixture {
	return fixture{earliest: minute, warmup: 5 * minute, labels: appJob, okBad: higherIsWorse,
		series: func(g *gen, segs []seg, step time.Duration) []inputSeries {
			ls := g.mustLabels([]string{"app"}, map[string]string{"instance": "app-1:8080"})
			failed, ok := func(v float64) float64 { return v * 100 * step.Seconds() }, func(v float64) float64 { return (1 - v) * 100 * step.Seconds() }
			if !share { // v is failures a second, among 100 logins a second
				failed = func(v float64) float64 { return v * step.Seconds() }
				ok = func(v float64) float64 { return (100 - v) * step.Seconds() }
			}
			return []inputSeries{
				{series("auth_login_attempts_total", merge(ls, map[string]string{"result": "failure"})), counterValues(segs, failed)},
				{series("auth_login_attempts_total", merge(ls, map[string]string{"result": "success"})), counterValues(segs, ok)},
				{series("http_requests_total", merge(ls, map[string]string{"code": "200"})), counterValues(segs, func(float64) float64 { return 100 * step.Seconds() })},
			}
		}}
}

func init() {
	failures := func(g *gen) string {
		return fmt.Sprintf(`sum by (job) (rate(auth_login_attempts_total%s[5m]))`, g.sel("app", `result="failure"`))
	}
	blackbox := func(g *gen) map[string]string {
		return g.mustLabels([]string{"blackbox"}, map[string]string{"instance": "https://booking.example.com"})
	}
	certFx := fixture{labels: blackbox, okBad: lowerIsWorse, series: func(g *gen, segs []seg, step time.Duration) []inputSeries {
		return []inputSeries{{series("probe_ssl_earliest_cert_expiry", blackbox(g)), gaugeValues(segs, step, aheadBy)}}
	}}
	expiry := func(g *gen, v spec.Value) string {
		return fmt.Sprintf(`probe_ssl_earliest_cert_expiry%s - time() < %s`, g.sel("blackbox"), v.PromQL())
	}
	register(map[string]*def{
		"LoginFailuresHigh": {
			expr: func(g *gen, v spec.Value) string {
				return fmt.Sprintf(`%s / sum by (job) (rate(auth_login_attempts_total%s[5m])) > %s %s`, failures(g), g.sel("app"), v.PromQL(), g.trafficGuard())
			},
			window: 5 * minute, history: "app", on: "job", fx: loginFixture(true), dashboard: DashRealtime,
			describe: "{{ $value | humanizePercentage }} of logins to {{ $labels.job }} fail (above THRESHOLD): expired tokens after a deploy, or someone guessing."},
		"BruteForceSuspected": {
			expr: func(g *gen, v spec.Value) string { return fmt.Sprintf(`%s > %s`, failures(g), v.PromQL()) },
			fx:   loginFixture(false), dashboard: DashRealtime, window: 5 * minute, history: "app", on: "job",
			describe: "{{ $labels.job }} rejects {{ $value | humanize }} logins a second (above THRESHOLD): treat as a brute-force attack."},
		"CertificateExpiringSoon": {expr: expiry, fx: certFx, dashboard: DashSuite,
			describe: "The TLS certificate of {{ $labels.instance }} expires in {{ $value | humanizeDuration }} (warning under THRESHOLD)."},
		"CertificateExpiryCritical": {expr: expiry, fx: certFx, dashboard: DashSuite,
			describe: "The TLS certificate of {{ $labels.instance }} expires in {{ $value | humanizeDuration }} (critical under THRESHOLD)."},
	})
}
