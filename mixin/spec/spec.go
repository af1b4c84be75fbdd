// Package spec is the threshold spec that mixgen turns into rules, rule
// tests, dashboards, an Alertmanager configuration and runbooks: every
// number of SPEC-2025-016 in one place (defaults.yaml), overridable by a
// user's file deep-merged over it.
package spec

import (
	"math/big"
	"strings"
)

// Spec is the merged, validated threshold spec.
type Spec struct {
	Source          string               `yaml:"source"`
	Timezone        string               `yaml:"timezone"`
	Links           Links                `yaml:"links"`
	Selectors       map[string]string    `yaml:"selectors"`
	Traffic         Traffic              `yaml:"traffic"`
	Thresholds      map[string]Threshold `yaml:"thresholds"`
	SLOs            map[string]SLO       `yaml:"slos"`
	BurnRates       []BurnRate           `yaml:"burn_rates"`
	Reliability     Reliability          `yaml:"reliability"`
	Backup          Backup               `yaml:"backup"`
	Routing         Routing              `yaml:"routing"`
	Escalations     Escalations          `yaml:"escalations"`
	Channels        map[string]Channel   `yaml:"channels"`
	Delivery        Delivery             `yaml:"delivery"`
	Maintenance     []Window             `yaml:"maintenance"`
	Alerts          map[string]Alert     `yaml:"alerts"`
	Troubleshooting map[string]Flow      `yaml:"troubleshooting"`
	Recovery        Recovery             `yaml:"recovery"`
}

// Flow is one of the spec's troubleshooting flows (問題分類・対応フロー):
// runbooks of the alerts in its categories follow it.
type Flow struct {
	Section    string   `yaml:"section"`
	Title      string   `yaml:"title"`
	Categories []string `yaml:"categories"`
	Symptoms   []string `yaml:"symptoms"`
	Diagnosis  []string `yaml:"diagnosis"`
	Remedies   []string `yaml:"remedies"`
}

// Links are where generated annotations point.
type Links struct {
	Runbooks string `yaml:"runbooks"` // the runbook index; alerts add #<anchor>
	Grafana  string `yaml:"grafana"`  // Grafana's base URL for dashboard links
}

// Traffic guards ratio alerts against tiny denominators.
type Traffic struct {
	MinRequestsPerSecond Value `yaml:"min_requests_per_second"`
	// DownMinRequests is the fewest requests in HotelAppDown's window for
	// it to page: counted, not a rate, so that an outage at night, under
	// one request a second, still pages while one failed request alone
	// does not.
	DownMinRequests Value `yaml:"down_min_requests"`
}

// Threshold is a monitored figure of the spec: its warning and critical
// levels and how often it is measured.
type Threshold struct {
	Section  string `yaml:"section"`
	Warning  Value  `yaml:"warning"`
	Critical Value  `yaml:"critical"`
	Interval Dur    `yaml:"interval"`
}

// Level is the warning or the critical value.
func (t Threshold) Level(level string) Value {
	if level == "critical" {
		return t.Critical
	}
	return t.Warning
}

// SLO is a service level objective over a rolling window.
type SLO struct {
	Section   string `yaml:"section"`
	Objective Value  `yaml:"objective"`
	Threshold Value  `yaml:"threshold"` // latency SLOs: the good-request bound
	Window    Dur    `yaml:"window"`
}

// Budget is the share of bad events the objective allows, 1 − objective,
// exactly.
func (o SLO) Budget() *big.Rat {
	return new(big.Rat).Sub(big.NewRat(1, 1), o.Objective.Rat())
}

// BurnRate is one multi-window burn-rate condition.
type BurnRate struct {
	Severity string `yaml:"severity"`
	Long     Dur    `yaml:"long"`
	Short    Dur    `yaml:"short"`
	Factor   Value  `yaml:"factor"`
	For      Dur    `yaml:"for"`
}

// Reliability holds the MTTR and MTBF targets.
type Reliability struct {
	Section string `yaml:"section"`
	MTTR    Value  `yaml:"mttr"`
	MTBF    Value  `yaml:"mtbf"`
	Window  Dur    `yaml:"window"`
}

// Backup is the backup and recovery policy.
type Backup struct {
	Section          string       `yaml:"section"`
	Full             BackupPolicy `yaml:"full"`
	Incr             BackupPolicy `yaml:"incr"`
	PITRWindow       Value        `yaml:"pitr_window"`
	CrossRegion      bool         `yaml:"cross_region"`
	Encryption       string       `yaml:"encryption"`
	RestoreTestEvery Value        `yaml:"restore_test_every"`
	// VerifyEvery is how often the newest backup is restored and checked
	// (増分バックアップ / 自動検証実行): restore tests of kind "backup".
	VerifyEvery Value `yaml:"verify_every"`
	// RPO and RTO are the spec's objectives by tier (災害復旧計画 /
	// RTO/RPO目標), one row for each of Tiers.
	RPO map[string]Value `yaml:"rpo"`
	RTO map[string]Value `yaml:"rto"`
}

// Tiers are the rows of the spec's RTO/RPO table, most critical first:
// pitr_exporter labels each repository with one (pitr_repository_info{tier}).
var Tiers = []string{"critical", "high", "medium", "low"}

// TierList prints a table of objectives by tier, most critical first, as
// the spec writes them: "critical 15m, high 1h, medium 4h, low 24h".
func TierList(m map[string]Value) string {
	var out []string
	for _, t := range Tiers {
		if v, ok := m[t]; ok {
			out = append(out, t+" "+v.Human())
		}
	}
	return strings.Join(out, ", ")
}

