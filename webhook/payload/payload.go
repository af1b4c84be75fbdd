// Package payload reads Alertmanager webhook deliveries (version 4) and
// names what makes one unusable, so a bad sender gets a 4xx that says why
// and nothing is stored.
package payload

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/notify/webhook"
	"github.com/prometheus/alertmanager/template"
)

// Version is the webhook payload version Alertmanager sends.
const Version = "4"

// Delivery is a parsed, checked webhook payload.
type Delivery struct {
	GroupKey string
	Receiver string
	Alerts   []Alert
	// Truncated is how many alerts of the group Alertmanager left out
	// (truncatedAlerts: the receiver's max_alerts was reached).
	Truncated int
	// Hash identifies the delivery across Alertmanager peers and repeats:
	// the group key and each alert's fingerprint, status and start. The
	// receiver and external URL are left out: two peers of an HA pair
	// send the same group with different external URLs.
	Hash string
}

// Alert is one alert of a delivery.
type Alert struct {
	Status       string // firing | resolved
	Fingerprint  string
	StartsAt     time.Time
	EndsAt       time.Time
	Labels       map[string]string
	Annotations  map[string]string
	GeneratorURL string
}

// Resolved reports a resolved notification.
func (a Alert) Resolved() bool { return a.Status == "resolved" }

// Error is a problem with the payload itself: the sender must not retry.
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

func bad(format string, args ...any) error { return &Error{Msg: fmt.Sprintf(format, args...)} }

// Parse reads and checks a delivery.
func Parse(r io.Reader) (*Delivery, error) {
	body, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading body: %w", err)
	}
	var m webhook.Message
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&m); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return nil, bad("malformed JSON at byte %d: %v", se.Offset, err)
		case errors.As(err, &te):
			return nil, bad("field %s: expected %s, got %s", te.Field, te.Type, te.Value)
		}
		return nil, bad("malformed JSON: %v", err)
	}
	if dec.More() {
		return nil, bad("malformed JSON: data after the payload")
	}
	if m.Data == nil {
		return nil, bad("not an Alertmanager webhook payload")
	}
	if m.Version != Version {
		return nil, bad("version %q: only version %s is understood", m.Version, Version)
	}
	if m.GroupKey == "" {
		return nil, bad("groupKey: missing")
	}
	if len(m.Alerts) == 0 {
		return nil, bad("alerts: empty")
	}
	d := &Delivery{GroupKey: clean(m.GroupKey), Receiver: clean(m.Receiver), Truncated: int(min(m.TruncatedAlerts, 1<<31-1))}
	for i, a := range m.Alerts {
		if err := check(i, a); err != nil {
			return nil, err
		}
		d.Alerts = append(d.Alerts, Alert{
			Status: a.Status, Fingerprint: clean(a.Fingerprint), StartsAt: a.StartsAt.UTC(), EndsAt: a.EndsAt.UTC(),
			Labels: copyKV(a.Labels), Annotations: copyKV(a.Annotations), GeneratorURL: clean(a.GeneratorURL),
		})
	}
	d.Hash = hash(d)
	return d, nil
}

func check(i int, a template.Alert) error {
	switch {
	case a.Status != "firing" && a.Status != "resolved":
		return bad("alerts[%d].status: %q is neither firing nor resolved", i, a.Status)
	case a.Fingerprint == "":
		return bad("alerts[%d].fingerprint: missing", i)
	case a.StartsAt.IsZero():
		return bad("alerts[%d].startsAt: missing", i)
	case len(a.Labels) == 0:
		return bad("alerts[%d].labels: missing", i)
	}
	return nil
}

func copyKV(kv template.KV) map[string]string {
	out := make(map[string]string, len(kv))
	for k, v := range kv {
		out[clean(k)] = clean(v)
	}
	return out
}

// clean replaces NUL characters, which JSON and Alertmanager allow in a
// label but PostgreSQL stores in neither text nor jsonb, with U+FFFD.
// Refusing such a delivery would lose the alert; passing it on would make
// the PostgreSQL store refuse it for ever (503, retried by Alertmanager).
// The same replacement in every store keeps them alike. The decoder has
// already replaced invalid UTF-8 the same way.
func clean(s string) string {
	if strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}

func hash(d *Delivery) string {
	parts := make([]string, 0, len(d.Alerts))
	for _, a := range d.Alerts {
		parts = append(parts, a.Fingerprint+"\x00"+a.Status+"\x00"+a.StartsAt.Format(time.RFC3339Nano))
	}
	sort.Strings(parts)
	h := sha256.New()
	h.Write([]byte(d.GroupKey))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// IncidentID names one alert occurrence: its fingerprint and start. It
// begins with the start (hex Unix seconds) so that IDs sort by time: the
// embedded store then adds new incidents at the end of its tree instead of
// rewriting pages all over it. The rest is a hash, safe in a URL whatever
// the sender put in the fingerprint.
func IncidentID(fingerprint string, startsAt time.Time) string {
	h := sha256.Sum256([]byte(fingerprint + "\x00" + startsAt.UTC().Format(time.RFC3339Nano)))
	// A start before 1970 (a sender's broken clock) counts as 1970: the
	// hash keeps the ID unique, and the prefix never wraps.
	return fmt.Sprintf("%09x-%s", uint64(max(startsAt.Unix(), 0)), hex.EncodeToString(h[:8]))
}
