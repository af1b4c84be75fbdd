package alertmanager

import (
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/config"
	"github.com/prometheus/alertmanager/dispatch"
	"github.com/prometheus/common/model"

	"github.com/hotel-ops/hotel-ops/mixin/spec"
)

// receiversOf returns the receivers Alertmanager picks for an alert, in
// route order.
func receiversOf(cfg *config.Config, labels map[string]string) []string {
	var out []string
	for _, r := range matched(cfg, labels) {
		out = append(out, r.RouteOpts.Receiver)
	}
	return out
}

func matched(cfg *config.Config, labels map[string]string) []*dispatch.Route {
	ls := model.LabelSet{}
	for k, v := range labels {
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	return dispatch.NewRoute(cfg.Route, nil).Match(ls)
}

// integrations describes what a receiver notifies: "pagerduty:<key
// file>", "slack:<channel>:<url file>", "email:<to>", "webhook:<url>".
func integrations(t *testing.T, cfg *config.Config, name string) []string {
	t.Helper()
	for _, r := range cfg.Receivers {
		if r.Name != name {
			continue
		}
		var out []string
		for _, c := range r.PagerdutyConfigs {
			out = append(out, "pagerduty:"+c.RoutingKeyFile)
		}
		for _, c := range r.SlackConfigs {
			if !c.SendResolved() {
				t.Errorf("%s: slack %s does not send resolved", name, c.Channel)
			}
			out = append(out, "slack:"+c.Channel+":"+c.APIURLFile)
		}
		for _, c := range r.EmailConfigs {
			out = append(out, "email:"+c.To)
		}
		for _, c := range r.WebhookConfigs {
			out = append(out, "webhook:"+string(c.URL))
		}
		sort.Strings(out)
		return out
	}
	t.Fatalf("no receiver %q", name)
	return nil
}

func TestRouting(t *testing.T) {
	s := merged(t)
	_, cfg := generated(t, s)
	pd := "pagerduty:" + s.Channels["pagerduty"].PagerDutyRoutingKeyFile
	url := s.Channels["slack"].SlackAPIURLFile
	slack := "slack:" + s.Channels["slack"].SlackChannel + ":" + url
	dbaSlack := "slack:" + s.Channels["dba"].SlackChannel + ":" + url
	secSlack := "slack:" + s.Channels["security_team"].SlackChannel + ":" + url
	email := "email:" + strings.Join(s.Channels["email"].Email, ", ")
	dbaEmail := "email:" + strings.Join(s.Channels["dba"].Email, ", ")
	secEmail := "email:" + strings.Join(s.Channels["security_team"].Email, ", ")

	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   []string // integrations besides the escalator's
	}{
		{"database down pages, and the DBAs too",
			map[string]string{"alertname": "PostgresDown", "severity": "critical", "team": "database", "category": "availability"},
			[]string{dbaEmail, email, pd, dbaSlack, slack}},
		{"resource warning: slack only",
			map[string]string{"alertname": "NodeCPUHigh", "severity": "warning", "team": "infra", "category": "resource", "signal": "cpu"},
			[]string{slack}},
		{"resource critical still pages",
			map[string]string{"alertname": "NodeCPUCritical", "severity": "critical", "team": "infra", "category": "resource", "signal": "cpu"},
			[]string{email, pd, slack}},
		{"security critical: pagerduty and the security team",
			map[string]string{"alertname": "BruteForceSuspected", "severity": "critical", "team": "security", "category": "security"},
			[]string{pd, secEmail, secSlack}},
		{"security warning: the security team",
			map[string]string{"alertname": "LoginFailuresHigh", "severity": "warning", "team": "security", "category": "security"},
			[]string{secEmail, secSlack}},
		{"critical",
			map[string]string{"alertname": "HotelAppDown", "severity": "critical", "team": "app", "category": "availability"},
			[]string{email, pd, slack}},
		{"database warning: by severity",
			map[string]string{"alertname": "PostgresSlowQueries", "severity": "warning", "team": "database", "category": "database"},
			[]string{email, slack}},
		{"no severity: seen, not paged",
			map[string]string{"alertname": "Odd", "team": "app"},
			[]string{email, slack}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// escalator sends the page: Alertmanager notifies nobody else.
			if rs := receiversOf(cfg, tc.labels); !slices.Equal(rs, []string{escalatorReceiver}) {
				t.Fatalf("receivers %v: want escalator alone", rs)
			}
			// Labelled for direct paging (escalator down), the same alert
			// reaches the people routing names, and not escalator.
			direct := maps.Clone(tc.labels)
			direct[spec.DirectLabel] = spec.DirectValue
			rs := receiversOf(cfg, direct)
			if len(rs) != 1 || rs[0] == escalatorReceiver {
				t.Fatalf("direct receivers %v: want one receiver, not escalator", rs)
			}
			slices.Sort(tc.want)
			if got := integrations(t, cfg, rs[0]); !slices.Equal(got, tc.want) {
				t.Errorf("%s notifies %v, want %v", rs[0], got, tc.want)
			}
		})
	}
}

