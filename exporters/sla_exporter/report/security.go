package report

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/period"
)

// SecurityCategory is the category label of the security alerts.
const SecurityCategory = "security"

// buildSecurity is the security section of a monthly report.
//
// Security incidents are escalator's incidents of category security, not
// the changes of ALERTS{category="security"} in Prometheus: ALERTS is one
// series per alert that exists only while it fires, so counting its
// starts over a month needs a subquery and miscounts an alert that flaps
// (each start counts) or that fired across a Prometheus restart, and it
// is only in the Prometheus that evaluated the rules. Escalator folds the
// flaps and re-sends into one incident, which is what someone handled,
// and the list is read once for the incident section already.
func buildSecurity(ctx context.Context, src Sources, loginFailures string, inc IncidentsSection, p period.Period, until time.Time) *SecuritySection {
	s := &SecuritySection{IncidentsStatus: inc.Status, LoginFailures: math.NaN()}
	if inc.OK() {
		for _, i := range inc.Figures.Incidents {
			if i.Category == SecurityCategory {
				s.Incidents = append(s.Incidents, i)
			}
		}
	}
	if src.Prometheus == nil || strings.TrimSpace(loginFailures) == "" {
		s.LoginStatus.NotConfigured = true
		return s
	}
	// increase over the elapsed period, evaluated at its end: the window
	// (start, until] is exactly the period. Prometheus extrapolates the
	// increase to the window's edges from the average rate, so the count
	// can be fractional; it is shown rounded.
	expr := fmt.Sprintf("sum(increase(%s[%s]))", loginFailures, promDuration(until.Sub(p.Start)))
	v, warns, err := queryScalar(ctx, src, expr, until)
	s.LoginStatus.Errors = append(s.LoginStatus.Errors, warnings(warns)...)
	if err != nil {
		s.LoginStatus.fail("counting login failures", err)
		return s
	}
	s.LoginFailures = v
	return s
}
