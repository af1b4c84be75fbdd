package spec

// FirstChannels are the channels an alert with these labels reaches first,
// and which entry of routing chose them: a team's own channels for the
// severity, else a category's for a non-critical severity (a category's
// short list never leaves a critical unpaged), else the severity's, else
// the warning channels. Alertmanager's generated routes and escalator's
// first steps both follow this order.
func (s *Spec) FirstChannels(team, category, severity string) (channels []string, by string) {
	if cs, ok := s.Routing.Teams[team][severity]; ok {
		return cs, "team " + team
	}
	if severity != "" && severity != "critical" {
		if cs, ok := s.Routing.Categories[category]; ok {
			return cs, "category " + category
		}
	}
	if cs, ok := s.Routing.Severities[severity]; ok {
		return cs, "severity " + severity
	}
	return s.Routing.Severities["warning"], "fallback"
}

// EscalationOf is the escalation that applies to an alert of this
// severity: the one it names, else its severity's; "" when none applies
// (an error unless it names NoEscalation).
func (s *Spec) EscalationOf(named, severity string) string {
	if named != "" {
		return named
	}
	if _, ok := s.Escalations.Steps[severity]; ok {
		return severity
	}
	return ""
}
