package generate

import (
	"fmt"
	"math/big"
	"time"

	"github.com/prometheus/common/model"

	"github.com/hotel-ops/hotel-ops/mixin/spec"
)

// userFacing are the alert categories whose condition is itself failed
// or slow requests.
var userFacing = map[string]bool{"availability": true, "errors": true, "latency": true, "throughput": true}

// Finding is one lint result.
type Finding struct {
	Alert   string
	Warning bool // the threshold conflicts with the budget
	Text    string
}

// Lint says what each critical alert's `for` costs in the availability
// SLO's error budget: a 99.99 % objective over 30 days allows 4m19s of
// failure, so an outage that waits out a 5 minute `for` before paging has
// spent more than the month's budget before anyone hears of it.
func Lint(s *spec.Spec) []Finding {
	slo := s.SLOs["availability"]
	budgetRat := new(big.Rat).Mul(slo.Budget(), new(big.Rat).SetFloat64(slo.Window.D().Seconds()))
	bf, _ := budgetRat.Float64()
	budget := time.Duration(bf * float64(time.Second))
	var out []Finding
	for _, name := range s.AlertNames() {
		a := s.Alerts[name]
		// Only what users feel spends the availability budget: a broken
		// WAL chain or a full disk does not, until it causes one of these.
		if a.Severity != "critical" || !userFacing[a.Category] {
			continue
		}
		share := a.For.D().Seconds() / budget.Seconds()
		f := Finding{Alert: name, Warning: share >= 1}
		verdict := "fits"
		if f.Warning {
			verdict = "exceeds"
		} else if share >= 0.5 {
			verdict = "takes at least half of"
		}
		f.Text = fmt.Sprintf("%s: for %s %s the %s error budget of the %s availability objective (%s): %.0f%%",
			name, model.Duration(a.For.D()), verdict, slo.Window.Raw, slo.Objective.Raw, model.Duration(budget.Round(time.Second)), share*100)
		out = append(out, f)
	}
	return out
}
