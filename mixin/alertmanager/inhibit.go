package alertmanager

import "github.com/hotel-ops/hotel-ops/mixin/spec"

// postgresDown is the alert that says the database is unreachable, after
// which every other warning about that database is noise.
const postgresDown = "PostgresDown"

// inhibitRules silence alerts that a firing critical alert already
// explains.
func inhibitRules(s *spec.Spec) []inhibitRule {
	rules := []inhibitRule{{
		// Alerts generated from one threshold's warning and critical
		// levels share its name as `signal`: once the critical level
		// fires on an instance, its warning says nothing new.
		comment:        "a critical alert silences the warning of the same signal on the same instance",
		SourceMatchers: []string{`severity="critical"`, `signal=~".+"`},
		TargetMatchers: []string{`severity="warning"`},
		Equal:          []string{"signal", "instance", "job"},
	}}
	if a, ok := s.Alerts[postgresDown]; ok && a.On() {
		rules = append(rules, inhibitRule{
			// Of a database that does not answer, its lag, connections and
			// queries are unknown: the lag alerts that keep firing for a
			// stopped standby (so that they never send a false "resolved")
			// are said once, by PostgresDown.
			comment:        postgresDown + " silences every other " + a.Team + " alert of that instance",
			SourceMatchers: labelSet{"alertname": postgresDown}.matchers(),
			TargetMatchers: append(labelSet{"team": a.Team}.matchers(), `alertname!="`+postgresDown+`"`),
			Equal:          []string{"instance"},
		})
	}
	return rules
}
