package dashboards

import (
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/hotel-ops/hotel-ops/mixin/spec"
)

// PromQL helpers: selectors from the spec, and the range every rate
// takes.

// rateInterval is Grafana's range for rate(): at least four scrapes, so
// a graph never shows the gaps a fixed [1m] leaves at wide zoom.
const rateInterval = "$__rate_interval"

// sel is the spec's selector of a job with extra matchers, in braces.
// The filesystem and network_device selectors are such extras.
func sel(s *spec.Spec, job string, extra ...string) string {
	ms := []string{s.Selectors[job]}
	for _, e := range extra {
		if e != "" {
			ms = append(ms, e)
		}
	}
	return "{" + strings.Join(ms, ", ") + "}"
}

// rate is the per-second rate of a counter over Grafana's rate interval.
func rate(metric, selector string) string {
	return fmt.Sprintf("rate(%s%s[%s])", metric, selector, rateInterval)
}

// window names a duration as the recording rules do ("30d", "1h").
func window(d time.Duration) string { return model.Duration(d).String() }

// sliError is the recorded error ratio of an SLO over a window.
func sliError(slo string, w time.Duration) string {
	return fmt.Sprintf(`slo:sli_error:ratio_rate%s{slo="%s"}`, window(w), slo)
}

// budget is an SLO's error budget, 1 − objective, as an exact literal:
// 0.0001, not 0.00009999999999998899.
func budget(o spec.SLO) string {
	return spec.Decimal(o.Budget())
}
