package callback

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hotel-ops/hotel-ops/webhook/store"
)

// PagerDuty receives the events of a PagerDuty webhook (v3) subscription:
// an incident acknowledged or resolved in PagerDuty is acknowledged or
// resolved in escalator. The subscription's URL is
// <external_url>/callbacks/pagerduty.
//
// escalator sends its incident id as the Events API dedup_key, which
// PagerDuty gives back as the incident's incident_key: that is how an event
// finds its incident. Incidents of other integrations on the same service
// are unknown to escalator and ignored.
//
// PagerDuty signs each request: X-PagerDuty-Signature holds one v1=<hex
// HMAC-SHA256 of the body> per secret of the subscription (several while a
// secret is rotated); one must match. Replays are refused twice over: an
// event that occurred more than MaxAge from now (the signature does not
// cover a delivery time, only the event's occurred_at), and an event id
// handled already within that window, which is also what a PagerDuty retry
// of a delivery whose answer was lost looks like, so it gets 200.
type PagerDuty struct {
	Secret   string
	Acker    Acker
	Resolver Resolver // nil: incident.resolved is ignored
	Logger   *slog.Logger
	MaxBody  int64         // default DefaultMaxBody
	Timeout  time.Duration // default DefaultTimeout
	// MaxAge bounds how far an event's occurred_at may be from now
	// (default DefaultMaxAge), either way (clock skew).
	MaxAge time.Duration
	Now    func() time.Time // default time.Now

	seen seenEvents
}

// DefaultMaxAge is how old a PagerDuty event may be. PagerDuty delivers
// within seconds and retries a failed delivery for a few minutes; an event
// later than that is refused, and the page goes on escalating: the safe
// side, since refusing a resolve never hides an alert.
const DefaultMaxAge = 10 * time.Minute

// The PagerDuty event types escalator acts on; it answers 200 to the others.
const (
	pdAcknowledged = "incident.acknowledged"
	pdResolved     = "incident.resolved"
)

func (h *PagerDuty) now() time.Time {
	if h.Now == nil {
		return time.Now()
	}
	return h.Now()
}

func (h *PagerDuty) maxAge() time.Duration {
	if h.MaxAge <= 0 {
		return DefaultMaxAge
	}
	return h.MaxAge
}

func (h *PagerDuty) logger() *slog.Logger { return orDiscard(h.Logger) }

