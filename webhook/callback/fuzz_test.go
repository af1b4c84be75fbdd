package callback

import (
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// checkAction holds what every parsed interaction must satisfy: an
// incident worth a lookup, and who on one bounded line.
func checkAction(t *testing.T, a slackAction) {
	t.Helper()
	if a.Incident == "" {
		if a.By != "" {
			t.Errorf("no incident but by %q", a.By)
		}
		return
	}
	if !plausibleID(a.Incident) {
		t.Errorf("incident %q", a.Incident)
	}
	checkBy(t, a.By, "slack")
}

func checkBy(t *testing.T, by, source string) {
	t.Helper()
	if by != source && !strings.HasPrefix(by, source+":") {
		t.Errorf("by %q does not say %s", by, source)
	}
	if !utf8.ValidString(by) || strings.ContainsAny(by, "\r\n\x00") || utf8.RuneCountInString(by) > len(source)+1+maxBy {
		t.Errorf("by %q: not one bounded line of UTF-8", by)
	}
}

// FuzzParseSlack: whatever the signed body (the signature proves only that
// Slack sent it, and Slack relays what its users type), parsing does not
// panic and yields an incident id fit for a lookup and a clean name.
func FuzzParseSlack(f *testing.F) {
	ack := `{"type":"block_actions","user":{"id":"U1","username":"alice","name":"alice"},"actions":[{"action_id":"ack","block_id":"escalator","value":"0674f2d28-0123456789abcdef","type":"button"}]}`
	for _, p := range []string{
		ack,
		strings.Replace(ack, "alice", "e\\u0000v\\r\\ne", 1),
		`{"type":"block_actions","actions":[{"action_id":"ack","value":"x"}]}`,
		`{"type":"block_actions","actions":[{"action_id":"ack","block_id":"escalator","value":""}]}`,
		`{"type":"block_actions","actions":[null,{"block_id":1}]}`,
		`{"type":"block_actions","state":{"values":{"b":{"a":{"type":"plain_text_input","value":"v"}}}},"actions":[]}`,
		`{"type":"view_submission","view":{"state":{"values":{}}}}`,
		`{"type":"dialog_submission","state":"x"}`,
		`{"type":"shortcut"}`,
		`[]`, `null`, `{`,
	} {
		f.Add([]byte(url.Values{"payload": {p}}.Encode()))
	}
	f.Add([]byte("payload=%ZZ"))
	f.Add([]byte("token=x&payload="))
	f.Fuzz(func(t *testing.T, body []byte) {
		a, err := parseSlack(body)
		if err != nil {
			if a != (slackAction{}) {
				t.Errorf("error %v with an action %+v", err, a)
			}
			return
		}
		checkAction(t, a)
	})
}

// FuzzParsePagerDuty: whatever the body, parsing does not panic; an event
// it accepts has what the replay checks need, and a clean name.
func FuzzParsePagerDuty(f *testing.F) {
	at := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	f.Add([]byte(pdBody("01EVT", "incident.acknowledged", at, "0674f2d28-0123456789abcdef", "Alice Example")))
	f.Add([]byte(pdBody("01EVT", "incident.resolved", at, "", "\u2028\xff")))
	f.Add([]byte(`{"event":{"id":"e","event_type":"pagey.ping","occurred_at":"2026-11-28T09:00:00.123456789+09:00","agent":null,"data":{"type":"ping"}}}`))
	f.Add([]byte(`{"event":{"id":"e","event_type":"incident.resolved","occurred_at":"2026-11-28T09:00:00Z","data":{"type":"incident","incident_key":7}}}`))
	f.Add([]byte(`{"event":null}`))
	f.Add([]byte(`{"event":{"id":"","event_type":"","occurred_at":""}}`))
	f.Add([]byte(`{"event":{"id":"e","event_type":"t","occurred_at":"99999-01-01T00:00:00Z"}}`))
	f.Add([]byte(`[1,2]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := parsePagerDuty(body)
		if err != nil {
			if ev != (pdEvent{}) {
				t.Errorf("error %v with an event %+v", err, ev)
			}
			return
		}
		if ev.ID == "" || ev.Type == "" || ev.OccurredAt.IsZero() {
			t.Errorf("event accepted without id, type or time: %+v", ev)
		}
		checkBy(t, ev.By, "pagerduty")
	})
}

// FuzzVerifyPagerDuty: no header but one holding a v1 signature of the
// body with the secret verifies, and the right signature verifies
// wherever it stands among others.
func FuzzVerifyPagerDuty(f *testing.F) {
	f.Add("v1=00", []byte(`{}`), uint8(0))
	f.Add("v1=zz,v2=ab, v1=", []byte(`{"event":{}}`), uint8(1))
	f.Add(",,,", []byte{}, uint8(2))
	f.Fuzz(func(t *testing.T, header string, body []byte, pos uint8) {
		right := pdSign(string(body), pdSecret).Get("X-Pagerduty-Signature")
		if verifyPagerDuty(header, pdSecret, body) == nil && !strings.Contains(strings.ReplaceAll(strings.ToLower(header), " ", ""), right) {
			t.Errorf("header %q verified without the signature %s", header, right)
		}
		parts := strings.Split(header, ",")
		i := int(pos) % (len(parts) + 1)
		with := strings.Join(append(parts[:i:i], append([]string{right}, parts[i:]...)...), ",")
		if err := verifyPagerDuty(with, pdSecret, body); err != nil {
			t.Errorf("header %q with the right signature: %v", with, err)
		}
	})
}
