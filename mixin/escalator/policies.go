package escalator

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/prometheus/common/model"

	"github.com/hotel-ops/hotel-ops/mixin/spec"
	"github.com/hotel-ops/hotel-ops/webhook/policy"
)

// class is the alerts that escalate alike: the same escalation after the
// same first channels.
type class struct {
	escalation string   // a key of the spec's escalations, or spec.NoEscalation
	by         string   // the routing entry that chose the first channels
	first      []string // the first page's channels
	alerts     []string
	severity   string   // set for alerts of several severities (SLO burns)
	actions    []string // the recovery actions that answer every alert of the class
}

// policies are one policy per class of the spec's alerts, most specific
// first (escalator takes the first that matches), then one per severity
// and a last one for anything else, so that an alert written by hand
// outside the spec is paged and escalated too.
func policies(s *spec.Spec) ([]policy.Policy, error) {
	classes := map[string]*class{}
	var errs []error
	add := func(name, severity, team, category, named string, perSeverity bool) {
		esc := s.EscalationOf(named, severity)
		if esc == "" {
			errs = append(errs, fmt.Errorf("alerts.%s: no policy escalates it: name an escalation, add escalations.%s, or say escalation: %s", name, severity, spec.NoEscalation))
			return
		}
		first, by := s.FirstChannels(team, category, severity)
		// An action answers its alerts only: they are a class of their
		// own, split from the others that escalate alike.
		acts := s.ActionsAnswering(name)
		key := esc + "|" + by + "|" + strings.Join(first, ",") + "|" + strings.Join(acts, ",")
		if perSeverity {
			key += "|" + severity
		}
		c := classes[key]
		if c == nil {
			c = &class{escalation: esc, by: by, first: first, actions: acts}
			if perSeverity {
				c.severity = severity
			}
			classes[key] = c
		}
		c.alerts = append(c.alerts, name)
	}
	for _, name := range s.AlertNames() {
		a := s.Alerts[name]
		if !a.On() || a.Labels[spec.DirectLabel] == spec.DirectValue && s.Routing.Escalator {
			continue // Alertmanager pages it; escalator never sees it
		}
		if a.InheritLabels {
			continue // takes the severity and team of others: the catch-alls below
		}
		if a.SLO != "" {
			var sevs []string
			for _, b := range s.BurnRates {
				if !slices.Contains(sevs, b.Severity) {
					sevs = append(sevs, b.Severity)
				}
			}
			for _, sev := range sevs {
				add(name, sev, a.Team, a.Category, a.Escalation, true)
			}
			continue
		}
		add(name, a.Severity, a.Team, a.Category, a.Escalation, false)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	keys := spec.SortedKeys(classes)
	// Names: the escalation's, with the team or category that chose other
	// channels, and "-burn" for the burn-rate alerts matched by severity.
	// A class split off for its actions adds their names, so that the
	// rest keeps the name it had.
	baseName := func(c *class) string {
		name := c.escalation
		if kind, value, ok := strings.Cut(c.by, " "); ok && kind != "severity" {
			name += "-" + value
		}
		if c.severity != "" {
			name += "-burn"
		}
		return name
	}
	bases := map[string]int{}
	for _, c := range classes {
		bases[baseName(c)]++
	}
	used := map[string]bool{}
	var out []policy.Policy
	for _, k := range keys {
		c := classes[k]
		name := baseName(c)
		if bases[name] > 1 {
			for _, a := range c.actions {
				name += "-" + a
			}
		}
		for base, i := name, 2; used[name]; i++ {
			name = fmt.Sprintf("%s-%d", base, i)
		}
		used[name] = true
		sort.Strings(c.alerts)
		quoted := make([]string, len(c.alerts))
		for i, a := range c.alerts {
			quoted[i] = regexp.QuoteMeta(a)
		}
		p := policy.Policy{Name: name, Matchers: []string{fmt.Sprintf(`alertname=~"%s"`, strings.Join(quoted, "|"))},
			Steps: steps(s, c.first, c.escalation)}
		if len(p.Steps) == 0 {
			if len(c.actions) > 0 {
				errs = append(errs, fmt.Errorf("recovery: %s answer %s, which escalator neither pages nor escalates: no step would run them", strings.Join(c.actions, ", "), strings.Join(c.alerts, ", ")))
			}
			continue // not escalated, and Alertmanager sends its pages
		}
		// The actions run first, in the first step: its page goes out as
		// it would without them, at the spec's time.
		p.Steps[0].Actions = slices.Clone(c.actions)
		if c.severity != "" {
			p.Matchers = append(p.Matchers, fmt.Sprintf(`severity="%s"`, c.severity))
		}
		out = append(out, p)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	// Catch-alls, for alerts the spec does not generate. They run no
	// action: an action answers the alerts the spec names, no other.
	for _, sev := range spec.Severities {
		if _, ok := s.Routing.Severities[sev]; !ok {
			continue
		}
		first, _ := s.FirstChannels("", "", sev)
		esc := s.EscalationOf("", sev)
		if esc == "" {
			esc = spec.NoEscalation
		}
		out = append(out, policy.Policy{Name: "any-" + sev, Matchers: []string{fmt.Sprintf(`severity="%s"`, sev)}, Steps: steps(s, first, esc)})
	}
	first, _ := s.FirstChannels("", "", "")
	esc := s.EscalationOf("", "warning")
	if esc == "" {
		esc = spec.NoEscalation
	}
	out = append(out, policy.Policy{Name: "any", Steps: steps(s, first, esc)})
	return out, nil
}

// steps are the first page (when escalator sends first pages) and the
// escalation. An escalation due at once joins the first page.
func steps(s *spec.Spec, first []string, escalation string) []policy.Step {
	var out []policy.Step
	if s.Routing.Escalator {
		out = append(out, policy.Step{After: 0, Notify: slices.Clone(first)})
	}
	if escalation == spec.NoEscalation {
		return out
	}
	e := s.Escalations.Steps[escalation]
	if len(out) > 0 && e.After.D() == 0 {
		if !slices.Contains(out[0].Notify, e.To) {
			out[0].Notify = append(out[0].Notify, e.To)
		}
		return out
	}
	return append(out, policy.Step{After: model.Duration(e.After.D()), Notify: []string{e.To}})
}
