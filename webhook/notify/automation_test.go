package notify

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// rendered is what one channel made of a message's Automation and
// Diagnostics: the lines as the format carries them (Slack's still
// mrkdwn-escaped, without the bullet), nil when the format has none.
type rendered struct {
	automation  []string
	diagnostics []string
	// sizes are the byte lengths of the automation and diagnostics
	// texts as the format carries them (a Slack section with its heading,
	// an email paragraph without it, a JSON value before JSON escaping).
	automationSize, diagnosticsSize int
}

// deliverAll sends m through a real channel of every type, each to its own
// loopback receiver, and returns what each made of Automation and
// Diagnostics, with each channel's raw request body or mail body.
func deliverAll(t *testing.T, m Message) (map[string]rendered, map[string][]byte) {
	t.Helper()
	out := map[string]rendered{}
	raw := map[string][]byte{}

	slackRec := newRecorder(t, nil)
	r := sendOne(t, slackRec, "s", ChannelConfig{Type: "slack", WebhookURLFile: writeSecret(t, slackRec.srv.URL+"/services/x")}, m)
	raw["slack"] = r.Body
	var sp slackPayload
	if err := json.Unmarshal(r.Body, &sp); err != nil {
		t.Fatal(err)
	}
	var sr rendered
	for _, b := range sp.Blocks {
		if b.Text == nil {
			continue
		}
		if rest, ok := strings.CutPrefix(b.Text.Text, "*Automation*\n"); ok {
			if sr.automation != nil {
				t.Error("slack: two Automation sections")
			}
			sr.automationSize = len(b.Text.Text)
			for _, l := range strings.Split(rest, "\n") {
				if strings.HasPrefix(l, "… ") {
					sr.automation = append(sr.automation, l)
					continue
				}
				l, ok := strings.CutPrefix(l, "• ")
				if !ok {
					t.Errorf("slack: automation line without bullet: %q", l)
				}
				sr.automation = append(sr.automation, l)
			}
		}
		if rest, ok := strings.CutPrefix(b.Text.Text, "*Diagnostics*\n"); ok {
			if sr.diagnostics != nil {
				t.Error("slack: two Diagnostics sections")
			}
			sr.diagnosticsSize = len(b.Text.Text)
			sr.diagnostics = strings.Split(rest, "\n")
		}
	}
	out["slack"] = sr

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
	if mt, _, err := mime.ParseMediaType(msg.Header.Get("Content-Type")); err != nil || mt != "text/plain" {
		// The email checks below are for a plain-text body: an HTML
		// part would need its own, HTML-escaped, checks.
		t.Fatalf("email Content-Type %q", msg.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	raw["email"] = body
	er := rendered{}
	er.automation, er.automationSize = emailParagraph(t, string(body), "Automation:")
	er.diagnostics, er.diagnosticsSize = emailParagraph(t, string(body), "Diagnostics:")
	out["email"] = er

	pdRec := newRecorder(t, nil)
	r = sendOne(t, pdRec, "pd", ChannelConfig{Type: "pagerduty", RoutingKeyFile: writeSecret(t, "k"), URL: pdRec.srv.URL}, m)
	raw["pagerduty"] = r.Body
	var pd struct {
		Payload struct {
			CustomDetails map[string]json.RawMessage `json:"custom_details"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(r.Body, &pd); err != nil {
		t.Fatal(err)
	}
	out["pagerduty"] = jsonRendered(t, "pagerduty", pd.Payload.CustomDetails)

	hookRec := newRecorder(t, nil)
	r = sendOne(t, hookRec, "hook", ChannelConfig{Type: "webhook", URL: hookRec.srv.URL}, m)
	raw["webhook"] = r.Body
	var hook map[string]json.RawMessage
	if err := json.Unmarshal(r.Body, &hook); err != nil {
		t.Fatal(err)
	}
	out["webhook"] = jsonRendered(t, "webhook", hook)
	return out, raw
}

// emailParagraph returns the lines of the paragraph headed heading in a
// plain-text body, without their indentation, and the paragraph's size in
// bytes after the heading ("\n" line ends, indentation included); nil when
// there is no such paragraph.
func emailParagraph(t *testing.T, body, heading string) ([]string, int) {
	t.Helper()
	body = strings.ReplaceAll(body, "\r\n", "\n")
	if strings.Count(body, "\n"+heading+"\n") > 1 {
		t.Errorf("email: two %s paragraphs", heading)
	}
	_, rest, ok := strings.Cut(body, "\n"+heading+"\n")
	if !ok {
		return nil, 0
	}
	para, _, _ := strings.Cut(rest, "\n\n")
	para = strings.TrimSuffix(para, "\n")
	var lines []string
	for _, l := range strings.Split(para, "\n") {
		l, ok := strings.CutPrefix(l, "  ")
		if !ok {
			t.Errorf("email: %s line not indented: %q", heading, l)
		}
		lines = append(lines, l)
	}
	return lines, len(para) + 1
}

// jsonRendered reads "automation" and "diagnostics" from a JSON object.
func jsonRendered(t *testing.T, format string, obj map[string]json.RawMessage) rendered {
	t.Helper()
	var r rendered
	if v, ok := obj["automation"]; ok {
		if err := json.Unmarshal(v, &r.automation); err != nil || r.automation == nil {
			t.Errorf("%s: automation %s (%v)", format, v, err)
		}
		for _, l := range r.automation {
			r.automationSize += len(l) + 1
		}
	}
	if v, ok := obj["diagnostics"]; ok {
		var d string
		if err := json.Unmarshal(v, &d); err != nil || d == "" {
			t.Errorf("%s: diagnostics %s (%v)", format, v, err)
		}
		r.diagnostics = strings.Split(d, "\n")
		r.diagnosticsSize = len(d) + 1
	}
	return r
}

var formats = []string{"slack", "email", "pagerduty", "webhook"}

// The automation lines and the diagnostics summary reach every channel,
// each escaped as its format needs.
func TestAutomationInEveryChannel(t *testing.T) {
	m := hostileMessage()
	m.Automation = []string{
		"clear_cache succeeded at 03:12:04Z: unlinked 42 keys matching sess:*",
		"restart of <!channel> & <script>alert(1)</script> failed\nAcknowledge: https://evil.example/ack",
		"failover awaits approval until 03:20:00Z",
	}
	m.Diagnostics = "✔ api (http): HTTP 200 in 12 ms\r\n✘ db (tcp): <!channel> & <script> refused\n"
	got, raw := deliverAll(t, m)

	// Slack: mrkdwn-escaped, one line each, so neither the mention nor
	// the fake Acknowledge line works.
	slackEscaped := []string{
		"clear_cache succeeded at 03:12:04Z: unlinked 42 keys matching sess:*",
		"restart of &lt;!channel&gt; &amp; &lt;script&gt;alert(1)&lt;/script&gt; failed Acknowledge: https://evil.example/ack",
		"failover awaits approval until 03:20:00Z",
	}
	slackDiag := []string{"✔ api (http): HTTP 200 in 12 ms", "✘ db (tcp): &lt;!channel&gt; &amp; &lt;script&gt; refused"}
	if s := got["slack"]; !reflect.DeepEqual(s.automation, slackEscaped) || !reflect.DeepEqual(s.diagnostics, slackDiag) {
		t.Errorf("slack: automation %q\ndiagnostics %q", s.automation, s.diagnostics)
	}
	var sp slackPayload
	_ = json.Unmarshal(raw["slack"], &sp)
	for _, b := range sp.Blocks {
		if b.Text != nil && (strings.Contains(b.Text.Text, "<!channel>") || strings.Contains(b.Text.Text, "<script>")) {
			t.Errorf("slack: unescaped text %q", b.Text.Text)
		}
	}

	// Email is text/plain (deliverAll checks): no markup is interpreted,
	// so the text arrives as written, but a line break inside a line
	// cannot start a line of the message.
	plain := []string{
		"clear_cache succeeded at 03:12:04Z: unlinked 42 keys matching sess:*",
		"restart of <!channel> & <script>alert(1)</script> failed Acknowledge: https://evil.example/ack",
		"failover awaits approval until 03:20:00Z",
	}
	plainDiag := []string{"✔ api (http): HTTP 200 in 12 ms", "✘ db (tcp): <!channel> & <script> refused"}
	if e := got["email"]; !reflect.DeepEqual(e.automation, plain) || !reflect.DeepEqual(e.diagnostics, plainDiag) {
		t.Errorf("email: automation %q\ndiagnostics %q\n%s", e.automation, e.diagnostics, raw["email"])
	}
	// The acknowledge link still comes before anything the alert says.
	if body := string(raw["email"]); strings.Index(body, "Acknowledge: "+m.AckURL) > strings.Index(body, "Automation:") {
		t.Errorf("email: automation above the acknowledge link\n%s", body)
	}

	// JSON: exactly as sent, JSON does the escaping (and, as
	// encoding/json does by default, escapes < > & too, for receivers
	// that paste values into HTML).
	for _, f := range []string{"pagerduty", "webhook"} {
		if j := got[f]; !reflect.DeepEqual(j.automation, m.Automation) || !reflect.DeepEqual(j.diagnostics, plainDiag) {
			t.Errorf("%s: automation %q\ndiagnostics %q", f, j.automation, j.diagnostics)
		}
		if bytes.Contains(raw[f], []byte("<!channel>")) || !bytes.Contains(raw[f], []byte(`restart of \u003c!channel\u003e \u0026 \u003cscript\u003e`)) {
			t.Errorf("%s: not JSON-escaped:\n%s", f, raw[f])
		}
	}
}

// No automation and no diagnostics, however spelt, leave every format
// exactly as it was, and say nothing about them.
func TestAutomationEmptyChangesNothing(t *testing.T) {
	base := hostileMessage()
	before, rawBefore := deliverAll(t, base)
	for f, r := range before {
		if r.automation != nil || r.diagnostics != nil {
			t.Errorf("%s: without automation: %+v", f, r)
		}
	}
	for f, body := range rawBefore {
		if bytes.Contains(bytes.ToLower(body), []byte("automation")) || bytes.Contains(bytes.ToLower(body), []byte("diagnostics")) {
			t.Errorf("%s: mentions automation or diagnostics:\n%s", f, body)
		}
	}
	for i, empty := range []struct {
		automation  []string
		diagnostics string
	}{
		{[]string{}, ""},
		{[]string{"", " \t", "\n"}, " \r\n\n"},
	} {
		m := base
		m.Automation, m.Diagnostics = empty.automation, empty.diagnostics
		_, raw := deliverAll(t, m)
		for _, f := range formats {
			if !bytes.Equal(raw[f], rawBefore[f]) {
				t.Errorf("case %d, %s: output changed:\n%s\nwas\n%s", i, f, raw[f], rawBefore[f])
			}
		}
		// The whole email too, headers included (the relay's copy has
		// another Date).
		e := &email{from: &mail.Address{Address: "esc@example.org"}, to: []*mail.Address{{Address: "a@example.org"}}}
		now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
		if !bytes.Equal(e.render(m, now), e.render(base, now)) {
			t.Errorf("case %d: email changed", i)
		}
	}
}

// Every format keeps to the bounds: 20 lines, 500 characters a line, 3000
// bytes (escaped), the first lines kept and the rest counted.
func TestAutomationCaps(t *testing.T) {
	check := func(t *testing.T, what string, lines, got []string, size, maxSize int) {
		t.Helper()
		if len(got) == 0 {
			t.Fatalf("%s: nothing", what)
		}
		if size > maxSize {
			t.Errorf("%s: %d bytes, more than %d", what, size, maxSize)
		}
		kept, note := got[:len(got)-1], got[len(got)-1]
		if len(kept) == 0 || len(kept) > 20 {
			t.Errorf("%s: %d lines kept", what, len(kept))
		}
		if want := "… " + strconv.Itoa(len(lines)-len(kept)) + " more"; note != want {
			t.Errorf("%s: last line %q, want %q (%d kept of %d)", what, note, want, len(kept), len(lines))
		}
		for i, l := range kept {
			if !strings.HasPrefix(l, "line "+strconv.Itoa(i)+" ") {
				t.Errorf("%s: line %d is %.40q", what, i, l)
			}
		}
	}
	// The Slack size includes the heading and is bounded by Slack's
	// section limit; the others are the text alone.
	maxSize := map[string]int{"slack": slackSectionMax, "email": 3000, "pagerduty": 3000, "webhook": 3000}

	t.Run("lines", func(t *testing.T) {
		m := hostileMessage()
		var diag []string
		for i := range 30 {
			m.Automation = append(m.Automation, "line "+strconv.Itoa(i)+" ok")
		}
		for i := range 50 {
			diag = append(diag, "line "+strconv.Itoa(i)+" ✔")
		}
		m.Diagnostics = strings.Join(diag, "\n")
		got, _ := deliverAll(t, m)
		for _, f := range formats {
			r := got[f]
			check(t, f+" automation", m.Automation, r.automation, r.automationSize, maxSize[f])
			check(t, f+" diagnostics", diag, r.diagnostics, r.diagnosticsSize, maxSize[f])
			if len(r.automation) != 21 || len(r.diagnostics) != 21 {
				t.Errorf("%s: %d automation and %d diagnostics lines, want 20 and a note each", f, len(r.automation), len(r.diagnostics))
			}
		}
	})

	t.Run("bytes", func(t *testing.T) {
		// Characters that escaping grows: the budget is for the text
		// as sent.
		m := hostileMessage()
		var diag []string
		for i := range 20 {
			m.Automation = append(m.Automation, "line "+strconv.Itoa(i)+" "+strings.Repeat("<&>", 130))
			diag = append(diag, "line "+strconv.Itoa(i)+" "+strings.Repeat("é&", 190))
		}
		m.Diagnostics = strings.Join(diag, "\n")
		got, _ := deliverAll(t, m)
		for _, f := range formats {
			r := got[f]
			check(t, f+" automation", m.Automation, r.automation, r.automationSize, maxSize[f])
			check(t, f+" diagnostics", diag, r.diagnostics, r.diagnosticsSize, maxSize[f])
		}
	})

	t.Run("long line", func(t *testing.T) {
		m := hostileMessage()
		m.Automation = []string{"line 0 " + strings.Repeat("x", 10000)}
		m.Diagnostics = "line 0 " + strings.Repeat("y", 10000)
		got, _ := deliverAll(t, m)
		for _, f := range formats {
			for what, lines := range map[string][]string{"automation": got[f].automation, "diagnostics": got[f].diagnostics} {
				if len(lines) != 1 || utf8.RuneCountInString(lines[0]) != 500 || !strings.HasSuffix(lines[0], "…") || !strings.HasPrefix(lines[0], "line 0 ") {
					t.Errorf("%s %s: %d lines, first of %d characters", f, what, len(lines), utf8.RuneCountInString(strings.Join(lines, "")))
				}
			}
		}
	})
}
