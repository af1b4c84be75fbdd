package alertmanager

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/hotel-ops/hotel-ops/mixin/spec"
)

// noChannels names the receiver of a route whose channel list is empty:
// the spec asked for nobody to be notified, and Alertmanager needs a
// receiver all the same.
const noChannels = "none"

// receiverSet makes one receiver per channel combination the routes use,
// named after its channels ("pagerduty-slack-email-dba"): the name says
// who is notified, and stays the same as long as the combination does.
type receiverSet struct {
	s      *spec.Spec
	byName map[string]receiver
}

func newReceiverSet(s *spec.Spec) *receiverSet {
	return &receiverSet{s: s, byName: map[string]receiver{}}
}

// forChannels returns the name of the receiver that notifies channels,
// adding it on first use.
func (rs *receiverSet) forChannels(channels []string) (string, error) {
	ordered, err := canonical(channels)
	if err != nil {
		return "", err
	}
	name := strings.Join(ordered, "-")
	if name == "" {
		name = noChannels
	}
	if _, ok := rs.byName[name]; ok {
		return name, nil
	}
	r := receiver{Name: name}
	emailed := map[string]bool{}
	for _, c := range ordered {
		ch, ok := rs.s.Channels[c]
		if !ok {
			return "", fmt.Errorf("channel %q is routed to but channels.%s does not say how to reach it", c, c)
		}
		if ch.PagerDutyRoutingKeyFile != "" {
			r.PagerdutyConfigs = append(r.PagerdutyConfigs, pagerdutyConfig{RoutingKeyFile: ch.PagerDutyRoutingKeyFile, URL: rs.s.Delivery.PagerDutyURL})
		}
		if ch.SlackChannel != "" {
			r.SlackConfigs = append(r.SlackConfigs, slackConfig{
				Channel:    ch.SlackChannel,
				APIURLFile: cmp.Or(ch.SlackAPIURLFile, rs.s.Channels["slack"].SlackAPIURLFile),
				// A resolved message tells whoever looked that they can stop.
				SendResolved: true,
			})
		}
		// One mail per channel; an address two channels share gets it once.
		var to []string
		for _, addr := range ch.Email {
			if !emailed[addr] {
				emailed[addr] = true
				to = append(to, addr)
			}
		}
		if len(to) > 0 {
			r.EmailConfigs = append(r.EmailConfigs, emailConfig{To: strings.Join(to, ", ")})
		}
	}
	rs.byName[name] = r
	return name, nil
}

// add registers a receiver built elsewhere (the escalator's).
func (rs *receiverSet) add(r receiver) { rs.byName[r.Name] = r }

// list returns the receivers sorted by name.
func (rs *receiverSet) list() []receiver {
	names := make([]string, 0, len(rs.byName))
	for n := range rs.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]receiver, 0, len(names))
	for _, n := range names {
		out = append(out, rs.byName[n])
	}
	return out
}

// canonical puts channels in the order of spec.Channels without
// duplicates, so [slack, email] and [email, slack] share a receiver.
func canonical(channels []string) ([]string, error) {
	for _, c := range channels {
		if !slices.Contains(spec.Channels, c) {
			return nil, fmt.Errorf("unknown channel %q (known: %s)", c, strings.Join(spec.Channels, ", "))
		}
	}
	var out []string
	for _, c := range spec.Channels {
		if slices.Contains(channels, c) {
			out = append(out, c)
		}
	}
	return out, nil
}
