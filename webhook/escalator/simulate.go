package main

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/hotel-ops/hotel-ops/internal/yamlconf"
	"github.com/hotel-ops/hotel-ops/webhook/config"
)

// fixtureFile lists alerts to simulate.
type fixtureFile struct {
	Alerts []fixture `yaml:"alerts"`
}

type fixture struct {
	Labels        map[string]string `yaml:"labels"`
	At            model.Duration    `yaml:"at"`
	AckedAfter    model.Duration    `yaml:"acked_after"`
	ResolvedAfter model.Duration    `yaml:"resolved_after"`
}

type event struct {
	at   time.Duration
	text string
}

// simulate prints, for each fixture alert, when each step of its policy
// would notify whom, stopping at acknowledgement, resolution or the
// horizon: the same rules the engine applies, without waiting for them.
func simulate(cfg *config.Config, path string, horizon time.Duration) (string, error) {
	var ff fixtureFile
	if err := yamlconf.Load(path, &ff); err != nil {
		return "", err
	}
	var evs []event
	for i, f := range ff.Alerts {
		name := fmt.Sprintf("#%d %s", i, f.Labels["alertname"])
		start := time.Duration(f.At)
		p := cfg.Match(f.Labels)
		if p == nil {
			evs = append(evs, event{start, name + ": no policy matches; not escalated"})
			continue
		}
		evs = append(evs, event{start, fmt.Sprintf("%s: opened, policy %s", name, p.Name)})
		stop := horizon
		why := ""
		if f.AckedAfter > 0 && start+time.Duration(f.AckedAfter) < stop {
			stop, why = start+time.Duration(f.AckedAfter), "acknowledged"
		}
		if f.ResolvedAfter > 0 && start+time.Duration(f.ResolvedAfter) < stop {
			stop, why = start+time.Duration(f.ResolvedAfter), "resolved"
		}
		for n := 0; ; n++ {
			st, after, ok := p.StepAt(n)
			if !ok || start+after >= stop {
				break
			}
			evs = append(evs, event{start + after, fmt.Sprintf("%s: step %d → %s", name, n, strings.Join(st.Notify, ", "))})
		}
		if why != "" {
			evs = append(evs, event{stop, fmt.Sprintf("%s: %s; escalation stops", name, why)})
		}
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].at < evs[j].at })
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "%8s  %s\n", model.Duration(e.at), e.text)
	}
	return b.String(), nil
}
