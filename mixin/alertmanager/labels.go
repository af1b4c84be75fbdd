package alertmanager

import (
	"fmt"
	"sort"
	"strings"
)

// labelSet is a conjunction of equality matchers, label → value: what a
// route or a maintenance mute group matches on.
type labelSet map[string]string

// matchers renders the set as Alertmanager matchers, sorted.
func (l labelSet) matchers() []string {
	out := make([]string, 0, len(l))
	for _, k := range l.names() {
		out = append(out, fmt.Sprintf("%s=%q", k, l[k]))
	}
	return out
}

func (l labelSet) names() []string {
	ks := make([]string, 0, len(l))
	for k := range l {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// key identifies the set: equal sets have equal keys.
func (l labelSet) key() string { return strings.Join(l.matchers(), ",") }

// compatible reports whether some alert can match both sets: they do not
// require different values of one label.
func (l labelSet) compatible(o labelSet) bool {
	for k, v := range l {
		if ov, ok := o[k]; ok && ov != v {
			return false
		}
	}
	return true
}

// union is the conjunction of both sets (which must be compatible).
func (l labelSet) union(o labelSet) labelSet {
	out := labelSet{}
	for k, v := range l {
		out[k] = v
	}
	for k, v := range o {
		out[k] = v
	}
	return out
}

// within reports whether every alert that matches o also matches l.
func (l labelSet) within(o labelSet) bool {
	for k, v := range l {
		if ov, ok := o[k]; !ok || ov != v {
			return false
		}
	}
	return true
}

// minus drops the matchers o already has.
func (l labelSet) minus(o labelSet) labelSet {
	out := labelSet{}
	for k, v := range l {
		if ov, ok := o[k]; !ok || ov != v {
			out[k] = v
		}
	}
	return out
}