// escalator's first page and Alertmanager's direct page of an alert go to
// the same channels: both follow spec.FirstChannels.
func TestDirectRoutesMatchFirstChannels(t *testing.T) {
	s := merged(t)
	_, cfg := generated(t, s)
	for _, labels := range alertLabels(s) {
		direct := maps.Clone(labels)
		direct[spec.DirectLabel] = spec.DirectValue
		rs := receiversOf(cfg, direct)
		if len(rs) != 1 {
			t.Errorf("%v: direct receivers %v", labels, rs)
			continue
		}
		want, _ := s.FirstChannels(labels["team"], labels["category"], labels["severity"])
		ordered, err := canonical(want)
		if err != nil {
			t.Fatal(err)
		}
		if rs[0] != strings.Join(ordered, "-") {
			t.Errorf("%v: Alertmanager pages %s directly, escalator first pages %v", labels, rs[0], want)
		}
	}
}

func TestEscalatorReceiver(t *testing.T) {
	s := merged(t)
	_, cfg := generated(t, s)
	if got := integrations(t, cfg, escalatorReceiver); !slices.Equal(got, []string{"webhook:" + s.Delivery.EscalatorURL}) {
		t.Fatalf("escalator receiver: %v", got)
	}
	var wh = cfg.Receivers[slices.IndexFunc(cfg.Receivers, func(r config.Receiver) bool { return r.Name == escalatorReceiver })].WebhookConfigs[0]
	if !wh.SendResolved() || wh.MaxAlerts != 0 || wh.HTTPConfig.Authorization == nil || wh.HTTPConfig.Authorization.CredentialsFile != s.Delivery.EscalatorTokenFile {
		t.Errorf("escalator webhook %+v", wh)
	}
	if n := len(cfg.Route.Routes); n != 2 {
		t.Fatalf("%d top routes, want the direct route and escalator's", n)
	}
	direct, esc := cfg.Route.Routes[0], cfg.Route.Routes[1]
	if ms := direct.AllMatchers(); len(ms) != 1 || ms[0].String() != spec.DirectLabel+`="`+spec.DirectValue+`"` || direct.Continue {
		t.Errorf("first route %+v: want the direct route, matching %s=%q", direct, spec.DirectLabel, spec.DirectValue)
	}
	if esc.Receiver != escalatorReceiver || esc.Continue || len(esc.AllMatchers()) != 0 {
		t.Errorf("second route %+v: want escalator, matching everything else", esc)
	}

	_, off := generated(t, merged(t, "routing: {escalator: false}\n"))
	for _, r := range off.Receivers {
		if r.Name == escalatorReceiver {
			t.Error("routing.escalator false still has an escalator receiver")
		}
	}
	if got := receiversOf(off, map[string]string{"severity": "critical", "team": "app"}); !slices.Equal(got, []string{"pagerduty-slack-email"}) {
		t.Errorf("without escalator, a critical goes to %v", got)
	}
}

func TestTimings(t *testing.T) {
	_, cfg := generated(t, merged(t))
	for sev, want := range map[string]timing{"critical": criticalTiming, "warning": defaultTiming} {
		r := matched(cfg, map[string]string{"severity": sev, "team": "app", "category": "errors", spec.DirectLabel: spec.DirectValue})
		got := r[len(r)-1].RouteOpts
		if got.GroupWait != mustDur(t, want.wait) || got.RepeatInterval != mustDur(t, want.repeat) {
			t.Errorf("%s: group_wait %v repeat_interval %v, want %+v", sev, got.GroupWait, got.RepeatInterval, want)
		}
	}
}

func mustDur(t *testing.T, s string) time.Duration {
	t.Helper()
	d, err := model.ParseDuration(s)
	if err != nil {
		t.Fatal(err)
	}
	return time.Duration(d)
}

// A spec that routes a new team and category gets receivers named after
// the channels, shared by equal combinations.
func TestOverriddenRouting(t *testing.T) {
	_, cfg := generated(t, merged(t, `
routing:
  categories: {latency: [email, slack]}
  teams: {sre: {warning: [manager]}}
`))
	if got := receiversOf(cfg, map[string]string{"severity": "warning", "team": "app", "category": "latency", spec.DirectLabel: spec.DirectValue}); got[len(got)-1] != "slack-email" {
		t.Errorf("latency warning goes to %v", got)
	}
	if got := receiversOf(cfg, map[string]string{"severity": "warning", "team": "sre", "category": "slo", spec.DirectLabel: spec.DirectValue}); got[len(got)-1] != "manager" {
		t.Errorf("sre warning goes to %v", got)
	}
}
