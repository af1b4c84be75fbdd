package alertmanager

import (
	"slices"
	"sort"
	"strings"

	"github.com/hotel-ops/hotel-ops/mixin/spec"
)

// Maintenance muting.
//
// Alertmanager mutes by route: a route's mute_time_intervals silence the
// alerts that end on it, and its children do not inherit them. The spec
// mutes by labels ({team: database, severity: warning} during the weekly
// window). So every route that an alert can end on gets children, one per
// combination of mute groups it may match, that carry the windows of
// those groups. The children have no receiver of their own: they inherit
// their parent's, so the receiver choice is made once, by the parent, and
// inside a window a matching alert reaches nobody while outside it the
// same alert is routed exactly as if there were no maintenance at all.
//
// The escalator's route gets the same children: planned work must not
// open incidents or escalate to a manager either.
//
// An alert can match several groups (a resource warning is muted by the
// daily and the weekly window), and only the first matching child
// counts, so children cover every consistent conjunction of groups and
// come most specific first: the first child an alert matches is then the
// conjunction of all the groups it matches. A conjunction holds at most
// one value per label, and groups use four labels, so there are few.

// muteGroup is one distinct group of matchers of the spec's maintenance
// mutes, with every window that mutes it.
type muteGroup struct {
	labels  labelSet
	windows []string
}

// muteGroups collects the spec's mute groups, merging equal groups of
// different windows.
func muteGroups(s *spec.Spec) []muteGroup {
	var out []muteGroup
	index := map[string]int{}
	for _, w := range s.Maintenance {
		for _, m := range w.Mutes {
			ls := labelSet{}
			for k, v := range m {
				ls[k] = v
			}
			i, ok := index[ls.key()]
			if !ok {
				i = len(out)
				index[ls.key()] = i
				out = append(out, muteGroup{labels: ls})
			}
			if !slices.Contains(out[i].windows, w.Name) {
				out[i].windows = append(out[i].windows, w.Name)
			}
		}
	}
	return out
}

// windowsFor returns the windows that mute every alert matching set, in
// the spec's order.
func windowsFor(s *spec.Spec, groups []muteGroup, set labelSet) []string {
	muted := map[string]bool{}
	for _, g := range groups {
		if g.labels.within(set) {
			for _, w := range g.windows {
				muted[w] = true
			}
		}
	}
	var out []string
	for _, w := range s.Maintenance {
		if muted[w.Name] {
			out = append(out, w.Name)
		}
	}
	return out
}

// addMutes gives r, which matches base, the windows that mute all of its
// alerts and children for the alerts only some windows mute. earlier are
// the matchers of the routes before r that stop matching (no continue):
// alerts they match never reach r, so r needs no children for them.
func addMutes(s *spec.Spec, r *route, base labelSet, groups []muteGroup, earlier []labelSet) {
	r.MuteTimeIntervals = windowsFor(s, groups, base)

	cands := map[string]labelSet{}
	for _, g := range groups {
		if g.labels.compatible(base) {
			u := base.union(g.labels)
			cands[u.key()] = u
		}
	}
	for changed := true; changed; {
		changed = false
		keys := spec.SortedKeys(cands)
		for i, a := range keys {
			for _, b := range keys[i+1:] {
				if !cands[a].compatible(cands[b]) {
					continue
				}
				if u := cands[a].union(cands[b]); cands[u.key()] == nil {
					cands[u.key()] = u
					changed = true
				}
			}
		}
	}

	type child struct {
		set     labelSet
		windows []string
	}
	var children []child
	for _, k := range spec.SortedKeys(cands) {
		w := windowsFor(s, groups, cands[k])
		// The route's own windows already cover these alerts, or an
		// earlier route takes them all.
		if !slices.Equal(w, r.MuteTimeIntervals) && !takenBy(earlier, cands[k]) {
			children = append(children, child{cands[k], w})
		}
	}
	sort.SliceStable(children, func(i, j int) bool { return len(children[i].set) > len(children[j].set) })
	for _, c := range children {
		r.Routes = append(r.Routes, &route{
			comment:           "maintenance: muted during " + strings.Join(c.windows, ", "),
			Matchers:          c.set.minus(base).matchers(),
			MuteTimeIntervals: c.windows,
		})
	}
}

// takenBy reports whether one of the routes matches every alert of set.
func takenBy(routes []labelSet, set labelSet) bool {
	for _, r := range routes {
		if r.within(set) {
			return true
		}
	}
	return false
}
