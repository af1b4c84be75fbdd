package spec

import (
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/hotel-ops/hotel-ops/internal/yamlconf"
)

// thresholdUnits lists the thresholds the generators read, with the unit
// each must be written in.
var thresholdUnits = map[string]Unit{
	"response_time": Seconds, "error_rate": Ratio, "throughput_drop": Ratio, "orders_drop": Ratio,
	"cpu": Ratio, "memory": Ratio, "disk": Ratio, "network": Ratio,
	"db_connections": Ratio, "slow_query": Seconds, "replication_lag": Seconds,
	"system_down": Ratio, "resource_usage": Ratio, "login_failures": Ratio,
	"brute_force": Number, "certificate_expiry": Seconds, "backup_delay": Seconds,
	"pgbouncer_pool": Ratio, "pgbouncer_clients": Ratio, "pgbouncer_wait": Seconds,
}

// lowerIsWorse are thresholds crossed from above: a certificate that
// expires in 3 days is worse than one that expires in 14.
var lowerIsWorse = map[string]bool{"certificate_expiry": true}

// Channels are the notification targets routes and escalations may name.
var Channels = []string{"pagerduty", "slack", "email", "dba", "security_team", "manager"}

// DirectLabel=DirectValue on an alert routes it around escalator: Alertmanager
// pages it itself (escalator's own health, and the fallback copies).
const (
	DirectLabel = "paging"
	DirectValue = "direct"
)

// NoEscalation, as an alert's escalation, says it is not escalated on
// purpose; any other alert must be escalated by some policy.
const NoEscalation = "none"

// Severities an alert may have, most severe first.
var Severities = []string{"critical", "warning", "info"}

// RequiredSelectors are the jobs the generated rules select.
var RequiredSelectors = []string{"app", "node", "pgha", "pitr", "sla", "escalator", "blackbox", "network_device", "filesystem"}

