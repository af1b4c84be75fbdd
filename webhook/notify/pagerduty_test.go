package notify

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestPagerDuty(t *testing.T) {
	rec := newRecorder(t, func(_ int, w http.ResponseWriter) {
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"status":"success","message":"Event processed"}`)
	})
	key := "R0UT1NGKEY0123456789abcdef012345"
	n, err := New("pd", ChannelConfig{Type: "pagerduty", RoutingKeyFile: writeSecret(t, key+"\n"), URL: rec.srv.URL + "/v2/enqueue"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := hostileMessage()
	for _, ev := range []Event{Trigger, Acknowledge, Resolve} {
		m.Event = ev
		m.Key = "inc-42/2/pd-" + string(ev)
		if err := n.Send(context.Background(), m); err != nil {
			t.Fatalf("%s: %v", ev, err)
		}
	}
	reqs := rec.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests", len(reqs))
	}
	for i, ev := range []Event{Trigger, Acknowledge, Resolve} {
		r := reqs[i]
		if r.Path != "/v2/enqueue" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: %s %q", ev, r.Path, r.Header.Get("Content-Type"))
		}
		var got struct {
			RoutingKey  string `json:"routing_key"`
			EventAction string `json:"event_action"`
			DedupKey    string `json:"dedup_key"`
			Payload     *struct {
				Summary       string `json:"summary"`
				Source        string `json:"source"`
				Severity      string `json:"severity"`
				Timestamp     string `json:"timestamp"`
				Class         string `json:"class"`
				CustomDetails struct {
					Labels map[string]string `json:"labels"`
					Step   int               `json:"step"`
					Policy string            `json:"policy"`
				} `json:"custom_details"`
			} `json:"payload"`
			Links []pdLink `json:"links"`
		}
		if err := json.Unmarshal(r.Body, &got); err != nil {
			t.Fatalf("%s: %v\n%s", ev, err, r.Body)
		}
		if got.RoutingKey != key || got.EventAction != string(ev) || got.DedupKey != "inc-42" {
			t.Errorf("%s: routing_key %q event_action %q dedup_key %q", ev, got.RoutingKey, got.EventAction, got.DedupKey)
		}
		if ev != Trigger {
			if got.Payload != nil {
				t.Errorf("%s: payload sent", ev)
			}
			continue
		}
		p := got.Payload
		if p == nil {
			t.Fatalf("trigger without payload: %s", r.Body)
		}
		if p.Summary != "Disk full on db1  Bcc: evil@example.org" || p.Source != "db1:9100" || p.Severity != "critical" ||
			p.Timestamp != "2025-03-01T12:00:00Z" || p.Class != "DiskFull" {
			t.Errorf("payload %+v", p)
		}
		// Labels arrive byte for byte: JSON carries them, nothing is
		// stripped.
		for k, v := range m.Labels {
			if p.CustomDetails.Labels[k] != v {
				t.Errorf("label %s = %q, want %q", k, p.CustomDetails.Labels[k], v)
			}
		}
		if p.CustomDetails.Step != 2 || p.CustomDetails.Policy != "db-oncall" {
			t.Errorf("custom_details %+v", p.CustomDetails)
		}
		if len(got.Links) != 2 || got.Links[0].Href != m.AckURL || got.Links[1].Href != m.ConsoleURL {
			t.Errorf("links %+v", got.Links)
		}
	}
}

func TestPagerDutySummaryAndSeverity(t *testing.T) {
	p := &pagerDuty{routingKey: "k"}
	m := hostileMessage()
	m.Summary = strings.Repeat("é", 3000)
	m.Severity = "warn"
	ev := p.event(m)
	if n := utf8.RuneCountInString(ev.Payload.Summary); n > pdSummaryMax {
		t.Errorf("summary of %d characters", n)
	}
	if ev.Payload.Severity != "warning" {
		t.Errorf("severity %q", ev.Payload.Severity)
	}
	for in, want := range map[string]string{
		"critical": "critical", "Page": "critical", "error": "error", "high": "error",
		"warning": "warning", "info": "info", "none": "info", "": "error", "weird": "error",
	} {
		if got := pdSeverity(in); got != want {
			t.Errorf("pdSeverity(%q) = %q, want %q", in, got, want)
		}
	}
	m.Labels = nil
	m.Summary = ""
	ev = p.event(m)
	if ev.Payload.Source != "escalator" || ev.Payload.Summary != "incident inc-42" || ev.Payload.CustomDetails.Labels == nil {
		t.Errorf("defaults %+v", ev.Payload)
	}
}

func TestPagerDutyDefaultURL(t *testing.T) {
	t.Setenv("NOTIFY_TEST_PD", "k")
	n, err := New("pd", ChannelConfig{Type: "pagerduty", RoutingKeyEnv: "NOTIFY_TEST_PD"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := n.(*pagerDuty).url; got != DefaultPagerDutyURL {
		t.Errorf("url %q", got)
	}
}
