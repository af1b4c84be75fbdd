// Package policy is escalator's escalation policies: Alertmanager-style
// matchers select a policy for an alert; a policy is steps, each after a
// delay from the incident's opening, notifying channels, with an optional
// repeat of the last step until the incident is acknowledged or resolved.
package policy

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"
)

// File is a policy file.
type File struct {
	Policies []Policy `yaml:"policies"`
}

// Policy escalates the alerts its matchers select.
type Policy struct {
	Name     string   `yaml:"name"`
	Matchers []string `yaml:"matchers"` // label matchers, as in Alertmanager routes
	Steps    []Step   `yaml:"steps"`
	Repeat   *Repeat  `yaml:"repeat,omitempty"`

	matchers labels.Matchers
}

// Step notifies channels, and runs auto-recovery actions, once the
// incident has been open for After.
type Step struct {
	After  model.Duration `yaml:"after"`
	Notify []string       `yaml:"notify,omitempty"`
	// Actions are run once each for the incident (escalator's actions:
	// section says what each does and the limits it is held to).
	Actions []string `yaml:"actions,omitempty"`
}

// Repeat re-sends the last step every Every, Times more times (0: until
// acknowledged or resolved).
type Repeat struct {
	Every model.Duration `yaml:"every"`
	Times int            `yaml:"times"`
}

// Validate parses the matchers and checks each policy against the known
// channels and actions; errors name the policy and field.
func (f *File) Validate(channels, actions map[string]bool) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(f.Policies) == 0 {
		bad("policies: none defined")
	}
	seen := map[string]bool{}
	for i := range f.Policies {
		p := &f.Policies[i]
		where := fmt.Sprintf("policies[%d] (%s)", i, p.Name)
		if p.Name == "" || seen[p.Name] {
			bad("%s.name: must be set and unique", where)
		}
		seen[p.Name] = true
		p.matchers = nil
		for j, m := range p.Matchers {
			pm, err := labels.ParseMatcher(m)
			if err != nil {
				bad("%s.matchers[%d]: %q: %v", where, j, m, err)
				continue
			}
			p.matchers = append(p.matchers, pm)
		}
		if len(p.Steps) == 0 {
			bad("%s.steps: at least one step", where)
		}
		var last model.Duration
		for j, s := range p.Steps {
			if s.After < last {
				bad("%s.steps[%d].after: %s comes before the previous step's %s", where, j, s.After, last)
			}
			last = s.After
			if len(s.Notify) == 0 && len(s.Actions) == 0 {
				bad("%s.steps[%d].notify: no channel (and no action)", where, j)
			}
			for _, a := range s.Actions {
				if !actions[a] {
					bad("%s.steps[%d].actions: unknown action %q", where, j, a)
				}
			}
			for _, c := range s.Notify {
				if !channels[c] {
					bad("%s.steps[%d].notify: unknown channel %q", where, j, c)
				}
			}
		}
		if p.Repeat != nil && (p.Repeat.Every <= 0 || p.Repeat.Times < 0) {
			bad("%s.repeat: every must be positive and times not negative", where)
		}
	}
	return errors.Join(errs...)
}

// Match returns the first policy whose matchers all match, or nil.
func (f *File) Match(ls map[string]string) *Policy {
	set := model.LabelSet{}
	for k, v := range ls {
		set[model.LabelName(k)] = model.LabelValue(v)
	}
	for i := range f.Policies {
		if f.Policies[i].matchers.Matches(set) {
			return &f.Policies[i]
		}
	}
	return nil
}

// StepAt returns the step to run as the n-th escalation (0-based) and
// its delay from the opening: the steps, then the repeats of the last.
// ok is false once the policy is exhausted.
func (p *Policy) StepAt(n int) (s Step, after time.Duration, ok bool) {
	if n < len(p.Steps) {
		return p.Steps[n], time.Duration(p.Steps[n].After), true
	}
	if p.Repeat == nil {
		return Step{}, 0, false
	}
	k := n - len(p.Steps) + 1
	if p.Repeat.Times > 0 && k > p.Repeat.Times {
		return Step{}, 0, false
	}
	last := p.Steps[len(p.Steps)-1]
	return last, time.Duration(last.After) + time.Duration(k)*time.Duration(p.Repeat.Every), true
}

// HasActions reports whether a step of the policy runs an action.
func (p *Policy) HasActions() bool {
	for _, s := range p.Steps {
		if len(s.Actions) > 0 {
			return true
		}
	}
	return false
}

// Byname returns the named policy, or nil.
func (f *File) Byname(name string) *Policy {
	for i := range f.Policies {
		if f.Policies[i].Name == name {
			return &f.Policies[i]
		}
	}
	return nil
}
