package incidents

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/period"
)

// FuzzIncidents feeds escalator's answer, outside input, to the decoder:
// it must never panic, and whatever it accepts must be a list Compute
// can work on and that survives a round trip through the JSON it names.
func FuzzIncidents(f *testing.F) {
	for _, seed := range []string{
		`[]`,
		`[{"id":"0692e0c00-0123456789abcdef","labels":{"alertname":"PostgresDown","severity":"critical","category":"database"},` +
			`"annotations":{"summary":"primary down"},"status":"resolved","openedAt":"2026-11-28T01:00:00Z",` +
			`"ackedAt":"2026-11-28T01:05:00+09:00","ackedBy":"api","resolvedAt":"2026-11-28T04:00:00.123456789Z","closedBy":"reconciler","automated":true}]`,
		`[{"id":"b","status":"open","openedAt":"0001-01-01T00:00:00Z"}, null]`,
		`[{"openedAt":"9999-12-31T23:59:59Z","resolvedAt":"0001-01-01T00:00:00Z"}]`,
		`{"error":"missing or wrong bearer token"}`,
		`[{"labels":null,"annotations":{"summary":"\u00e9\ud800"}}] x`,
	} {
		f.Add([]byte(seed))
	}
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		list, err := decode(strings.NewReader(string(body)))
		if err != nil {
			return
		}
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		for _, inc := range list {
			p, err := period.Containing("month", inc.OpenedAt, tokyo)
			if err != nil {
				t.Fatal(err)
			}
			f := Compute(list, p, inc.OpenedAt.Add(time.Hour))
			if f.Count < 1 || f.Resolved > f.Count || f.Automated > f.Resolved || f.MTTR < 0 || f.MTBF < 0 ||
				f.AutomationRate < 0 || f.AutomationRate > 1 {
				t.Fatalf("figures out of bounds for %q: %+v", body, f)
			}
		}
	})
}
