package store

import "sort"

// sortIncidents puts unresolved incidents first, each group newest first.
func sortIncidents(xs []Incident) {
	sort.Slice(xs, func(i, j int) bool {
		oi, oj := xs[i].Status != Resolved, xs[j].Status != Resolved
		if oi != oj {
			return oi
		}
		return xs[i].OpenedAt.After(xs[j].OpenedAt)
	})
}

// sortBySeq puts notifications in the order they were queued.
func sortBySeq(xs []Notification) {
	sort.Slice(xs, func(i, j int) bool { return xs[i].Seq < xs[j].Seq })
}
