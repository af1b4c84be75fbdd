package notify

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func TestWebhook(t *testing.T) {
	rec := newRecorder(t, nil)
	m := hostileMessage()
	r := sendOne(t, rec, "hook", ChannelConfig{Type: "webhook", URL: rec.srv.URL + "/alerts?x=1", BearerTokenFile: writeSecret(t, "bearer-123\n")}, m)
	if r.Method != "POST" || r.Path != "/alerts?x=1" {
		t.Errorf("%s %s", r.Method, r.Path)
	}
	for h, want := range map[string]string{
		"Idempotency-Key":   "inc-42/2/ops",
		"X-Idempotency-Key": "inc-42/2/ops",
		"Authorization":     "Bearer bearer-123",
		"Content-Type":      "application/json",
	} {
		if got := r.Header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	var got struct {
		Version     string            `json:"version"`
		Key         string            `json:"key"`
		Incident    string            `json:"incident"`
		Event       string            `json:"event"`
		Severity    string            `json:"severity"`
		Summary     string            `json:"summary"`
		Description string            `json:"description"`
		Labels      map[string]string `json:"labels"`
		StartsAt    time.Time         `json:"starts_at"`
		Step        int               `json:"step"`
		Policy      string            `json:"policy"`
		AckURL      string            `json:"ack_url"`
		ConsoleURL  string            `json:"console_url"`
	}
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Fatalf("%v\n%s", err, r.Body)
	}
	// Everything arrives exactly as sent: JSON escapes, it does not
	// strip.
	if got.Version != "1" || got.Key != m.Key || got.Incident != m.Incident || got.Event != "trigger" ||
		got.Severity != m.Severity || got.Summary != m.Summary || got.Description != m.Description ||
		!got.StartsAt.Equal(m.StartsAt) || got.Step != 2 || got.Policy != m.Policy ||
		got.AckURL != m.AckURL || got.ConsoleURL != m.ConsoleURL || !reflect.DeepEqual(got.Labels, m.Labels) {
		t.Errorf("got %+v\nwant %+v", got, m)
	}
}

func TestWebhookWithoutToken(t *testing.T) {
	rec := newRecorder(t, nil)
	n, err := New("hook", ChannelConfig{Type: "webhook", URL: rec.srv.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := hostileMessage()
	m.Event, m.Labels, m.StartsAt = Acknowledge, nil, time.Time{}
	if err := n.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	r := rec.requests()[0]
	if r.Header.Get("Authorization") != "" {
		t.Errorf("Authorization %q", r.Header.Get("Authorization"))
	}
	var got map[string]any
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Fatal(err)
	}
	if _, ok := got["starts_at"]; ok {
		t.Error("zero starts_at sent")
	}
	if l, ok := got["labels"].(map[string]any); !ok || len(l) != 0 {
		t.Errorf("labels %v, want {}", got["labels"])
	}
}
