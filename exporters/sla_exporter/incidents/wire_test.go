package incidents

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hotel-ops/hotel-ops/webhook/store"
)

// jsonNames is the JSON name of each field of a struct type.
func jsonNames(t reflect.Type) map[string]bool {
	out := map[string]bool{}
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out[name] = true
		}
	}
	return out
}

// The guard against escalator renaming a field: every name the decoder
// reads is one store.Incident writes, and an incident marshalled as
// escalator's API does decodes to the same facts, the automated flag
// included (the end-to-end test also sees it set by a real action).
func TestWireMatchesStore(t *testing.T) {
	have := jsonNames(reflect.TypeFor[store.Incident]())
	for name := range jsonNames(reflect.TypeFor[wireIncident]()) {
		if !have[name] {
			t.Errorf("the decoder reads %q, which store.Incident does not write", name)
		}
	}

	at := func(h int) time.Time { return time.Date(2026, 11, 28, h, 0, 0, 0, time.UTC) }
	full := store.Incident{
		ID: "0692e0c00-0123456789abcdef", Fingerprint: "fp", StartsAt: at(0), Policy: "critical",
		Labels:      map[string]string{"alertname": "PostgresDown", "severity": "critical", "category": "database", "instance": "db-1"},
		Annotations: map[string]string{"summary": "primary down", "description": "long text"},
		Status:      store.Resolved, OpenedAt: at(1), LastSeen: at(4), AckedAt: at(2), AckedBy: "hanako",
		ResolvedAt: at(4), ClosedBy: "taro", Automated: true, NextStep: 1, Notified: []string{"slack"},
	}
	bare := store.Incident{ID: "b", Status: store.Open, OpenedAt: at(5), Labels: map[string]string{"severity": "warning"}}
	b, err := json.Marshal([]store.Incident{full, bare})
	if err != nil {
		t.Fatal(err)
	}
	got, err := decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	want := []Incident{
		{ID: full.ID, Alertname: "PostgresDown", Severity: "critical", Category: "database", Summary: "primary down",
			Status: "resolved", OpenedAt: at(1), AckedAt: at(2), AckedBy: "hanako", ResolvedAt: at(4), ClosedBy: "taro", Automated: true},
		{ID: "b", Severity: "warning", Status: "open", OpenedAt: at(5)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded\n%+v\nwant\n%+v\nfrom %s", got, want, b)
	}
	// The zero times escalator omits read as zero: never acknowledged,
	// not resolved.
	if !got[1].AckedAt.IsZero() || !got[1].ResolvedAt.IsZero() || got[1].Automated {
		t.Errorf("the bare incident read as %+v", got[1])
	}
}

// What the decoder refuses: anything but one JSON array of objects.
func TestDecodeRefusesMalformedAnswers(t *testing.T) {
	for _, body := range []string{
		``, `null`, `{}`, `{"error":"store unavailable"}`, `[`, `[{"id":"a"}`, `[{"id":"a"}] [`, `[] {}`,
		`[{"openedAt":"yesterday"}]`, `[{"labels":{"severity":1}}]`, `["a"]`,
	} {
		if list, err := decode(strings.NewReader(body)); err == nil {
			t.Errorf("%q decoded as %+v, want an error", body, list)
		}
	}
	for _, body := range []string{`[]`, " [ ] \n", `[{"id":"a","unknown":{"x":[1]}}]`} {
		if _, err := decode(strings.NewReader(body)); err != nil {
			t.Errorf("%q: %v", body, err)
		}
	}
}
