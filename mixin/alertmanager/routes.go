package alertmanager

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/hotel-ops/hotel-ops/mixin/spec"
)

// timing is how soon a route first notifies about a new group and how
// often it repeats an unresolved one. The spec holds no timings: these are
// suite defaults. Critical alerts page within seconds and remind hourly;
// anything less waits a minute to batch with its siblings and reminds
// every four hours, which keeps warnings from drowning the pages.
type timing struct{ wait, repeat string }

var (
	criticalTiming = timing{wait: "10s", repeat: "1h"}
	defaultTiming  = timing{wait: "1m", repeat: "4h"}
)

// defaultGroupInterval is how long a group waits before notifying about
// alerts added to it or resolved in it: Alertmanager's default, written
// out so the file tells; routing.group_interval overrides it.
const defaultGroupInterval = "5m"

func timingOf(severity string) timing {
	if severity == "critical" {
		return criticalTiming
	}
	return defaultTiming
}

// fallbackSeverity's channels receive alerts no route matches (no or an
// unknown severity): seen by people, but not paged.
const fallbackSeverity = "warning"

// notification is a route that picks receivers, before rendering.
type notification struct {
	comment  string
	labels   labelSet
	severity string // for timing; "" for the fallback
	channels []string
}

// buildRoute returns the routing tree: the escalator route, then the
// notification routes, most specific first, since the first match wins.
func buildRoute(s *spec.Spec, rs *receiverSet) (*route, error) {
	groups := muteGroups(s)
	fallback, err := rs.forChannels(s.Routing.Severities[fallbackSeverity])
	if err != nil {
		return nil, fmt.Errorf("routing.severities.%s: %w", fallbackSeverity, err)
	}
	// The root's receiver is nominal, as Alertmanager requires one: the
	// catch-all route takes every alert the others leave.
	root := &route{
		Receiver:       fallback,
		GroupBy:        s.Routing.GroupBy,
		GroupWait:      defaultTiming.wait,
		GroupInterval:  defaultGroupInterval,
		RepeatInterval: defaultTiming.repeat,
	}
	if s.Routing.GroupInterval.D() > 0 {
		root.GroupInterval = s.Routing.GroupInterval.String()
	}
	// With escalator, it sends every page: first pages carry its
	// acknowledgement link, and one acknowledgement stops the escalation.
	// Alertmanager pages directly only the alerts labelled for it (escalator's
	// own health, and the copies raised while escalator is down), through
	// the same team, category and severity routes as without escalator.
	parent := root
	if s.Routing.Escalator {
		direct := &route{
			comment:  "paged by Alertmanager itself: escalator's health, and every alert again while escalator is down",
			Receiver: fallback,
			Matchers: labelSet{spec.DirectLabel: spec.DirectValue}.matchers(),
		}
		root.Routes = append(root.Routes, direct, escalatorRoute(s, rs, groups))
		parent = direct
	}
	var earlier []labelSet
	for _, n := range notifications(s) {
		name, err := rs.forChannels(n.channels)
		if err != nil {
			return nil, fmt.Errorf("route %s: %w", n.comment, err)
		}
		r := &route{comment: n.comment, Receiver: name, Matchers: n.labels.matchers()}
		if n.severity != "" {
			t := timingOf(n.severity)
			r.GroupWait, r.RepeatInterval = t.wait, t.repeat
		}
		addMutes(s, r, n.labels, groups, earlier)
		earlier = append(earlier, n.labels)
		parent.Routes = append(parent.Routes, r)
	}
	return root, nil
}

// notifications lists the routes that pick receivers: a team's own
// routing first, then a category's, then the severity's, then a catch-all
// (the root cannot carry mute intervals, so the catch-all does).
func notifications(s *spec.Spec) []notification {
	var out []notification
	for _, team := range spec.SortedKeys(s.Routing.Teams) {
		bySev := s.Routing.Teams[team]
		for _, sev := range severityOrder(bySev) {
			out = append(out, notification{
				comment:  fmt.Sprintf("team %s, %s: %s", team, sev, channelList(bySev[sev])),
				labels:   labelSet{"team": team, "severity": sev},
				severity: sev, channels: bySev[sev],
			})
		}
	}
	// A category narrows where non-critical alerts go (resource: slack);
	// its critical alerts still page through the critical channels, since
	// a category's short list must never leave a critical alert unpaged.
	for _, cat := range spec.SortedKeys(s.Routing.Categories) {
		for _, sev := range severityOrder(s.Routing.Severities) {
			if sev == "critical" {
				continue
			}
			cs := s.Routing.Categories[cat]
			out = append(out, notification{
				comment:  fmt.Sprintf("category %s, %s: %s", cat, sev, channelList(cs)),
				labels:   labelSet{"category": cat, "severity": sev},
				severity: sev, channels: cs,
			})
		}
	}
	for _, sev := range severityOrder(s.Routing.Severities) {
		cs := s.Routing.Severities[sev]
		out = append(out, notification{
			comment:  fmt.Sprintf("%s: %s", sev, channelList(cs)),
			labels:   labelSet{"severity": sev},
			severity: sev, channels: cs,
		})
	}
	cs := s.Routing.Severities[fallbackSeverity]
	out = append(out, notification{
		comment:  fmt.Sprintf("anything else (no or unknown severity): %s", channelList(cs)),
		labels:   labelSet{},
		channels: cs,
	})
	return out
}

// severityOrder returns m's severities most severe first (spec.Severities'
// order), then any others sorted.
func severityOrder[V any](m map[string]V) []string {
	var out []string
	for _, sev := range spec.Severities {
		if _, ok := m[sev]; ok {
			out = append(out, sev)
		}
	}
	var rest []string
	for sev := range m {
		if !slices.Contains(spec.Severities, sev) {
			rest = append(rest, sev)
		}
	}
	sort.Strings(rest)
	return append(out, rest...)
}

func channelList(cs []string) string {
	if len(cs) == 0 {
		return "nobody"
	}
	return strings.Join(cs, ", ")
}