var (
	hhmm      = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$`)
	labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	weekdays  = set("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
	months    = set("january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december")
)

func set(xs ...string) map[string]bool {
	m := map[string]bool{}
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// Validate checks every value the generators rely on and returns one
// FieldError per problem, named by its dotted path.
func (s *Spec) Validate() error {
	var errs []error
	bad := func(path, format string, args ...any) { errs = append(errs, yamlconf.Fieldf(path, format, args...)) }

	if _, err := time.LoadLocation(s.Timezone); err != nil || s.Timezone == "" {
		bad("timezone", "%q is not an IANA time zone such as Asia/Tokyo", s.Timezone)
	}
	for _, k := range RequiredSelectors {
		sel, ok := s.Selectors[k]
		if !ok {
			bad("selectors."+k, "missing")
			continue
		}
		if _, err := parser.NewParser(parser.Options{}).ParseMetricSelector("{" + sel + "}"); err != nil {
			bad("selectors."+k, "%q is not a list of label matchers: %v", sel, err)
		}
	}
	if s.Traffic.MinRequestsPerSecond.IsZero() || s.Traffic.MinRequestsPerSecond.Unit != Number {
		bad("traffic.min_requests_per_second", "must be a number of requests per second")
	}
	if s.Traffic.DownMinRequests.IsZero() || s.Traffic.DownMinRequests.Unit != Number {
		bad("traffic.down_min_requests", "must be a number of requests")
	}
	for name, unit := range thresholdUnits {
		if _, ok := s.Thresholds[name]; !ok {
			bad("thresholds."+name, "missing")
		}
		_ = unit
	}
	for name, t := range s.Thresholds {
		p := "thresholds." + name
		unit, ok := thresholdUnits[name]
		if !ok {
			bad(p, "unknown threshold (known: %s)", strings.Join(SortedKeys(thresholdUnits), ", "))
			continue
		}
		if t.Warning.IsZero() && t.Critical.IsZero() {
			bad(p, "needs a warning or a critical level")
		}
		for lvl, v := range map[string]Value{"warning": t.Warning, "critical": t.Critical} {
			if v.IsZero() {
				continue
			}
			if v.Unit != unit {
				bad(p+"."+lvl, "%s: expected %s", v.Raw, unitName(unit))
			} else if unit == Ratio && v.Rat().Cmp(big.NewRat(1, 1)) > 0 {
				bad(p+"."+lvl, "%s is above 100%%", v.Raw)
			} else if v.Rat().Sign() == 0 {
				bad(p+"."+lvl, "must be above zero")
			}
		}
		if !t.Warning.IsZero() && !t.Critical.IsZero() && t.Warning.Unit == t.Critical.Unit {
			c := t.Warning.Rat().Cmp(t.Critical.Rat())
			if lowerIsWorse[name] && c <= 0 {
				bad(p+".warning", "%s must be above critical %s (lower is worse here)", t.Warning.Raw, t.Critical.Raw)
			} else if !lowerIsWorse[name] && c >= 0 {
				bad(p+".warning", "%s must be below critical %s", t.Warning.Raw, t.Critical.Raw)
			}
		}
		if t.Interval.D() <= 0 {
			bad(p+".interval", "must be a positive duration")
		}
	}
	for name, o := range s.SLOs {
		p := "slos." + name
		if o.Objective.Unit != Ratio || o.Objective.Rat().Sign() <= 0 || o.Objective.Rat().Cmp(big.NewRat(1, 1)) >= 0 {
			bad(p+".objective", "must be a percentage between 0 and 100%%, exclusive")
		}
		if o.Window.D() <= 0 {
			bad(p+".window", "must be a positive duration")
		}
		if name == "latency" && (o.Threshold.IsZero() || o.Threshold.Unit != Seconds) {
			bad(p+".threshold", "a latency SLO needs the duration a good request stays under")
		}
	}
	for _, name := range []string{"availability", "latency"} {
		if _, ok := s.SLOs[name]; !ok {
			bad("slos."+name, "missing")
		}
	}
	for i, b := range s.BurnRates {
		p := fmt.Sprintf("burn_rates.%d", i)
		if b.Severity != "critical" && b.Severity != "warning" {
			bad(p+".severity", "%q: critical or warning", b.Severity)
		}
		if b.Short.D() <= 0 || b.Long.D() <= b.Short.D() {
			bad(p+".short", "must be positive and shorter than long")
		}
		if b.Factor.IsZero() || b.Factor.Unit != Number || b.Factor.Rat().Sign() <= 0 {
			bad(p+".factor", "must be a positive number")
		}
	}
	for _, v := range []struct {
		path string
		v    Value
	}{
		{"reliability.mttr", s.Reliability.MTTR}, {"reliability.mtbf", s.Reliability.MTBF},
		{"backup.full.every", s.Backup.Full.Every}, {"backup.full.retention", s.Backup.Full.Retention},
		{"backup.incr.every", s.Backup.Incr.Every}, {"backup.incr.retention", s.Backup.Incr.Retention},
		{"backup.pitr_window", s.Backup.PITRWindow}, {"backup.restore_test_every", s.Backup.RestoreTestEvery},
		{"backup.verify_every", s.Backup.VerifyEvery},
	} {
		if v.v.IsZero() || v.v.Unit != Seconds || v.v.Rat().Sign() == 0 {
			bad(v.path, "must be a positive duration")
		}
	}
	// Every tier of the table has its RPO and RTO: the rules hold each
	// repository to its own tier's row, and a tier without one would never
	// be held to anything.
	for _, table := range []struct {
		path string
		m    map[string]Value
	}{{"backup.rpo", s.Backup.RPO}, {"backup.rto", s.Backup.RTO}} {
		for _, tier := range Tiers {
			if v := table.m[tier]; v.IsZero() || v.Unit != Seconds || v.Rat().Sign() == 0 {
				bad(table.path+"."+tier, "must be a positive duration")
			}
		}
		for _, tier := range SortedKeys(table.m) {
			if !slices.Contains(Tiers, tier) {
				bad(table.path+"."+tier, "unknown tier (known: %s)", strings.Join(Tiers, ", "))
			}
		}
	}
	if s.Reliability.Window.D() <= 0 {
		bad("reliability.window", "must be a positive duration")
	}
	if s.Backup.Full.At != "" && !hhmm.MatchString(s.Backup.Full.At) {
		bad("backup.full.at", "%q is not HH:MM", s.Backup.Full.At)
	}
	channels := set(Channels...)
	checkChannels := func(path string, cs []string) {
		for _, c := range cs {
			if !channels[c] {
				bad(path, "unknown channel %q (known: %s)", c, strings.Join(Channels, ", "))
			}
		}
	}
	for sev, cs := range s.Routing.Severities {
		checkChannels("routing.severities."+sev, cs)
	}
	for cat, cs := range s.Routing.Categories {
		checkChannels("routing.categories."+cat, cs)
	}
	for team, m := range s.Routing.Teams {
		for sev, cs := range m {
			checkChannels("routing.teams."+team+"."+sev, cs)
		}
	}
	for _, sev := range []string{"critical", "warning"} {
		if len(s.Routing.Severities[sev]) == 0 {
			bad("routing.severities."+sev, "needs at least one channel")
		}
	}
	for name, e := range s.Escalations.Steps {
		if e.After.D() < 0 {
			bad("escalations."+name+".after", "must not be negative")
		}
		if !channels[e.To] {
			bad("escalations."+name+".to", "unknown channel %q (known: %s)", e.To, strings.Join(Channels, ", "))
		}
	}
	for _, c := range Channels {
		ch, ok := s.Channels[c]
		if !ok {
			bad("channels."+c, "missing: say how %s is reached", c)
			continue
		}
		if ch.PagerDutyRoutingKeyFile == "" && ch.SlackChannel == "" && len(ch.Email) == 0 {
			bad("channels."+c, "needs a PagerDuty routing key file, a Slack channel or an e-mail address")
		}
		if ch.SlackChannel != "" && ch.SlackAPIURLFile == "" && s.Channels["slack"].SlackAPIURLFile == "" {
			bad("channels."+c+".slack_api_url_file", "a Slack channel needs a webhook URL file (here or in channels.slack)")
		}
	}
	for name := range s.Channels {
		if !channels[name] {
			bad("channels."+name, "unknown channel (known: %s)", strings.Join(Channels, ", "))
		}
	}
	if s.Delivery.SMTPSmarthost == "" || s.Delivery.SMTPFrom == "" {
		bad("delivery", "smtp_smarthost and smtp_from are needed for e-mail channels")
	}
	if !s.Delivery.RequireTLS() && s.Delivery.SMTPAuthUsername != "" {
		bad("delivery.smtp_require_tls", "false with smtp_auth_username set would send the password in clear: keep TLS, or use a relay without authentication")
	}
	if s.Routing.Escalator && s.Delivery.EscalatorURL == "" {
		bad("delivery.escalator_url", "routing.escalator is on: where does escalator listen?")
	}
	names := map[string]bool{}
	for i, w := range s.Maintenance {
		p := fmt.Sprintf("maintenance.%d", i)
		if !labelName.MatchString(w.Name) || names[w.Name] {
			bad(p+".name", "%q must be a unique identifier", w.Name)
		}
		names[w.Name] = true
		if len(w.Times) == 0 {
			bad(p+".times", "needs at least one time range")
		}
		for j, t := range w.Times {
			tp := fmt.Sprintf("%s.times.%d", p, j)
			if !hhmm.MatchString(t.Start) || !hhmm.MatchString(t.End) || t.Start >= t.End {
				bad(tp, "start %q and end %q must be HH:MM with start before end (split a window that crosses midnight)", t.Start, t.End)
			}
			for _, d := range t.Weekdays {
				if !weekdays[d] {
					bad(tp+".weekdays", "%q is not a weekday name", d)
				}
			}
			for _, m := range t.Months {
				if !months[m] {
					bad(tp+".months", "%q is not a month name", m)
				}
			}
		}
		if len(w.Mutes) == 0 {
			bad(p+".mutes", "needs at least one group of label matchers")
		}
		for j, m := range w.Mutes {
			for k := range m {
				if k != "severity" && k != "team" && k != "category" && k != "alertname" {
					bad(p+".mutes", "matches on %q: use severity, team, category or alertname", k)
				}
			}
			// A window lasts hours; the spec's planned stops last at most
			// 1 h and 4 h and its critical RTO is 1 h. A muted critical
			// would be heard of only when the window ends.
			if m["severity"] != "warning" && m["severity"] != "info" {
				bad(fmt.Sprintf("%s.mutes.%d", p, j), "a window mutes warnings only (add severity: warning): a planned stop that must hide criticals is a planned_stop, silenced for its actual start and at most its max")
			}
		}
		if ps := w.PlannedStop; ps != nil {
			if ps.Max.D() <= 0 {
				bad(p+".planned_stop.max", "must be positive: the longest the planned stop may last")
			}
			if len(ps.Silences) == 0 {
				bad(p+".planned_stop.silences", "needs at least one group of label matchers")
			}
			for _, m := range ps.Silences {
				if len(m) == 0 {
					bad(p+".planned_stop.silences", "an empty group would silence every alert")
				}
				for k := range m {
					if !labelName.MatchString(k) {
						bad(p+".planned_stop.silences", "%q is not a label name", k)
					}
				}
			}
		}
	}
	flowOf := map[string]string{}
	for name, f := range s.Troubleshooting {
		if f.Title == "" || len(f.Diagnosis) == 0 {
			bad("troubleshooting."+name, "needs a title and diagnosis steps")
		}
		for _, c := range f.Categories {
			if prev, ok := flowOf[c]; ok {
				bad("troubleshooting."+name+".categories", "category %q is already in flow %s", c, prev)
			}
			flowOf[c] = name
		}
	}
	sevs := set(Severities...)
	for name, a := range s.Alerts {
		p := "alerts." + name
		if a.InheritLabels {
			if a.Severity != "" || a.Team != "" {
				bad(p, "inherit_labels: the severity and team come from the series it reads; set neither")
			}
			if a.Category == "" {
				bad(p+".category", "missing")
			} else if _, ok := flowOf[a.Category]; !ok {
				bad(p+".category", "%q is in no troubleshooting flow, so the alert would have no runbook", a.Category)
			}
		} else if a.SLO == "" && !sevs[a.Severity] {
			bad(p+".severity", "%q: one of %s", a.Severity, strings.Join(Severities, ", "))
		}
		if a.SLO != "" {
			if _, ok := s.SLOs[a.SLO]; !ok {
				bad(p+".slo", "unknown SLO %q", a.SLO)
			}
		}
		if a.InheritLabels {
			// checked above
		} else if a.Team == "" || a.Category == "" {
			bad(p, "needs a team and a category")
		} else if _, ok := flowOf[a.Category]; !ok {
			bad(p+".category", "%q is in no troubleshooting flow, so the alert would have no runbook", a.Category)
		}
		if a.Threshold != "" {
			if _, err := s.Lookup(a.Threshold); err != nil {
				bad(p+".threshold", "%v", err)
			}
		}
		if a.Escalation != "" && a.Escalation != NoEscalation {
			if _, ok := s.Escalations.Steps[a.Escalation]; !ok {
				bad(p+".escalation", "unknown escalation %q", a.Escalation)
			}
		}
		if a.Summary == "" {
			bad(p+".summary", "missing")
		}
		if a.For.D() < 0 || a.KeepFiringFor.D() < 0 {
			bad(p+".for", "must not be negative")
		}
		for k, v := range a.Labels {
			if !labelName.MatchString(k) {
				bad(p+".labels."+k, "not a valid label name")
			}
			// A templated label makes every evaluation a new alert.
			if strings.Contains(v, "{{") {
				bad(p+".labels."+k, "labels must not be templated (put values in annotations)")
			}
		}
	}
	s.validateRecovery(bad)
	return errors.Join(errs...)
}

func unitName(u Unit) string {
	switch u {
	case Seconds:
		return "a duration such as 500ms or 10s"
	case Ratio:
		return "a percentage such as 1%"
	}
	return "a plain number"
}

// Lookup resolves an alert's threshold reference: "<threshold>.<warning|
// critical>", or a path into backup or reliability ("backup.full.every",
// "backup.rpo.critical", "reliability.mttr"). A whole table by tier
// ("backup.rpo", "backup.rto": each repository held to its own tier's row,
// see PerTier) resolves to its critical row, pitr_exporter's default tier
// and the strictest: the value a single-threshold check of the alert uses.
func (s *Spec) Lookup(ref string) (Value, error) {
	parts := strings.Split(ref, ".")
	var v Value
	switch {
	case len(parts) == 2 && parts[0] == "reliability":
		v = map[string]Value{"mttr": s.Reliability.MTTR, "mtbf": s.Reliability.MTBF}[parts[1]]
	case len(parts) == 2 && parts[0] == "backup":
		v = map[string]Value{"pitr_window": s.Backup.PITRWindow, "restore_test_every": s.Backup.RestoreTestEvery,
			"verify_every": s.Backup.VerifyEvery}[parts[1]]
		if table, ok := s.PerTier(ref); ok {
			v = table["critical"]
		}
	case len(parts) == 3 && parts[0] == "backup":
		switch parts[1] {
		case "full", "incr":
			p := s.Backup.Full
			if parts[1] == "incr" {
				p = s.Backup.Incr
			}
			v = map[string]Value{"every": p.Every, "retention": p.Retention}[parts[2]]
		case "rpo":
			v = s.Backup.RPO[parts[2]]
		case "rto":
			v = s.Backup.RTO[parts[2]]
		}
	case len(parts) == 2:
		t, ok := s.Thresholds[parts[0]]
		if ok && parts[1] == "warning" {
			v = t.Warning
		} else if ok && parts[1] == "critical" {
			v = t.Critical
		}
	}
	if v.IsZero() {
		return v, fmt.Errorf("%q names no value (use <threshold>.warning, <threshold>.critical, backup.… or reliability.…)", ref)
	}
	return v, nil
}

// PerTier returns the table a threshold reference names when it names a
// whole table by tier: "backup.rpo" or "backup.rto".
func (s *Spec) PerTier(ref string) (map[string]Value, bool) {
	switch ref {
	case "backup.rpo":
		return s.Backup.RPO, true
	case "backup.rto":
		return s.Backup.RTO, true
	}
	return nil, false
}

// Threshold returns an alert's threshold value; it panics on an alert
// without one, which Validate has ruled out for the generators' alerts.
func (s *Spec) Threshold(alert string) Value {
	v, err := s.Lookup(s.Alerts[alert].Threshold)
	if err != nil {
		panic(fmt.Sprintf("alert %s: %v", alert, err))
	}
	return v
}

// AlertNames are the enabled alerts, sorted.
func (s *Spec) AlertNames() []string {
	var out []string
	for _, n := range SortedKeys(s.Alerts) {
		if s.Alerts[n].On() {
			out = append(out, n)
		}
	}
	return out
}
