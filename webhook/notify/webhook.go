package notify

import (
	"context"
	"fmt"
	"net/http"
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
type webhookPayload struct {
	Version     string            `json:"version"`
	Key         string            `json:"key"`
	Incident    string            `json:"incident"`
	Event       Event             `json:"event"`
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
}

func webhookBody(m Message) webhookPayload {
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
