package action

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/prometheus/common/model"
)

// An action's checks through Prometheus: a precondition that must hold
// when the run is about to begin ("the alert still fires": the query
// returns at least one sample), and a post-check that must hold within
// a time after a successful run ("recovered within 5 min"). Both are
// PromQL templates over the allowed labels.
//
// A label value reaches PromQL only inside a string literal, and only if
// it holds no quote, backslash or control character: Validate checks
// that every label the template places lands inside a string, and the
// escaper refuses the values that could end one. So a label can select
// series but never add an operator, a function or a second selector.

// DefaultPostcheckWithin is how long a post-check waits for recovery.
const DefaultPostcheckWithin = 5 * time.Minute

// Postcheck is the query that must return a sample within Within of a
// successful run, or the run counts as failed.
type Postcheck struct {
	Query  string         `yaml:"query"`
	Within model.Duration `yaml:"within,omitempty"` // default 5m
}

// promqlEscaper places label values in PromQL string literals.
var promqlEscaper = &escaper{
	where:  "the query",
	escape: func(v string) string { return v },
	check: func(v string) error {
		for _, r := range v {
			if r == '"' || r == '\'' || r == '`' || r == '\\' || unicode.IsControl(r) {
				return fmt.Errorf("holds %q, which a PromQL string cannot take here", r)
			}
		}
		return nil
	},
}

// sampleMarker is the value a label takes when Validate renders a query,
// to find where the template placed it.
const sampleMarker = "zzsamplevaluezz"

func (v *checker) promql(key, src string, c *Config) {
	if _, err := parseTemplate(key, src, promqlEscaper); err != nil {
		v.Field(key, "%v", err)
		return
	}
	t, _ := parseTemplate(key, src, promqlEscaper)
	sample := make(map[string]string, len(c.Labels))
	for name := range c.Labels {
		sample[name] = sampleMarker
	}
	out, err := t.render(sample)
	if err != nil {
		v.Field(key, "%v", labelError(err, c))
		return
	}
	if strings.TrimSpace(out) == "" {
		v.Field(key, "renders to an empty query")
		return
	}
	if err := labelsInStrings(out); err != nil {
		v.Field(key, "%v", err)
	}
}

// labelsInStrings reports a sample label value outside a PromQL string
// literal ("...", '...' or `...`) of q.
func labelsInStrings(q string) error {
	var quote rune
	start := 0 // where the current stretch outside strings began
	check := func(s string) error {
		if strings.Contains(s, sampleMarker) {
			return errors.New(`a label is placed outside a quoted string: write it inside quotes, like {instance="{{.instance}}"}`)
		}
		return nil
	}
	for i := 0; i < len(q); i++ {
		ch := rune(q[i])
		switch {
		case quote == 0 && (ch == '"' || ch == '\'' || ch == '`'):
			if err := check(q[start:i]); err != nil {
				return err
			}
			quote = ch
		case quote != 0 && ch == '\\' && quote != '`':
			i++ // an escaped character stays in the string
		case quote != 0 && ch == quote:
			quote, start = 0, i+1
		}
	}
	if quote != 0 {
		return errors.New("a string is not closed")
	}
	return check(q[start:])
}

func (c *Config) validateChecks(v *checker) {
	if c.Precondition != "" {
		v.promql("precondition", c.Precondition, c)
	}
	if p := c.Postcheck; p != nil {
		if p.Query == "" {
			v.Field("postcheck.query", "required")
		} else {
			v.promql("postcheck.query", p.Query, c)
		}
		if p.Within < 0 {
			v.Field("postcheck.within", "must not be negative")
		}
	}
}

// HasChecks reports whether the action asks Prometheus anything.
func (c *Config) HasChecks() bool { return c.Precondition != "" || c.Postcheck != nil }

// PostcheckWithin is how long the post-check waits (0: none).
func (c *Config) PostcheckWithin() time.Duration {
	switch {
	case c.Postcheck == nil:
		return 0
	case c.Postcheck.Within > 0:
		return time.Duration(c.Postcheck.Within)
	}
	return DefaultPostcheckWithin
}

// Checks renders the action's precondition and post-check for the
// allowed labels ("" when not configured), and how long the post-check
// waits.
func (c *Config) Checks(allowed map[string]string) (pre, post string, within time.Duration, err error) {
	if c.Precondition != "" {
		t, err := parseTemplate("precondition", c.Precondition, promqlEscaper)
		if err == nil {
			pre, err = t.render(allowed)
		}
		if err != nil {
			return "", "", 0, fmt.Errorf("precondition: %w", err)
		}
	}
	if p := c.Postcheck; p != nil {
		t, err := parseTemplate("postcheck", p.Query, promqlEscaper)
		if err == nil {
			post, err = t.render(allowed)
		}
		if err != nil {
			return "", "", 0, fmt.Errorf("postcheck: %w", err)
		}
		within = c.PostcheckWithin()
	}
	return pre, post, within, nil
}
