package action

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// anchor makes a label pattern match the whole value, as Prometheus's
// =~ does: "web-.*" must not accept "evil;web-1".
func anchor(pattern string) string { return "^(?:" + pattern + ")$" }

// maxQuoted bounds how much of a refused value an error shows: the error
// goes into the audit log, and the value is whatever the alert carried.
const maxQuoted = 32

// quoteValue is v quoted, cut to maxQuoted runes, so that an error can
// show a refused value without logging it whole or raw.
func quoteValue(v string) string {
	if utf8.RuneCountInString(v) <= maxQuoted {
		return strconv.Quote(v)
	}
	cut := []rune(v)[:maxQuoted]
	return strconv.Quote(string(cut)) + fmt.Sprintf("… (%d bytes)", len(v))
}

// Allowed returns the labels of an alert that c allows, each checked
// against its pattern; nothing else of the alert reaches the action. The
// error names the first label (in name order) missing or not matching.
func (c *Config) Allowed(labels map[string]string) (map[string]string, error) {
	allowed := make(map[string]string, len(c.Labels))
	for _, name := range sortedKeys(c.Labels) {
		value, ok := labels[name]
		if !ok {
			return nil, fmt.Errorf("label %s is missing", name)
		}
		re, err := regexp.Compile(anchor(c.Labels[name]))
		if err != nil {
			// Validate rejects it: only an unchecked Config gets here.
			return nil, fmt.Errorf("label %s: invalid pattern: %w", name, err)
		}
		if !re.MatchString(value) {
			return nil, fmt.Errorf("label %s: value %s does not match %s", name, quoteValue(value), anchor(c.Labels[name]))
		}
		allowed[name] = value
	}
	return allowed, nil
}

// Target is the cooldown key of a run: the target labels' name=value
// pairs, sorted, joined with ",". A value holding ",", "=", a quote or
// anything unprintable is quoted, so two different targets never share a
// key (and so a cooldown).
func (c *Config) Target(allowed map[string]string) string {
	names := c.TargetLabels
	if len(names) == 0 {
		names = sortedKeys(c.Labels)
	}
	pairs := make([]string, 0, len(names))
	for _, name := range names {
		v := allowed[name]
		if strings.ContainsAny(v, `,="\`) || strconv.Quote(v) != `"`+v+`"` {
			v = strconv.Quote(v)
		}
		pairs = append(pairs, name+"="+v)
	}
	slices.Sort(pairs)
	return strings.Join(pairs, ",")
}