func (h *PagerDuty) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, ok := signedBody(w, r, h.MaxBody, h.logger(), "PagerDuty", func(header http.Header, body []byte) error {
		return verifyPagerDuty(header.Get("X-PagerDuty-Signature"), h.Secret, body)
	})
	if !ok {
		return
	}
	ev, err := parsePagerDuty(body)
	if err != nil {
		h.logger().Warn("PagerDuty callback unreadable", "err", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	now := h.now()
	if d := now.Sub(ev.OccurredAt).Abs(); d > h.maxAge() {
		h.logger().Warn("PagerDuty callback refused: stale event", "event", ev.ID, "occurred_at", ev.OccurredAt, "max_age", h.maxAge())
		http.Error(w, "event occurred too far from now", http.StatusUnauthorized)
		return
	}
	if h.seen.has(ev.ID, now) {
		h.logger().Info("PagerDuty event received again", "event", ev.ID, "type", ev.Type)
		w.WriteHeader(http.StatusOK)
		return
	}
	if err := h.apply(r.Context(), ev); err != nil {
		h.logger().Error("PagerDuty event", "event", ev.ID, "type", ev.Type, "incident", ev.Incident, "err", err)
		// PagerDuty delivers it again.
		http.Error(w, "store unavailable; retry", http.StatusServiceUnavailable)
		return
	}
	// Only once done: a delivery answered 503 must pass when it comes again.
	h.seen.add(ev.ID, ev.OccurredAt.Add(h.maxAge()), now)
	w.WriteHeader(http.StatusOK)
}

// apply acts on ev; an event it has nothing to do with, or whose incident
// escalator does not know, is no error.
func (h *PagerDuty) apply(ctx context.Context, ev pdEvent) error {
	var change func(ctx context.Context, id, by string) (*store.Incident, error)
	switch {
	case ev.Type == pdAcknowledged:
		change = h.Acker.Ack
	case ev.Type == pdResolved && h.Resolver != nil:
		change = h.Resolver.Resolve
	case ev.Type == pdResolved:
		h.logger().Warn("PagerDuty resolve ignored: this escalator cannot resolve by hand", "event", ev.ID, "incident", ev.Incident)
		return nil
	default:
		return nil
	}
	if !plausibleID(ev.Incident) {
		h.logger().Info("PagerDuty event for an incident escalator did not open", "event", ev.ID, "type", ev.Type)
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout(h.Timeout))
	defer cancel()
	_, err := change(ctx, ev.Incident, ev.By)
	if errors.Is(err, store.ErrNotFound) {
		h.logger().Info("PagerDuty event for an unknown incident", "event", ev.ID, "type", ev.Type, "incident", ev.Incident)
		return nil
	}
	if err != nil {
		return err
	}
	h.logger().Info("Changed from PagerDuty", "type", ev.Type, "incident", ev.Incident, "by", ev.By)
	return nil
}

// verifyPagerDuty checks the signature header against body. It is written
// here rather than taken from PagerDuty's Go client, whose webhookv3
// package does the same in as many lines but cuts an oversize body
// silently (a 401 instead of a 413) and would bring the whole API client's
// dependencies.
func verifyPagerDuty(header, secret string, body []byte) error {
	if header == "" {
		return errors.New("pagerduty signature: no X-PagerDuty-Signature header")
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	want := mac.Sum(nil)
	var found bool
	for _, s := range strings.Split(header, ",") {
		hexSig, ok := strings.CutPrefix(strings.TrimSpace(s), "v1=")
		if !ok {
			continue // a later version: not one this code can check
		}
		got, err := hex.DecodeString(hexSig)
		if err != nil {
			continue
		}
		found = true
		// hmac.Equal takes the same time wherever the first difference
		// is: the answer's timing tells nothing of the right signature.
		if hmac.Equal(got, want) {
			return nil
		}
	}
	if !found {
		return errors.New("pagerduty signature: no v1 signature in X-PagerDuty-Signature")
	}
	return errors.New("pagerduty signature: no signature matches")
}

// pdEvent is what escalator reads of a PagerDuty webhook event.
type pdEvent struct {
	ID         string
	Type       string // event_type
	OccurredAt time.Time
	Incident   string // escalator's incident id (the incident_key); "" when not an incident event
	By         string // "pagerduty:<agent>"
}

// pdPayload is the JSON of a webhook v3 delivery, what escalator reads of it.
type pdPayload struct {
	Event *struct {
		ID         string `json:"id"`
		EventType  string `json:"event_type"`
		OccurredAt string `json:"occurred_at"`
		Agent      *struct {
			ID      string `json:"id"`
			Summary string `json:"summary"`
		} `json:"agent"`
		Data *struct {
			Type        string `json:"type"`
			IncidentKey string `json:"incident_key"`
		} `json:"data"`
	} `json:"event"`
}

// parsePagerDuty reads a delivery. It needs the event's id, type and
// occurred_at (for the replay checks); the incident is read only from
// incident data.
func parsePagerDuty(body []byte) (pdEvent, error) {
	var p pdPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return pdEvent{}, fmt.Errorf("not a PagerDuty webhook event: %w", err)
	}
	e := p.Event
	if e == nil {
		return pdEvent{}, errors.New("no event")
	}
	var missing []string
	if e.ID == "" {
		missing = append(missing, "event.id")
	}
	if e.EventType == "" {
		missing = append(missing, "event.event_type")
	}
	if e.OccurredAt == "" {
		missing = append(missing, "event.occurred_at")
	}
	if len(missing) > 0 {
		return pdEvent{}, fmt.Errorf("missing %s", strings.Join(missing, ", "))
	}
	at, err := time.Parse(time.RFC3339Nano, e.OccurredAt)
	if err != nil {
		return pdEvent{}, errors.New("event.occurred_at: not an RFC 3339 time")
	}
	ev := pdEvent{ID: e.ID, Type: e.EventType, OccurredAt: at, By: "pagerduty"}
	if e.Agent != nil {
		ev.By = who("pagerduty", e.Agent.Summary, e.Agent.ID)
	}
	if e.Data != nil && e.Data.Type == "incident" {
		ev.Incident = e.Data.IncidentKey
	}
	return ev, nil
}

// seenEvents remembers the event ids handled, each until the time past
// which the age check refuses its event anyway; so it holds at most the
// events of 2·MaxAge. What it stops is a delivery played again within
// MaxAge: a resolve closing again an incident reopened since, say. It
// lives in memory: another replica, or this one after a restart, would
// take the copy, a gap the age check bounds to MaxAge.
type seenEvents struct {
	mu        sync.Mutex
	until     map[string]time.Time
	lastSweep time.Time
}

func (s *seenEvents) has(id string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.until[id]
	return ok && now.Before(t)
}

func (s *seenEvents) add(id string, until, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.until == nil {
		s.until = map[string]time.Time{}
	}
	// A sweep a minute at most: the map is small (the events of a few
	// minutes), and a sweep is a pass over it.
	if now.Sub(s.lastSweep) >= time.Minute {
		for k, t := range s.until {
			if !now.Before(t) {
				delete(s.until, k)
			}
		}
		s.lastSweep = now
	}
	s.until[id] = until
}
