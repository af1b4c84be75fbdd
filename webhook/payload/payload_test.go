package payload

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/notify/webhook"
	"github.com/prometheus/alertmanager/template"
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

// A NUL, which PostgreSQL cannot store, becomes U+FFFD wherever the
// delivery keeps text; the alert is kept, not refused.
func TestNULReplaced(t *testing.T) {
	d, err := Parse(strings.NewReader(`{"version":"4","groupKey":"g\u0000","receiver":"r\u0000","alerts":[{"status":"firing",
		"labels":{"alertname":"A","k\u0000":"v\u0000"},"annotations":{"summary":"s\u0000"},"generatorURL":"u\u0000",
		"startsAt":"2026-11-28T00:00:00Z","fingerprint":"f\u0000"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	a := d.Alerts[0]
	if hasNUL(d) || d.GroupKey != "g\uFFFD" || d.Receiver != "r\uFFFD" || a.Labels["k\uFFFD"] != "v\uFFFD" || a.Annotations["summary"] != "s\uFFFD" ||
		a.GeneratorURL != "u\uFFFD" || a.Fingerprint != "f\uFFFD" {
		t.Errorf("NULs not replaced: %#v", d)
	}
}

// hasNUL reports a NUL in any text the delivery keeps.
func hasNUL(d *Delivery) bool {
	texts := []string{d.GroupKey, d.Receiver}
	for _, a := range d.Alerts {
		texts = append(texts, a.Fingerprint, a.GeneratorURL)
		for _, kv := range []map[string]string{a.Labels, a.Annotations} {
			for k, v := range kv {
				texts = append(texts, k, v)
			}
		}
	}
	return strings.Contains(strings.Join(texts, ""), "\x00")
}

func FuzzParse(f *testing.F) {
	f.Add(`{"version":"4","groupKey":"g\u0000","alerts":[{"status":"firing","labels":{"a\u0000":"\u0000"},"startsAt":"2026-11-28T00:00:00Z","fingerprint":"f"}]}`)
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
		if hasNUL(d) {
			t.Fatalf("a NUL left in %#v", d)
		}
	})
}

// truncatedAlerts (Alertmanager 0.26 and later) is read; an ID's start
// before 1970 does not wrap.
func TestTruncatedAndEarlyStarts(t *testing.T) {
	d, err := Parse(strings.NewReader(strings.Replace(good, `"receiver"`, `"truncatedAlerts":12,"receiver"`, 1)))
	if err != nil || d.Truncated != 12 {
		t.Fatalf("truncated: %+v %v", d, err)
	}
	if d, _ := Parse(strings.NewReader(good)); d.Truncated != 0 {
		t.Errorf("without the field: %d", d.Truncated)
	}
	early := IncidentID("f", time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC))
	if !strings.HasPrefix(early, "000000000-") || early == IncidentID("f", time.Date(1969, 12, 30, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("early start: %s", early)
	}
}

// stormPayload is a delivery as Alertmanager sends one in a storm: n
// alerts of one group, with the group's common labels and annotations.
func stormPayload(n int) string {
	var b strings.Builder
	b.WriteString(`{"version":"4","groupKey":"{}/{severity=~\"critical|warning\"}:{alertname=\"StormFault\", fault=\"f-1\"}","truncatedAlerts":0,"status":"firing","receiver":"escalator","externalURL":"http://am-1:9093",
"groupLabels":{"alertname":"StormFault","fault":"f-1"},"commonLabels":{"alertname":"StormFault","fault":"f-1","job":"node","severity":"warning"},"commonAnnotations":{"description":"storm fault f-1"},"alerts":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"status":"firing","labels":{"alertname":"StormFault","fault":"f-1","instance":"host-1-%d:9100","job":"node","severity":"warning"},"annotations":{"summary":"host-1-%d:9100 is down","description":"storm fault f-1"},"startsAt":"2026-11-28T01:02:03.123Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus:9090/graph?g0.expr=up+%%3D%%3D+0","fingerprint":"%016x"}`, i, i, i)
	}
	b.WriteString(`]}`)
	return b.String()
}

// BenchmarkParse: the handler's share of a storm's delivery of 13 alerts.
func BenchmarkParse(b *testing.B) {
	body := stormPayload(13)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := Parse(strings.NewReader(body)); err != nil {
			b.Fatal(err)
		}
	}
}

// The fields escalator reads are where Alertmanager's own type puts them:
// a message encoded from webhook.Message reads back whole.
func TestMessageMatchesAlertmanager(t *testing.T) {
	starts := time.Date(2026, 11, 28, 1, 2, 3, 123e6, time.UTC)
	m := webhook.Message{
		Version: "4", GroupKey: "{}:{alertname=\"X\"}", TruncatedAlerts: 7,
		Data: &template.Data{Receiver: "escalator", Status: "firing", ExternalURL: "http://am:9093",
			GroupLabels: template.KV{"alertname": "X"}, CommonLabels: template.KV{"alertname": "X"},
			Alerts: template.Alerts{{Status: "resolved", Labels: template.KV{"alertname": "X", "severity": "critical"},
				Annotations: template.KV{"summary": "s"}, StartsAt: starts, EndsAt: starts.Add(time.Minute),
				GeneratorURL: "http://prom/graph", Fingerprint: "0123456789abcdef"}}},
	}
	body, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Parse(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	want := Alert{Status: "resolved", Fingerprint: "0123456789abcdef", StartsAt: starts, EndsAt: starts.Add(time.Minute),
		Labels: map[string]string{"alertname": "X", "severity": "critical"}, Annotations: map[string]string{"summary": "s"},
		GeneratorURL: "http://prom/graph"}
	if d.GroupKey != m.GroupKey || d.Receiver != "escalator" || d.Truncated != 7 || len(d.Alerts) != 1 || !reflect.DeepEqual(d.Alerts[0], want) {
		t.Errorf("read back %+v, want %+v in it", d, want)
	}
}
