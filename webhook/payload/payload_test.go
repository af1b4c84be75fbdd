package payload

import (
	"errors"
	"strings"
	"testing"
)

const good = `{"version":"4","groupKey":"{}:{alertname=\"PostgresDown\"}","status":"firing","receiver":"escalator","externalURL":"http://am-1:9093",
"groupLabels":{},"commonLabels":{},"commonAnnotations":{},
"alerts":[{"status":"firing","labels":{"alertname":"PostgresDown","severity":"critical","instance":"db-1"},"annotations":{"summary":"down"},
"startsAt":"2026-11-28T01:02:03.123Z","endsAt":"0001-01-01T00:00:00Z","fingerprint":"a1b2c3"}]}`

func TestParseAndHash(t *testing.T) {
	d, err := Parse(strings.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	if d.Alerts[0].Labels["alertname"] != "PostgresDown" || d.Alerts[0].Resolved() {
		t.Fatalf("%+v", d)
	}
	// The other Alertmanager peer: another externalURL and receiver name.
	peer := strings.Replace(strings.Replace(good, "am-1", "am-2", 1), `"receiver":"escalator"`, `"receiver":"escalator-b"`, 1)
	p, err := Parse(strings.NewReader(peer))
	if err != nil || p.Hash != d.Hash {
		t.Errorf("peer delivery hash %v %v differs from %v", p, err, d.Hash)
	}
	resolved, _ := Parse(strings.NewReader(strings.ReplaceAll(good, `"status":"firing"`, `"status":"resolved"`)))
	if resolved.Hash == d.Hash {
		t.Error("resolved delivery has the firing one's hash")
	}
	if IncidentID("a1b2c3", d.Alerts[0].StartsAt) == IncidentID("a1b2c3", d.Alerts[0].StartsAt.Add(1)) {
		t.Error("a new occurrence has the same incident id")
	}
}

func TestBadPayloadsNameTheProblem(t *testing.T) {
	for in, want := range map[string]string{
		`{"version":"4",`:                      "malformed JSON",
		`[]`:                                   "field",
		strings.Replace(good, `"4"`, `"3"`, 1): `version "3"`,
		strings.Replace(good, `"groupKey":"{}:{alertname=\"PostgresDown\"}",`, ``, 1):         "groupKey: missing",
		strings.Replace(good, `"fingerprint":"a1b2c3"`, `"fingerprint":""`, 1):                "alerts[0].fingerprint",
		strings.Replace(good, `"status":"firing","labels"`, `"status":"burning","labels"`, 1): "alerts[0].status",
		strings.Replace(good, `"startsAt":"2026-11-28T01:02:03.123Z",`, ``, 1):                "alerts[0].startsAt",
		good + `{}`: "data after",
	} {
		_, err := Parse(strings.NewReader(in))
		var pe *Error
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), want) {
			t.Errorf("%.60q: %v, want a payload error with %q", in, err, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(good)
	f.Add(`{"version":"4","groupKey":"x","alerts":[]}`)
	f.Fuzz(func(t *testing.T, in string) {
		d, err := Parse(strings.NewReader(in))
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("not a payload error: %v", err)
			}
			return
		}
		if d.Hash == "" || len(d.Alerts) == 0 || d.GroupKey == "" {
			t.Fatalf("accepted an incomplete delivery: %+v", d)
		}
	})
}
