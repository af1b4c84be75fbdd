package notify

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// pagerDuty sends PagerDuty Events API v2 events. The incident id is the
// dedup_key, so every step of an incident updates one PagerDuty incident,
// a repeated trigger (retry, restart) is folded into it, and acknowledge and
// resolve find it.
type pagerDuty struct {
	http       *httpSender
	url        string
	routingKey string
}

func newPagerDuty(name string, c pagerDutyConfig, client *http.Client, timeout time.Duration) (Notifier, error) {
	key, err := readSecret(c.RoutingKeyFile, c.RoutingKeyEnv)
	if err != nil {
		return nil, fmt.Errorf("notify %s: routing key: %w", name, err)
	}
	u := c.URL
	if u == "" {
		u = DefaultPagerDutyURL
	}
	return &pagerDuty{http: newHTTPSender(name, client, timeout, key), url: u, routingKey: key}, nil
}

// PagerDuty's limits: a summary of at most 1024 characters, and dedup_key and
// source of at most 255 (longer events are refused with a 400).
const (
	pdSummaryMax = 1024
	pdSourceMax  = 255
)

type pdEvent struct {
	RoutingKey  string     `json:"routing_key"`
	EventAction string     `json:"event_action"`
	DedupKey    string     `json:"dedup_key"`
	Payload     *pdPayload `json:"payload,omitempty"`
	Client      string     `json:"client,omitempty"`
	ClientURL   string     `json:"client_url,omitempty"`
	Links       []pdLink   `json:"links,omitempty"`
}

type pdPayload struct {
	Summary       string          `json:"summary"`
	Source        string          `json:"source"`
	Severity      string          `json:"severity"`
	Timestamp     string          `json:"timestamp,omitempty"`
	Class         string          `json:"class,omitempty"`
	CustomDetails pdCustomDetails `json:"custom_details"`
}

type pdCustomDetails struct {
	Incident    string            `json:"incident"`
	Labels      map[string]string `json:"labels"`
	Step        int               `json:"step"`
	Policy      string            `json:"policy"`
	Description string            `json:"description,omitempty"`
	// TruncatedAlerts is Message.Truncated: alerts of the group that
	// Alertmanager left out of the delivery.
	TruncatedAlerts int `json:"truncated_alerts,omitempty"`
	// Automation is Message.Automation, a line each, absent when none
	// ran; Diagnostics is Message.Diagnostics, absent when "". Both are
	// bounded (infoMaxLines lines, infoMaxBytes bytes, infoLineRunes
	// runes a line) and end with a "… N more" line when cut.
	Automation  []string `json:"automation,omitempty"`
	Diagnostics string   `json:"diagnostics,omitempty"`
	// Approvals are the step's actions waiting for approval, with their
	// signed links.
	Approvals []Approval `json:"approvals,omitempty"`
}

type pdLink struct {
	Href string `json:"href"`
	Text string `json:"text"`
}

// pdSeverity maps an alert's severity label onto PagerDuty's four levels.
// An unknown or missing severity becomes "error": the alert was routed to a
// pager, so it should not be filed as informational, nor outrank alerts
// that do say critical.
func pdSeverity(s string) string {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "critical", "crit", "fatal", "emergency", "emerg", "alert", "page", "p1":
		return "critical"
	case "error", "err", "high", "major", "p2":
		return "error"
	case "warning", "warn", "medium", "minor", "p3":
		return "warning"
	case "info", "informational", "notice", "low", "none", "debug", "p4", "p5":
		return "info"
	}
	return "error"
}

// pdSource is the affected system: PagerDuty requires one and shows it. The
// alert's instance is the most specific label Prometheus alerts carry.
func pdSource(labels map[string]string) string {
	for _, k := range []string{"instance", "job", "service"} {
		if v := strings.TrimSpace(oneLine(labels[k])); v != "" {
			return truncate(v, pdSourceMax)
		}
	}
	return "escalator"
}

func (p *pagerDuty) event(m Message) pdEvent {
	ev := pdEvent{
		RoutingKey:  p.routingKey,
		EventAction: string(m.Event),
		DedupKey:    m.Incident,
	}
	// Acknowledge and resolve need only the dedup_key; PagerDuty ignores
	// a payload on them.
	if m.Event != Trigger {
		return ev
	}
	summary := strings.TrimSpace(oneLine(m.Summary))
	if summary == "" {
		summary = "incident " + m.Incident
	}
	labels := m.Labels
	if labels == nil {
		// "labels": {} rather than null, for consumers that index it.
		labels = map[string]string{}
	}
	ev.Payload = &pdPayload{
		Summary:  truncate(summary, pdSummaryMax),
		Source:   pdSource(m.Labels),
		Severity: pdSeverity(m.Severity),
		Class:    oneLine(m.Labels["alertname"]),
		CustomDetails: pdCustomDetails{
			Incident:        m.Incident,
			Labels:          labels,
			Step:            m.Step,
			Policy:          m.Policy,
			Description:     m.Description,
			TruncatedAlerts: m.Truncated,
			Automation:      jsonAutomation(m),
			Diagnostics:     jsonDiagnostics(m),
			Approvals:       m.Approvals,
		},
	}
	if !m.StartsAt.IsZero() {
		ev.Payload.Timestamp = m.StartsAt.UTC().Format(time.RFC3339)
	}
	ev.Client = "escalator"
	ev.ClientURL = m.ConsoleURL
	if m.AckURL != "" {
		ev.Links = append(ev.Links, pdLink{Href: m.AckURL, Text: "Acknowledge in escalator"})
	}
	if m.ConsoleURL != "" {
		ev.Links = append(ev.Links, pdLink{Href: m.ConsoleURL, Text: "Incident in escalator console"})
	}
	return ev
}

// Send enqueues the event once. PagerDuty answers 202; 400 means the event
// is malformed or the routing key unknown (permanent), 429 rate limiting.
// No Idempotency-Key header is sent: PagerDuty does not read one, and the
// dedup_key already makes a repeated event harmless.
//
// A Report is refused, permanently and without a request: it would open
// an incident and page whoever is on call for a summary that needs no one.
func (p *pagerDuty) Send(ctx context.Context, m Message) error {
	if err := checkMessage(m); err != nil {
		return err
	}
	if m.Event == Report {
		return &PermanentError{Err: fmt.Errorf("notify %s: PagerDuty pages people; reports go to Slack, e-mail or a webhook", p.http.name)}
	}
	return p.http.post(ctx, p.url, p.event(m), nil)
}
