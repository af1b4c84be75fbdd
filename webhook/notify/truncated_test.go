package notify

import (
	"encoding/json"
	"strings"
	"testing"
)

// Alerts Alertmanager left out of the delivery (max_alerts) are said in
// every channel, and nothing is said when there are none.
func TestTruncatedInEveryChannel(t *testing.T) {
	const note = "Alertmanager left out 12 more alerts of this group (max_alerts)"
	for _, n := range []int{12, 0} {
		m := hostileMessage()
		m.Truncated = n

		slackRec := newRecorder(t, nil)
		r := sendOne(t, slackRec, "s", ChannelConfig{Type: "slack", WebhookURLFile: writeSecret(t, slackRec.srv.URL+"/services/x")}, m)
		if got := strings.Contains(string(r.Body), note); got != (n > 0) {
			t.Errorf("slack, %d left out: note shown %v\n%s", n, got, r.Body)
		}

		if got := strings.Contains(emailBody(m), note+"."); got != (n > 0) {
			t.Errorf("email, %d left out: note shown %v\n%s", n, got, emailBody(m))
		}

		pdRec := newRecorder(t, nil)
		r = sendOne(t, pdRec, "pd", ChannelConfig{Type: "pagerduty", RoutingKeyFile: writeSecret(t, "k"), URL: pdRec.srv.URL}, m)
		var pd struct {
			Payload struct {
				CustomDetails map[string]any `json:"custom_details"`
			} `json:"payload"`
		}
		if err := json.Unmarshal(r.Body, &pd); err != nil {
			t.Fatal(err)
		}
		if got, ok := pd.Payload.CustomDetails["truncated_alerts"]; ok != (n > 0) || (ok && got != float64(n)) {
			t.Errorf("pagerduty, %d left out: custom_details %v", n, pd.Payload.CustomDetails)
		}

		hookRec := newRecorder(t, nil)
		r = sendOne(t, hookRec, "hook", ChannelConfig{Type: "webhook", URL: hookRec.srv.URL}, m)
		var hook map[string]any
		if err := json.Unmarshal(r.Body, &hook); err != nil {
			t.Fatal(err)
		}
		if got, ok := hook["truncated_alerts"]; ok != (n > 0) || (ok && got != float64(n)) {
			t.Errorf("webhook, %d left out: %v", n, hook)
		}
	}
	if got := truncatedNote(1); got != "Alertmanager left out 1 more alert of this group (max_alerts)" {
		t.Errorf("one: %q", got)
	}
}
