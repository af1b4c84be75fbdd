package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"reflect"
	"strings"
	"testing"
	"time"
)

// reportMessage is the daily health check summary as escalator sends it:
// a Report with no incident fields. Its free text carries what a format
// must escape.
func reportMessage() Message {
	return Message{
		Key:         "health/2026-12-03/ops",
		Incident:    "health/2026-12-03",
		Event:       Report,
		Summary:     "Daily health check 2026-12-03: 3 ok, 1 failed",
		Description: "Checks run at 09:00 JST.\n<!channel> db1 refused & was retried\n",
		Diagnostics: "✔ api (http): HTTP 200 in 12 ms\r\n✘ db (tcp): <script> refused\n",
	}
}

// withIncidentFields is m with every field a Report leaves out set, as a
// careless caller might: no format may show any of them.
func withIncidentFields(m Message) Message {
	h := hostileMessage()
	m.Severity = h.Severity
	m.Labels = h.Labels
	m.StartsAt = h.StartsAt
	m.Step = h.Step
	m.Policy = h.Policy
	m.AckURL = h.AckURL
	m.ConsoleURL = h.ConsoleURL
	m.Truncated = 7
	m.Automation = []string{"clear_cache succeeded at 03:12:04Z"}
	return m
}

// slackReport sends m through a real Slack channel to a loopback receiver
// and returns the payload it posted.
func slackReport(t *testing.T, m Message) (slackPayload, []byte) {
	t.Helper()
	rec := newRecorder(t, nil)
	r := sendOne(t, rec, "s", ChannelConfig{Type: "slack", WebhookURLFile: writeSecret(t, rec.srv.URL+"/services/x")}, m)
	var sp slackPayload
	if err := json.Unmarshal(r.Body, &sp); err != nil {
		t.Fatal(err)
	}
	return sp, r.Body
}

