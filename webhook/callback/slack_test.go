package callback

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hotel-ops/hotel-ops/webhook/store"
)

const form = "application/x-www-form-urlencoded"

// slackButton is a button of a message escalator posted to Slack.
type slackButton struct {
	BlockID  string
	ActionID string `json:"action_id"`
	Value    string `json:"value"`
	URL      string `json:"url"`
}

// ackButton sends the incident's first step through the real Slack
// notifier and returns the Acknowledge button of the message posted.
func (w *world) ackButton(t *testing.T) slackButton {
	t.Helper()
	if _, err := w.eng.Step(bg); err != nil {
		t.Fatal(err)
	}
	if _, err := w.eng.SendDue(bg, "", 100); err != nil {
		t.Fatal(err)
	}
	msgs := w.slack.messages()
	if len(msgs) == 0 {
		t.Fatal("nothing posted to Slack")
	}
	var m struct {
		Blocks []struct {
			Type     string        `json:"type"`
			BlockID  string        `json:"block_id"`
			Elements []slackButton `json:"elements"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(msgs[len(msgs)-1], &m); err != nil {
		t.Fatal(err)
	}
	for _, b := range m.Blocks {
		for _, e := range b.Elements {
			if strings.Contains(e.URL, "/ack?") {
				e.BlockID = b.BlockID
				return e
			}
		}
	}
	t.Fatalf("no Acknowledge button in %s", msgs[len(msgs)-1])
	return slackButton{}
}

// click is the interaction Slack posts when someone clicks b: the form
// body, its payload field a block_actions interaction.
func click(b slackButton, user string) string {
	p := map[string]any{
		"type":         "block_actions",
		"user":         map[string]any{"id": "U0ALICE", "username": user, "name": user, "team_id": "T0"},
		"api_app_id":   "A0ESC",
		"token":        "legacy-verification-token",
		"container":    map[string]any{"type": "message", "message_ts": "1732784280.000100", "channel_id": "C0OPS", "is_ephemeral": false},
		"trigger_id":   "1.2.3",
		"team":         map[string]any{"id": "T0", "domain": "hotel"},
		"channel":      map[string]any{"id": "C0OPS", "name": "ops"},
		"message":      map[string]any{"type": "message", "text": "[CRITICAL] down", "ts": "1732784280.000100"},
		"state":        map[string]any{"values": map[string]any{}},
		"response_url": "https://hooks.slack.example/actions/T0/1/x",
		"actions": []map[string]any{{
			"action_id": b.ActionID, "block_id": b.BlockID, "value": b.Value, "url": b.URL, "style": "primary",
			"type": "button", "action_ts": "1732784290.000200", "text": map[string]any{"type": "plain_text", "text": "Acknowledge"},
		}},
	}
	j, _ := json.Marshal(p)
	return url.Values{"payload": {string(j)}}.Encode()
}

// The Acknowledge button of the message escalator posted, clicked:
// Slack's signed interaction acknowledges the incident, by that person.
func TestSlackButtonAcknowledges(t *testing.T) {
	w := newWorld(t, both(t), nil)
	id := w.open(t, "HotelAppDown")
	b := w.ackButton(t)
	if b.Value != id {
		t.Fatalf("button value %q, want the incident %q", b.Value, id)
	}
	body := click(b, "alice")
	if code := w.slackClick(t, body); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	inc := w.incident(t, id)
	if inc.Status != store.Acknowledged || inc.AckedBy != "slack:alice" {
		t.Errorf("incident %s by %q, want acknowledged by slack:alice", inc.Status, inc.AckedBy)
	}
	// The same click again (the link's page was used too, or Slack
	// sent it twice): still 200, nothing changes.
	if code := w.slackClick(t, body); code != http.StatusOK {
		t.Errorf("second click: %d", code)
	}
	if again := w.incident(t, id); !again.AckedAt.Equal(inc.AckedAt) || again.AckedBy != inc.AckedBy {
		t.Errorf("second click changed the acknowledgement: %+v", again)
	}
}

// Whatever is wrong with a request, the incident stays open, and the
// answer says which kind of wrong.
func TestSlackRefuses(t *testing.T) {
	w := newWorld(t, both(t), nil)
	id := w.open(t, "HotelAppDown")
	good := click(w.ackButton(t), "mallory")
	now := time.Now()
	sign := func(body string) http.Header { return slackSign(slackSecret, now, body) }
	big := "payload=" + strings.Repeat("x", DefaultMaxBody)

	for _, c := range []struct {
		name        string
		contentType string
		header      http.Header
		body        string
		want        int
	}{
		{"no signature", form, nil, good, http.StatusUnauthorized},
		{"another app's secret", form, slackSign("another-secret", now, good), good, http.StatusUnauthorized},
		{"a body changed after signing", form, sign(good), strings.Replace(good, "mallory", "alice", 1), http.StatusUnauthorized},
		{"signed 6 minutes ago (a replay)", form, slackSign(slackSecret, now.Add(-6*time.Minute), good), good, http.StatusUnauthorized},
		{"signed 6 minutes ahead", form, slackSign(slackSecret, now.Add(6*time.Minute), good), good, http.StatusUnauthorized},
		{"a timestamp not signed", form, http.Header{"X-Slack-Request-Timestamp": {"1"}, "X-Slack-Signature": sign(good)["X-Slack-Signature"]}, good, http.StatusUnauthorized},
		{"not hex", form, http.Header{"X-Slack-Request-Timestamp": sign(good)["X-Slack-Request-Timestamp"], "X-Slack-Signature": {"v0=zz"}}, good, http.StatusUnauthorized},
		{"JSON instead of a form", "application/json", sign(good), good, http.StatusUnsupportedMediaType},
		{"no payload field", form, sign("token=x"), "token=x", http.StatusBadRequest},
		{"a payload not JSON", form, sign("payload=%7Bnope"), "payload=%7Bnope", http.StatusBadRequest},
		{"a body over the limit", form, sign(big), big, http.StatusRequestEntityTooLarge},
	} {
		if got := w.post(t, SlackPath, c.contentType, c.header, c.body); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
	if inc := w.incident(t, id); inc.Status != store.Open {
		t.Errorf("incident %s by %q after refused requests", inc.Status, inc.AckedBy)
	}

	// GET is not an interaction.
	resp, err := http.Get(w.srv.URL + SlackPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", resp.StatusCode)
	}
}

// Signed interactions escalator has nothing to do with get their 200 (Slack
// shows an error otherwise) and change nothing.
func TestSlackIgnores(t *testing.T) {
	w := newWorld(t, both(t), nil)
	id := w.open(t, "HotelAppDown")
	b := w.ackButton(t)

	unknown := b
	unknown.Value = "000000000-0123456789abcdef"
	console := b
	console.ActionID = "console"
	otherBlock := b
	otherBlock.BlockID = "someone-elses"
	noValue := b
	noValue.Value = ""
	shortcut := url.Values{"payload": {`{"type":"shortcut","callback_id":"x","user":{"id":"U1"}}`}}.Encode()
	for name, body := range map[string]string{
		"an incident unknown (pruned)": click(unknown, "alice"),
		"the console button":           click(console, "alice"),
		"a button of another block":    click(otherBlock, "alice"),
		"a button without value":       click(noValue, "alice"),
		"a shortcut":                   shortcut,
	} {
		if got := w.slackClick(t, body); got != http.StatusOK {
			t.Errorf("%s: %d, want 200", name, got)
		}
	}
	if inc := w.incident(t, id); inc.Status != store.Open {
		t.Errorf("incident %s by %q", inc.Status, inc.AckedBy)
	}
}

// A store that fails is a 503, which Slack shows the person.
func TestSlackStoreDown(t *testing.T) {
	w := newWorld(t, both(t), nil)
	w.open(t, "HotelAppDown")
	body := click(w.ackButton(t), "alice")
	w.st.Close()
	if got := w.slackClick(t, body); got != http.StatusServiceUnavailable {
		t.Errorf("closed store: %d, want 503", got)
	}
}

func TestWho(t *testing.T) {
	for _, c := range []struct {
		names []string
		want  string
	}{
		{[]string{"alice", "Alice A"}, "slack:alice"},
		{[]string{"", " ", "U0ALICE"}, "slack:U0ALICE"},
		{[]string{"eve\r\nacknowledged by bob"}, "slack:eve  acknowledged by bob"},
		{[]string{"\xff"}, "slack:\uFFFD"},
		{nil, "slack"},
		{[]string{strings.Repeat("é", 300)}, "slack:" + strings.Repeat("é", maxBy-1) + "…"},
	} {
		if got := who("slack", c.names...); got != c.want {
			t.Errorf("who(%q) = %q, want %q", c.names, got, c.want)
		}
	}
}
