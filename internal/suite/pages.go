package suite

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Page is one notification a recorder received, as a person would read
// it: on which channel, when, about which of the spec's alerts, and
// whether it says they fire or are resolved.
type Page struct {
	At      time.Time
	Channel string // pagerduty, slack, or the spec channel an e-mail went to: email, dba, security_team, manager
	Resolve bool
	Alerts  []string // the spec's alert names it mentions
	Summary string   // PagerDuty's summary or the e-mail subject; "" for Slack
	AckURL  string   // escalator's acknowledgement link, when it has one
	Body    string
}

func (p Page) String() string {
	ev := "trigger"
	if p.Resolve {
		ev = "resolve"
	}
	return fmt.Sprintf("%s %s %s %v", p.At.Format("15:04:05.000"), p.Channel, ev, p.Alerts)
}

// reader turns recorded requests and mails into pages.
type reader struct {
	once    sync.Once
	names   *regexp.Regexp
	mailbox map[string]string // e-mail address → channel
}

var ackLink = regexp.MustCompile(`https?://[^\s"'<>|\\]*/ack\?[^\s"'<>|\\]*`)

// ackURL finds escalator's acknowledgement link in a JSON body, whose
// encoder writes & as \u0026; Slack's mrkdwn writes it as &amp; in
// <url|text>.
func ackURL(body string) string {
	u := ackLink.FindString(strings.ReplaceAll(body, `\u0026`, "&"))
	return strings.ReplaceAll(u, "&amp;", "&")
}

func (s *Suite) init() {
	s.pages.once.Do(func() {
		var quoted []string
		for _, a := range s.Spec.AlertNames() {
			quoted = append(quoted, regexp.QuoteMeta(a))
		}
		// Longest first, so that no alert name hides a longer one.
		sort.Slice(quoted, func(i, j int) bool { return len(quoted[i]) > len(quoted[j]) })
		s.pages.names = regexp.MustCompile(`\b(` + strings.Join(quoted, "|") + `)\b`)
		s.pages.mailbox = map[string]string{}
		for name, ch := range s.Spec.Channels {
			for _, addr := range ch.Email {
				s.pages.mailbox[addr] = name
			}
		}
	})
}

func (s *Suite) mentions(body string) []string {
	var out []string
	for _, m := range s.pages.names.FindAllString(body, -1) {
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	sort.Strings(out)
	return out
}

// Pages is every page received so far, in time order.
func (s *Suite) Pages() []Page {
	s.init()
	var out []Page
	// A resolve names only its dedup_key: it is about what the trigger
	// with that key was about.
	byKey := map[string][]string{}
	for _, r := range s.PagerDuty.Requests() {
		var ev struct {
			DedupKey    string `json:"dedup_key"`
			EventAction string `json:"event_action"`
			Payload     struct {
				Summary string `json:"summary"`
			} `json:"payload"`
		}
		_ = json.Unmarshal(r.Body, &ev)
		b := string(r.Body)
		alerts := s.mentions(b)
		if len(alerts) > 0 && ev.DedupKey != "" {
			byKey[ev.DedupKey] = alerts
		} else if len(alerts) == 0 {
			alerts = byKey[ev.DedupKey]
		}
		out = append(out, Page{At: r.Time, Channel: "pagerduty", Resolve: ev.EventAction == "resolve", Alerts: alerts,
			Summary: ev.Payload.Summary, AckURL: ackURL(b), Body: b})
	}
	for _, r := range s.Slack.Requests() {
		b := string(r.Body)
		resolved := strings.Contains(b, "RESOLVED") || strings.Contains(b, "Resolved") || strings.Contains(b, "resolved")
		out = append(out, Page{At: r.Time, Channel: "slack", Resolve: resolved, Alerts: s.mentions(b), AckURL: ackURL(b), Body: b})
	}
	for _, m := range s.Mail.Messages() {
		b := string(m.Data)
		resolved := strings.Contains(m.Subject, "RESOLVED") || strings.Contains(strings.ToLower(m.Subject), "resolve")
		for _, to := range m.To {
			ch := s.pages.mailbox[strings.Trim(to, "<>")]
			if ch == "" {
				ch = "email:" + to
			}
			out = append(out, Page{At: m.Time, Channel: ch, Resolve: resolved, Alerts: s.mentions(m.Subject + "\n" + b),
				Summary: m.Subject, Body: b}) // the body is quoted-printable: its link is not read here
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}

// WaitPage waits for a page on channel that mentions alert, arrived at or
// after since, resolving or not.
func (s *Suite) WaitPage(ctx context.Context, channel, alert string, since time.Time, resolve bool) (Page, error) {
	for {
		for _, p := range s.Pages() {
			if p.Channel == channel && p.Resolve == resolve && !p.At.Before(since) && slices.Contains(p.Alerts, alert) {
				return p, nil
			}
		}
		select {
		case <-ctx.Done():
			return Page{}, fmt.Errorf("no %s page about %s since %s (resolve=%v): %w", channel, alert, since.Format("15:04:05"), resolve, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}