// emailReport sends m through a real email channel to a loopback relay and
// returns the mail's header and decoded body ("\n" line ends).
func emailReport(t *testing.T, m Message) (mail.Header, string) {
	t.Helper()
	relay := startRelay(t, nil, "", "")
	no := false
	cfg := relayConfig(relay, "")
	cfg.RequireTLS = &no
	n, err := New("mail", cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	mails := relay.received()
	if len(mails) != 1 {
		t.Fatalf("%d mails", len(mails))
	}
	msg, err := mail.ReadMessage(bytes.NewReader(mails[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	return msg.Header, strings.ReplaceAll(string(body), "\r\n", "\n")
}

// webhookReport sends m through a real webhook channel to a loopback
// receiver and returns the request.
func webhookReport(t *testing.T, m Message) recorded {
	t.Helper()
	rec := newRecorder(t, nil)
	return sendOne(t, rec, "hook", ChannelConfig{Type: "webhook", URL: rec.srv.URL}, m)
}

// Slack shows a report's summary, description and diagnostics, escaped,
// and nothing of an incident: no fields, labels or buttons.
func TestReportSlack(t *testing.T) {
	want := slackPayload{
		Text: "Daily health check 2026-12-03: 3 ok, 1 failed",
		Blocks: []slackBlock{
			{Type: "section", Text: mrkdwn("*Daily health check 2026-12-03: 3 ok, 1 failed*")},
			{Type: "section", Text: mrkdwn("Checks run at 09:00 JST.\n&lt;!channel&gt; db1 refused &amp; was retried")},
			{Type: "section", Text: mrkdwn("*Diagnostics*\n✔ api (http): HTTP 200 in 12 ms\n✘ db (tcp): &lt;script&gt; refused")},
		},
	}
	for name, m := range map[string]Message{
		"report":              reportMessage(),
		"incident fields set": withIncidentFields(reportMessage()),
		"no report id":        func() Message { m := reportMessage(); m.Incident = ""; return m }(),
	} {
		got, raw := slackReport(t, m)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got\n%s", name, raw)
		}
		for _, s := range []string{"actions", "Acknowledge", "console", "Labels", "Severity", "Policy", "Automation", "max_alerts", "<!channel>"} {
			if bytes.Contains(raw, []byte(s)) {
				t.Errorf("%s: payload holds %q:\n%s", name, s, raw)
			}
		}
	}

	// Without description and diagnostics, the headline alone.
	m := reportMessage()
	m.Description, m.Diagnostics = " \n", ""
	if got, raw := slackReport(t, m); len(got.Blocks) != 1 || !reflect.DeepEqual(got.Blocks[0], want.Blocks[0]) {
		t.Errorf("summary only: got\n%s", raw)
	}
}

// A report's body gets the whole section, escaped, and is cut within it
// at a whole escape with an ellipsis, never over Slack's limit.
func TestReportSlackLongDescription(t *testing.T) {
	m := reportMessage()
	m.Diagnostics = ""
	// Longer than an incident's description may be (a fifth of the
	// section), shorter than a section.
	m.Description = strings.Repeat("d", 2500)
	got, raw := slackReport(t, m)
	if len(got.Blocks) != 2 || got.Blocks[1].Text == nil || got.Blocks[1].Text.Text != m.Description {
		t.Errorf("2500 characters: cut or missing:\n%.300s", raw)
	}

	m.Description = strings.Repeat("&", 1000) // 5000 bytes escaped
	got, raw = slackReport(t, m)
	if len(got.Blocks) != 2 || got.Blocks[1].Text == nil {
		t.Fatalf("no description block:\n%.300s", raw)
	}
	d := got.Blocks[1].Text.Text
	kept, ok := strings.CutSuffix(d, "…")
	if !ok || len(d) > slackSectionMax || len(d) < slackSectionMax-len("&amp;…") ||
		kept != strings.Repeat("&amp;", len(kept)/len("&amp;")) {
		t.Errorf("cut description: %d bytes, ends %q", len(d), d[max(0, len(d)-20):])
	}
	for _, c := range []struct {
		in   string
		max  int
		want string
	}{
		{"a&bcd", 9, "a&amp;bcd"}, // fits exactly
		{"a&bcde", 9, "a&amp;…"},  // one byte over
		{"a&bcde", 8, "a…"},       // no half of "&amp;"
		{"ééé", 6, "ééé"},
		{"ééé", 5, "é…"},           // whole runes
		{"\xffabcd", 6, "\uFFFD…"}, // valid UTF-8
	} {
		if got := slackEscapeCut(c.in, c.max); got != c.want {
			t.Errorf("slackEscapeCut(%q, %d) = %q, want %q", c.in, c.max, got, c.want)
		}
	}
}

// Email: the summary is the subject, the body the summary, the description
// and the diagnostics, with no link, field or label.
func TestReportEmail(t *testing.T) {
	const wantBody = "Daily health check 2026-12-03: 3 ok, 1 failed\n" +
		"\n" +
		"Checks run at 09:00 JST.\n" +
		"<!channel> db1 refused & was retried\n" +
		"\n" +
		"Diagnostics:\n" +
		"  ✔ api (http): HTTP 200 in 12 ms\n" +
		"  ✘ db (tcp): <script> refused\n"
	for name, m := range map[string]Message{
		"report":              reportMessage(),
		"incident fields set": withIncidentFields(reportMessage()),
	} {
		h, body := emailReport(t, m)
		if body != wantBody {
			t.Errorf("%s: body\n%s", name, body)
		}
		if got := h.Get("Subject"); got != m.Summary {
			t.Errorf("%s: Subject %q", name, got)
		}
		if h.Get("X-Escalator-Event") != "report" || h.Get("X-Escalator-Incident") != "health/2026-12-03" {
			t.Errorf("%s: X-Escalator-Event %q, X-Escalator-Incident %q", name, h.Get("X-Escalator-Event"), h.Get("X-Escalator-Incident"))
		}
		if mt, _, err := mime.ParseMediaType(h.Get("Content-Type")); err != nil || mt != "text/plain" {
			t.Errorf("%s: Content-Type %q", name, h.Get("Content-Type"))
		}
	}

	// A summary is still one line of Subject, and a report without an id
	// has no X-Escalator-Incident rather than an empty one.
	m := reportMessage()
	m.Incident = ""
	m.Summary = "Weekly report 2026-W49\r\nBcc: evil@example.org"
	m.Description, m.Diagnostics = "", ""
	h, body := emailReport(t, m)
	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(h.Get("Subject"))
	if err != nil || subject != "Weekly report 2026-W49  Bcc: evil@example.org" || h.Get("Bcc") != "" {
		t.Errorf("Subject %q (%v), Bcc %q", subject, err, h.Get("Bcc"))
	}
	if _, ok := h["X-Escalator-Incident"]; ok {
		t.Errorf("X-Escalator-Incident %q without a report id", h.Get("X-Escalator-Incident"))
	}
	if body != "Weekly report 2026-W49  Bcc: evil@example.org\n" {
		t.Errorf("summary only: body\n%s", body)
	}
}

// The webhook says event "report" with summary, description and
// diagnostics, and leaves every incident field empty.
func TestReportWebhook(t *testing.T) {
	want := map[string]any{
		"version":     "1",
		"key":         "health/2026-12-03/ops",
		"incident":    "health/2026-12-03",
		"event":       "report",
		"severity":    "",
		"summary":     "Daily health check 2026-12-03: 3 ok, 1 failed",
		"description": "Checks run at 09:00 JST.\n<!channel> db1 refused & was retried\n",
		"labels":      map[string]any{},
		"step":        float64(0),
		"policy":      "",
		"diagnostics": "✔ api (http): HTTP 200 in 12 ms\n✘ db (tcp): <script> refused",
	}
	for name, m := range map[string]Message{
		"report":              reportMessage(),
		"incident fields set": withIncidentFields(reportMessage()),
	} {
		r := webhookReport(t, m)
		var got map[string]any
		if err := json.Unmarshal(r.Body, &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got\n%s", name, r.Body)
		}
		if r.Header.Get("Idempotency-Key") != m.Key {
			t.Errorf("%s: Idempotency-Key %q", name, r.Header.Get("Idempotency-Key"))
		}
	}
}

// PagerDuty pages people: a report is refused, permanently, and nothing is
// sent. The same channel still sends a trigger, so the receiver would
// have seen one.
func TestReportPagerDutyRefused(t *testing.T) {
	rec := newRecorder(t, nil)
	n, err := New("pd", ChannelConfig{Type: "pagerduty", RoutingKeyFile: writeSecret(t, "k"), URL: rec.srv.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, m := range map[string]Message{
		"report":              reportMessage(),
		"incident fields set": withIncidentFields(reportMessage()),
	} {
		err := n.Send(context.Background(), m)
		var pe *PermanentError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), "PagerDuty pages people; reports go to Slack, e-mail or a webhook") {
			t.Errorf("%s: got %v", name, err)
		}
	}
	if reqs := rec.requests(); len(reqs) != 0 {
		t.Fatalf("%d requests for reports", len(reqs))
	}
	if err := n.Send(context.Background(), hostileMessage()); err != nil {
		t.Fatal(err)
	}
	if reqs := rec.requests(); len(reqs) != 1 {
		t.Errorf("%d requests for one trigger", len(reqs))
	}
}

// A report needs a summary: without one every channel refuses it,
// permanently and without sending. It needs no incident, and still a key.
func TestReportValidation(t *testing.T) {
	for _, summary := range []string{"", " \t\r\n"} {
		m := reportMessage()
		m.Summary = summary
		if err := checkMessage(m); err == nil || !IsPermanent(err) || !strings.Contains(err.Error(), "report summary is empty") {
			t.Errorf("summary %q: %v", summary, err)
		}

		for _, typ := range []string{"slack", "pagerduty", "webhook"} {
			rec := newRecorder(t, nil)
			c := map[string]ChannelConfig{
				"slack":     {Type: "slack", WebhookURLFile: writeSecret(t, rec.srv.URL+"/services/x")},
				"pagerduty": {Type: "pagerduty", RoutingKeyFile: writeSecret(t, "k"), URL: rec.srv.URL},
				"webhook":   {Type: "webhook", URL: rec.srv.URL},
			}[typ]
			n, err := New(typ, c, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := n.Send(context.Background(), m); !IsPermanent(err) || !strings.Contains(err.Error(), "report summary is empty") {
				t.Errorf("%s, summary %q: %v", typ, summary, err)
			}
			if reqs := rec.requests(); len(reqs) != 0 {
				t.Errorf("%s, summary %q: %d requests", typ, summary, len(reqs))
			}
			// The receiver was there: a valid message reaches it.
			ok := reportMessage()
			if typ == "pagerduty" {
				ok = hostileMessage()
			}
			if err := n.Send(context.Background(), ok); err != nil {
				t.Fatal(err)
			}
			if reqs := rec.requests(); len(reqs) != 1 {
				t.Errorf("%s: %d requests for a valid message", typ, len(reqs))
			}
		}

		relay := startRelay(t, nil, "", "")
		no := false
		cfg := relayConfig(relay, "")
		cfg.RequireTLS = &no
		n, err := New("mail", cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Send(context.Background(), m); !IsPermanent(err) || !strings.Contains(err.Error(), "report summary is empty") {
			t.Errorf("email, summary %q: %v", summary, err)
		}
		if relay.mailCommands() != 0 {
			t.Errorf("email, summary %q: %d MAIL commands", summary, relay.mailCommands())
		}
		// The relay was there (and its cleanup, which waits for a
		// connection it never had, does not hang): a valid report
		// reaches it.
		if err := n.Send(context.Background(), reportMessage()); err != nil {
			t.Fatal(err)
		}
		if got := len(relay.received()); got != 1 {
			t.Errorf("email: %d mails for a valid report", got)
		}
	}

	m := reportMessage()
	m.Incident = ""
	if err := checkMessage(m); err != nil {
		t.Errorf("report without id: %v", err)
	}
	m.Key = ""
	if err := checkMessage(m); err == nil || !strings.Contains(err.Error(), "key is empty") {
		t.Errorf("report without key: %v", err)
	}
	// An incident's events still need their incident.
	for _, ev := range []Event{Trigger, Acknowledge, Resolve} {
		m := hostileMessage()
		m.Event, m.Incident = ev, ""
		if err := checkMessage(m); err == nil || !strings.Contains(err.Error(), "incident is empty") {
			t.Errorf("%s without incident: %v", ev, err)
		}
		m.Incident, m.Summary = "inc-42", ""
		if err := checkMessage(m); err != nil {
			t.Errorf("%s without summary: %v", ev, err)
		}
	}
}

// Reports change nothing for an incident's events: their headline still
// carries the event and severity, their formats the incident's fields.
func TestReportLeavesIncidentFormats(t *testing.T) {
	for ev, want := range map[Event]string{
		Trigger:     "[CRITICAL] Disk full on db1  Bcc: evil@example.org",
		Acknowledge: "Acknowledged: [CRITICAL] Disk full on db1  Bcc: evil@example.org",
		Resolve:     "Resolved: [CRITICAL] Disk full on db1  Bcc: evil@example.org",
	} {
		m := hostileMessage()
		m.Event = ev
		if got := title(m); got != want {
			t.Errorf("%s: title %q", ev, got)
		}
		if b := emailBody(m); !strings.Contains(b, "\nIncident: inc-42\n") || !strings.Contains(b, "\nLabels:\n") {
			t.Errorf("%s: email body without incident or labels:\n%s", ev, b)
		}
		if p := webhookBody(m); p.Policy != "db-oncall" || p.Step != 2 || p.AckURL == "" || len(p.Labels) == 0 {
			t.Errorf("%s: webhook payload %+v", ev, p)
		}
	}
	// An email of an incident still names it.
	m := hostileMessage()
	e := &email{from: &mail.Address{Address: "esc@example.org"}, to: []*mail.Address{{Address: "a@example.org"}}}
	msg, err := mail.ReadMessage(bytes.NewReader(e.render(m, time.Now())))
	if err != nil {
		t.Fatal(err)
	}
	if got := msg.Header.Get("X-Escalator-Incident"); got != "inc-42" {
		t.Errorf("X-Escalator-Incident %q", got)
	}
}
