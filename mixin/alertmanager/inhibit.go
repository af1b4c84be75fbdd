package alertmanager

import "github.com/hotel-ops/hotel-ops/mixin/spec"

// postgresDown is the alert that says the database is unreachable, after
// which every other warning about that database is noise.
const postgresDown = "PostgresDown"

// inhibitRules silence warnings that a firing critical alert already
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
			comment:        postgresDown + " silences every " + a.Team + " warning of that instance",
			SourceMatchers: labelSet{"alertname": postgresDown}.matchers(),
			TargetMatchers: labelSet{"team": a.Team, "severity": "warning"}.matchers(),
			Equal:          []string{"instance"},
		})
	}
	return rules
}