// BackupPolicy is how often a backup type runs and how long it is kept.
type BackupPolicy struct {
	Every     Value  `yaml:"every"`
	At        string `yaml:"at"`
	Retention Value  `yaml:"retention"`
}

// Routing says which channels each severity, category and team reaches.
type Routing struct {
	Section    string                         `yaml:"section"`
	GroupBy    []string                       `yaml:"group_by"`
	Severities map[string][]string            `yaml:"severities"`
	Categories map[string][]string            `yaml:"categories"`
	Teams      map[string]map[string][]string `yaml:"teams"` // team → severity → channels
	Escalator  bool                           `yaml:"escalator"`
	// GroupInterval is Alertmanager's group_interval (unset: its default
	// of 5m): how soon a group tells of alerts added to it or resolved.
	GroupInterval Dur `yaml:"group_interval"`
}

// Escalations are the spec's timed escalations, by name.
type Escalations struct {
	Section string                `yaml:"section"`
	Steps   map[string]Escalation `yaml:",inline"`
}

// Escalation notifies a target after a delay unless acknowledged.
type Escalation struct {
	After Dur    `yaml:"after"`
	To    string `yaml:"to"`
}

// Window is a recurring maintenance window and what it mutes. Mutes hold
// warnings only: a window is hours long, and a critical alert muted for
// hours would outlast the spec's planned stop and its 1 h critical RTO.
// A planned stop inside the window is a silence of its own, created when
// the stop begins and never longer than PlannedStop.Max.
type Window struct {
	Name        string              `yaml:"name"`
	Section     string              `yaml:"section"`
	Times       []WindowTime        `yaml:"times"`
	Mutes       []map[string]string `yaml:"mutes"`
	PlannedStop *PlannedStop        `yaml:"planned_stop,omitempty"`
}

// PlannedStop is the spec's 計画停止 of a window: how long it may last at
// most, and what its silence covers (label matchers, each entry one
// silence).
type PlannedStop struct {
	Max      Dur                 `yaml:"max"`
	Silences []map[string]string `yaml:"silences"`
}

// WindowTime is one Alertmanager time interval, in the spec's time zone.
type WindowTime struct {
	Weekdays    []string `yaml:"weekdays"`
	DaysOfMonth []string `yaml:"days_of_month"`
	Months      []string `yaml:"months"`
	Start       string   `yaml:"start"`
	End         string   `yaml:"end"`
}

// Alert is one generated alert's settings.
type Alert struct {
	Section       string            `yaml:"section"`
	Enabled       *bool             `yaml:"enabled"`
	Severity      string            `yaml:"severity"`
	Team          string            `yaml:"team"`
	Category      string            `yaml:"category"`
	Threshold     string            `yaml:"threshold"`
	SLO           string            `yaml:"slo"`
	For           Dur               `yaml:"for"`
	KeepFiringFor Dur               `yaml:"keep_firing_for"`
	Escalation    string            `yaml:"escalation"` // "none": not escalated, on purpose
	Summary       string            `yaml:"summary"`
	Description   string            `yaml:"description"`
	Labels        map[string]string `yaml:"labels"`
	Annotations   map[string]string `yaml:"annotations"`
	// InheritLabels: the rule keeps the severity and team of the series
	// it reads (EscalatorFallback re-raises other alerts as they were).
	InheritLabels bool `yaml:"inherit_labels"`
}

// On reports whether the alert is generated.
func (a Alert) On() bool { return a.Enabled == nil || *a.Enabled }

// Channel is how one notification target is reached: any of a PagerDuty
// service, a Slack channel, e-mail addresses. Secrets are files, never
// values in the spec.
type Channel struct {
	PagerDutyRoutingKeyFile string   `yaml:"pagerduty_routing_key_file"`
	SlackAPIURLFile         string   `yaml:"slack_api_url_file"`
	SlackChannel            string   `yaml:"slack_channel"`
	Email                   []string `yaml:"email"`
}

// Delivery holds what every channel shares: the SMTP relay and escalator.
type Delivery struct {
	SMTPSmarthost        string `yaml:"smtp_smarthost"`
	SMTPFrom             string `yaml:"smtp_from"`
	SMTPAuthUsername     string `yaml:"smtp_auth_username"`
	SMTPAuthPasswordFile string `yaml:"smtp_auth_password_file"`
	EscalatorURL         string `yaml:"escalator_url"`
	EscalatorTokenFile   string `yaml:"escalator_token_file"`
	// AlertmanagerURLs are every Alertmanager peer, for escalator: it
	// silences an acknowledged alert there, closes incidents whose resolve
	// was lost, and creates the planned stops' silences.
	AlertmanagerURLs []string `yaml:"alertmanager_urls"`
	// SMTPRequireTLS (default true) refuses a relay without STARTTLS; a
	// relay on loopback (a test's, or a local MTA) may turn it off.
	SMTPRequireTLS *bool `yaml:"smtp_require_tls"`
	// PagerDutyURL is the Events API v2 endpoint ("" for PagerDuty's own).
	PagerDutyURL string `yaml:"pagerduty_url"`
}

// RequireTLS is SMTPRequireTLS with its default.
func (d Delivery) RequireTLS() bool { return d.SMTPRequireTLS == nil || *d.SMTPRequireTLS }
