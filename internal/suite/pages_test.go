package suite

import "testing"

func TestAckURLFromJSON(t *testing.T) {
	body := `{"links":[{"href":"http://127.0.0.1:9096/ack?exp=1796256043\u0026id=06b0f5fa1\u0026sig=abc","text":"Acknowledge"}]}`
	if got, want := ackURL(body), "http://127.0.0.1:9096/ack?exp=1796256043&id=06b0f5fa1&sig=abc"; got != want {
		t.Errorf("ackURL = %q, want %q", got, want)
	}
	slack := `{"text":"<http://127.0.0.1:9096/ack?exp=1\u0026amp;id=06b\u0026amp;sig=abc|Acknowledge>"}`
	if got, want := ackURL(slack), "http://127.0.0.1:9096/ack?exp=1&id=06b&sig=abc"; got != want {
		t.Errorf("ackURL of a Slack link = %q, want %q", got, want)
	}
	if got := ackURL(`{"summary":"no link"}`); got != "" {
		t.Errorf("ackURL of a body without a link = %q", got)
	}
}
