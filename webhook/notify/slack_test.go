package notify

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestSlack(t *testing.T) {
	rec := newRecorder(t, nil)
	m := hostileMessage()
	r := sendOne(t, rec, "ops-slack", ChannelConfig{Type: "slack", WebhookURLFile: writeSecret(t, rec.srv.URL+"/services/T0/B0/XYZ\n")}, m)
	if r.Method != "POST" || r.Path != "/services/T0/B0/XYZ" || r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("request %s %s %q", r.Method, r.Path, r.Header.Get("Content-Type"))
	}
	var p slackPayload
	dec := json.NewDecoder(strings.NewReader(string(r.Body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("body is not the expected JSON: %v\n%s", err, r.Body)
	}

	// The fallback text: headline on one line, and the one real link.
	wantLink := "<https://escalator.example/ack?i=inc-42&amp;s=2&amp;sig=abc%7Cx|Acknowledge>"
	if !strings.HasPrefix(p.Text, "[CRITICAL] Disk full on db1  Bcc: evil@example.org") || !strings.HasSuffix(p.Text, " "+wantLink) {
		t.Errorf("text %q", p.Text)
	}
	if strings.ContainsAny(p.Text, "\r\n") || strings.Count(p.Text, "<") != 1 || strings.Count(p.Text, ">") != 1 {
		t.Errorf("text must be one line with one link: %q", p.Text)
	}

	// Every mrkdwn text of the blocks: no control sequence at all (the
	// only link is the button), escaped markup, labels one per line.
	var all []string
	var labels string
	var buttons []slackElement
	for _, b := range p.Blocks {
		if b.Text != nil {
			all = append(all, b.Text.Text)
			if strings.HasPrefix(b.Text.Text, "*Labels*") {
				labels = b.Text.Text
			}
		}
		for _, f := range b.Fields {
			all = append(all, f.Text)
		}
		buttons = append(buttons, b.Elements...)
	}
	joined := strings.Join(all, "\n")
	if strings.ContainsAny(joined, "<>") {
		t.Errorf("unescaped < or > in blocks:\n%s", joined)
	}
	for _, want := range []string{
		"&lt;script&gt;alert(\"x\")&lt;/script&gt;",
		"he said \"hi\" &amp; 'bye'",
		"&lt;!channel&gt; &lt;https://evil.example|Acknowledge&gt;",
		"*Severity*\ncritical", "*Incident*\ninc-42", "*Policy*\ndb-oncall (step 2)", "2025-03-01T12:00:00Z",
		"Root volume above 95%.",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("blocks lack %q:\n%s", want, joined)
		}
	}
	if got := strings.Count(labels, "\n"); got != len(m.Labels) {
		t.Errorf("labels section has %d line breaks, want one per label (%d):\n%s", got, len(m.Labels), labels)
	}
	if !strings.Contains(labels, "• newline: a b  c") || !strings.Contains(labels, "• inject:   Bcc: x@y") {
		t.Errorf("line breaks in values not flattened:\n%s", labels)
	}
	if len(buttons) != 2 || buttons[0].Text.Text != "Acknowledge" || buttons[0].URL != m.AckURL || buttons[1].URL != m.ConsoleURL {
		t.Errorf("buttons %+v", buttons)
	}
	// The callback finds the incident in the ack button's value, in the
	// block it names; the console button carries none.
	if buttons[0].ActionID != SlackAckAction || buttons[0].Value != m.Incident || buttons[1].Value != "" {
		t.Errorf("ack button %+v, console button %+v", buttons[0], buttons[1])
	}
	if last := p.Blocks[len(p.Blocks)-1]; last.Type != "actions" || last.BlockID != SlackActionsBlock {
		t.Errorf("actions block %+v", last)
	}
}

func TestSlackResolveHasNoAckButton(t *testing.T) {
	s := &slack{}
	m := hostileMessage()
	m.Event, m.AckURL, m.ConsoleURL = Resolve, "", ""
	p := s.payload(m)
	if !strings.HasPrefix(p.Text, "Resolved: [CRITICAL] Disk full") || strings.Contains(p.Text, "Acknowledge") {
		t.Errorf("text %q", p.Text)
	}
	for _, b := range p.Blocks {
		if b.Type == "actions" {
			t.Errorf("unexpected actions block %+v", b)
		}
	}
}

func TestSlackLimits(t *testing.T) {
	s := &slack{}
	m := hostileMessage()
	m.Summary = strings.Repeat("<&>", 2000)
	m.Labels = map[string]string{}
	for i := range 300 {
		m.Labels[strings.Repeat("k", 3)+string(rune('a'+i%26))+strings.Repeat("x", i/26)] = strings.Repeat("&", 500)
	}
	p := s.payload(m)
	for _, b := range p.Blocks {
		if b.Text != nil && len([]rune(b.Text.Text)) > slackSectionMax {
			t.Errorf("section of %d characters", len([]rune(b.Text.Text)))
		}
		for _, f := range b.Fields {
			if len([]rune(f.Text)) > 2000 {
				t.Errorf("field of %d characters", len([]rune(f.Text)))
			}
		}
	}
	if len(p.Blocks) > 50 {
		t.Errorf("%d blocks", len(p.Blocks))
	}
}

func TestSlackEnvAndPermanent(t *testing.T) {
	rec := newRecorder(t, func(_ int, w http.ResponseWriter) {
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, "no_service")
	})
	t.Setenv("NOTIFY_TEST_SLACK", rec.srv.URL+"/services/env")
	n, err := New("s", ChannelConfig{Type: "slack", WebhookURLEnv: "NOTIFY_TEST_SLACK"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = fast(n, 5).Send(context.Background(), hostileMessage())
	if !IsPermanent(err) || !strings.Contains(err.Error(), "HTTP 404: no_service") {
		t.Errorf("got %v", err)
	}
	reqs := rec.requests()
	if len(reqs) != 1 || reqs[0].Path != "/services/env" {
		t.Errorf("requests %+v", reqs)
	}
}
