package notify

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// webhook POSTs the message as JSON to any HTTP endpoint (a chat bridge, a
// ticketing system). The receiver may get the same message more than once
// (a retry after a lost answer, a restart mid-step); the Idempotency-Key
// header, equal to the message key, is how it can tell.
type webhook struct {
	http  *httpSender
	url   string
	token string // bearer token, "" for none
}

func newWebhook(name string, c webhookConfig, client *http.Client, timeout time.Duration) (Notifier, error) {
	w := &webhook{url: c.URL}
	if c.BearerTokenFile != "" || c.BearerTokenEnv != "" {
		tok, err := readSecret(c.BearerTokenFile, c.BearerTokenEnv)
		if err != nil {
			return nil, fmt.Errorf("notify %s: bearer token: %w", name, err)
		}
		w.token = tok
	}
	w.http = newHTTPSender(name, client, timeout, w.token)
	return w, nil
}

// WebhookPayloadVersion is the "version" of the generic webhook's JSON, to
// be raised when a field changes meaning so receivers can tell.
const WebhookPayloadVersion = "1"

// webhookPayload is the wire form of a Message. It is its own type, not
// Message with JSON tags, so that renaming a Go field cannot silently change
// what receivers parse.
//
// Event "report" (a new value; the version stays) is a message about no
// one incident, such as the daily health check summary: key is its
// idempotency key, incident its report id ("health/2026-12-03", or ""),
// summary its title, description its body, diagnostics the checks' lines
// (bounded as below). Everything about an incident is empty: severity and
// policy "", step 0, labels {}, and no starts_at, ack_url, console_url,
// truncated_alerts or automation. A receiver that handles only incidents
// should ignore it rather than treat it as a trigger.
type webhookPayload struct {
	Version     string            `json:"version"`
	Key         string            `json:"key"`
	Incident    string            `json:"incident"`
	Event       Event             `json:"event"` // trigger, acknowledge, resolve or report
	Severity    string            `json:"severity"`
	Summary     string            `json:"summary"`
	Description string            `json:"description"`
	Labels      map[string]string `json:"labels"`
	StartsAt    *time.Time        `json:"starts_at,omitempty"`
	Step        int               `json:"step"`
	Policy      string            `json:"policy"`
	AckURL      string            `json:"ack_url,omitempty"`
	ConsoleURL  string            `json:"console_url,omitempty"`
	// TruncatedAlerts is Message.Truncated, absent when 0. A new field,
	// not a changed one: the version stays.
	TruncatedAlerts int `json:"truncated_alerts,omitempty"`
	// Automation is Message.Automation: what auto-recovery actions did
	// for the incident so far, a line each, oldest first; absent when none
	// ran. Diagnostics is Message.Diagnostics, the health checks' summary
	// from when the incident opened, lines separated by "\n"; absent when
	// none ran. Both quote alert labels (untrusted), and both are bounded:
	// at most 20 lines of at most 500 characters, 3000 bytes in all, the
	// last line "… N more" when some were cut. New fields: the version
	// stays.
	Automation  []string `json:"automation,omitempty"`
	Diagnostics string   `json:"diagnostics,omitempty"`
	// Approvals are the step's actions waiting for approval, each with
	// its signed link; absent when none. A new field: the version stays.
	Approvals []Approval `json:"approvals,omitempty"`
}

func webhookBody(m Message) webhookPayload {
	if m.Event == Report {
		return webhookPayload{
			Version:     WebhookPayloadVersion,
			Key:         m.Key,
			Incident:    m.Incident,
			Event:       m.Event,
			Summary:     m.Summary,
			Description: m.Description,
			Labels:      map[string]string{},
			Diagnostics: jsonDiagnostics(m),
		}
	}
	p := webhookPayload{
		Version:         WebhookPayloadVersion,
		Key:             m.Key,
		Incident:        m.Incident,
		Event:           m.Event,
		Severity:        m.Severity,
		Summary:         m.Summary,
		Description:     m.Description,
		Labels:          m.Labels,
		Step:            m.Step,
		Policy:          m.Policy,
		AckURL:          m.AckURL,
		ConsoleURL:      m.ConsoleURL,
		TruncatedAlerts: m.Truncated,
		Automation:      jsonAutomation(m),
		Diagnostics:     jsonDiagnostics(m),
		Approvals:       m.Approvals,
	}
	if p.Labels == nil {
		p.Labels = map[string]string{}
	}
	if !m.StartsAt.IsZero() {
		t := m.StartsAt.UTC()
		p.StartsAt = &t
	}
	return p
}

// Send posts the message once. Both Idempotency-Key (the IETF draft's name)
// and X-Idempotency-Key (what older receivers look for) carry the key.
func (w *webhook) Send(ctx context.Context, m Message) error {
	if err := checkMessage(m); err != nil {
		return err
	}
	h := http.Header{}
	h.Set("Idempotency-Key", m.Key)
	h.Set("X-Idempotency-Key", m.Key)
	if w.token != "" {
		h.Set("Authorization", "Bearer "+w.token)
	}
	return w.http.post(ctx, w.url, webhookBody(m), h)
}

// jsonAutomation is Message.Automation for the JSON formats (webhook and
// PagerDuty): the lines as written, JSON does the escaping, within
// capLines' bounds; nil when none ran, so the field is omitted.
func jsonAutomation(m Message) []string {
	lines := automationLines(m)
	if len(lines) == 0 {
		return nil
	}
	return cappedLines(lines, infoMaxBytes, func(l string) string { return l })
}

// jsonDiagnostics is Message.Diagnostics for the JSON formats, within
// capLines' bounds, lines joined by "\n"; "" when none ran.
func jsonDiagnostics(m Message) string {
	lines := diagnosticsLines(m)
	if len(lines) == 0 {
		return ""
	}
	return strings.Join(cappedLines(lines, infoMaxBytes, func(l string) string { return l }), "\n")
}
