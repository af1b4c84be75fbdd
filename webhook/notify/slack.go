package notify

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// slack posts to a Slack incoming webhook. The webhook URL is the whole
// credential (anyone holding it can post to the channel), hence a secret.
type slack struct {
	http *httpSender
	url  string
}

func newSlack(name string, c slackConfig, client *http.Client, timeout time.Duration) (Notifier, error) {
	u, err := readSecret(c.WebhookURLFile, c.WebhookURLEnv)
	if err != nil {
		return nil, fmt.Errorf("notify %s: webhook URL: %w", name, err)
	}
	if msg := checkHTTPURL(u); msg != "" {
		return nil, fmt.Errorf("notify %s: webhook URL from %s: %s", name, secretSource(c.WebhookURLFile, c.WebhookURLEnv), msg)
	}
	return &slack{http: newHTTPSender(name, client, timeout, urlSecrets(u)...), url: u}, nil
}

// urlSecrets lists the parts of a secret URL that an error could show on
// their own: the whole URL, its path and query, and its last path segment
// (the token of a Slack webhook URL, which Slack may echo when it refuses).
func urlSecrets(raw string) []string {
	out := []string{raw}
	u, err := url.Parse(raw)
	if err != nil {
		return out
	}
	if p := strings.Trim(u.Path, "/"); p != "" {
		out = append(out, p)
		// Short segments are words ("hooks", "v1"), not tokens: redacting
		// them would only garble errors.
		if last := p[strings.LastIndexByte(p, '/')+1:]; len(last) >= 8 {
			out = append(out, last)
		}
	}
	if u.RawQuery != "" {
		out = append(out, u.RawQuery)
	}
	if pw, ok := u.User.Password(); ok && pw != "" {
		out = append(out, pw)
	}
	return out
}

// secretSource names where a secret came from, for errors about its value.
func secretSource(file, env string) string {
	if file != "" {
		return "file " + file
	}
	return "environment variable " + env
}

// Slack's limits (Block Kit reference): a section's text and a field are
// capped, a message has at most 50 blocks and a section 10 fields. Going over
// gets the whole message refused with a 400, so text is cut here instead.
const (
	slackSectionMax = 3000
	// A field holds 2000 characters; escaping can grow a rune to five.
	slackFieldRunes = 300
	slackURLMax     = 3000
	slackTitleMax   = 300
	slackLabelRunes = 200 // one label value, before escaping
)

type slackPayload struct {
	// Text is what notifications and clients without blocks show.
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks,omitempty"`
}

type slackBlock struct {
	Type     string         `json:"type"`
	BlockID  string         `json:"block_id,omitempty"`
	Text     *slackText     `json:"text,omitempty"`
	Fields   []slackText    `json:"fields,omitempty"`
	Elements []slackElement `json:"elements,omitempty"`
}

type slackText struct {
	Type string `json:"type"` // mrkdwn | plain_text
	Text string `json:"text"`
}

type slackElement struct {
	Type     string    `json:"type"` // button
	Text     slackText `json:"text"`
	URL      string    `json:"url"`
	ActionID string    `json:"action_id"`
	// Value comes back in the interaction payload Slack posts when the
	// button is clicked (when the app has interactivity on): the ack
	// button's is the incident id, for escalator's /callbacks/slack.
	Value string `json:"value,omitempty"`
	Style string `json:"style,omitempty"`
}

// Block and action ids the Slack callback (package callback) looks for in
// an interaction payload.
const (
	SlackActionsBlock = "escalator"
	SlackAckAction    = "ack"
	// SlackApproveAction is an Approve button's action ID; its value is
	// "<incident> <action>".
	SlackApproveAction = "approve"
)

// slackValueMax is Slack's limit on a button's value.
const slackValueMax = 2000

// slackEscape escapes the three characters Slack's mrkdwn treats as control
// sequences. Without it a label value such as "<!channel>" would notify the
// whole channel and "<https://evil|Acknowledge>" would be a working link.
// JSON encoding is separate and done by encoding/json.
var slackEscape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace

// slackLink builds <url|text>. A "|" in the URL would end the URL early, so
// it is percent-encoded; & < > are entity-escaped, which Slack undoes.
func slackLink(u, text string) string {
	return "<" + slackEscape(strings.ReplaceAll(u, "|", "%7C")) + "|" + slackEscape(text) + ">"
}

func mrkdwn(s string) *slackText { return &slackText{Type: "mrkdwn", Text: s} }

// title is the one-line headline shared by Slack and email. A Report's is
// its summary alone: it has no severity and nothing happened to it.
func title(m Message) string {
	if m.Event == Report {
		summary := strings.TrimSpace(m.Summary)
		if summary == "" {
			// checkMessage refuses this; render and payload do not.
			summary = strings.TrimSpace("report " + m.Incident)
		}
		return oneLine(summary)
	}
	var prefix string
	switch m.Event {
	case Acknowledge:
		prefix = "Acknowledged: "
	case Resolve:
		prefix = "Resolved: "
	}
	sev := strings.ToUpper(strings.TrimSpace(m.Severity))
	if sev == "" {
		sev = "ALERT"
	}
	summary := strings.TrimSpace(m.Summary)
	if summary == "" {
		summary = "incident " + m.Incident
	}
	return oneLine(prefix + "[" + sev + "] " + summary)
}

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

func (s *slack) payload(m Message) slackPayload {
	if m.Event == Report {
		return reportPayload(m)
	}
	head := slackEscape(truncate(title(m), slackTitleMax))

	text := head
	if m.AckURL != "" {
		text += " " + slackLink(m.AckURL, "Acknowledge")
	}

	blocks := []slackBlock{{Type: "section", Text: mrkdwn("*" + head + "*")}}

	field := func(name, value string) slackText {
		return slackText{Type: "mrkdwn", Text: "*" + name + "*\n" + slackEscape(truncate(oneLine(value), slackFieldRunes))}
	}
	fields := []slackText{
		field("Severity", m.Severity),
		field("Incident", m.Incident),
		field("Policy", m.Policy+" (step "+strconv.Itoa(m.Step)+")"),
	}
	if !m.StartsAt.IsZero() {
		fields = append(fields, field("Started", m.StartsAt.UTC().Format(time.RFC3339)))
	}
	blocks = append(blocks, slackBlock{Type: "section", Fields: fields})

	if d := strings.TrimSpace(m.Description); d != "" {
		blocks = append(blocks, slackBlock{Type: "section", Text: mrkdwn(slackEscape(truncate(d, slackSectionMax/5)))})
	}
	if note := truncatedNote(m.Truncated); note != "" {
		blocks = append(blocks, slackBlock{Type: "section", Text: mrkdwn("_" + note + "_")})
	}
	if b, ok := slackInfo("Automation", automationLines(m), "• "); ok {
		blocks = append(blocks, b)
	}
	if b, ok := slackInfo("Diagnostics", diagnosticsLines(m), ""); ok {
		blocks = append(blocks, b)
	}

	if len(m.Labels) > 0 {
		var b strings.Builder
		b.WriteString("*Labels*")
		keys := sortedKeys(m.Labels)
		for i, k := range keys {
			// Each value on one line, so a value cannot fake a line
			// of the message (say, another "Acknowledge").
			line := "\n• " + slackEscape(truncate(oneLine(k), 100)) + ": " + slackEscape(truncate(oneLine(m.Labels[k]), slackLabelRunes))
			if b.Len()+len(line) > slackSectionMax-40 {
				fmt.Fprintf(&b, "\n… %d more", len(keys)-i)
				break
			}
			b.WriteString(line)
		}
		blocks = append(blocks, slackBlock{Type: "section", Text: mrkdwn(b.String())})
	}

	var buttons []slackElement
	if m.AckURL != "" && len(m.AckURL) <= slackURLMax {
		// The URL opens the signed link, which works without
		// interactivity; with it, Slack also posts the click with the
		// value, and escalator acknowledges at once. Both arriving is
		// harmless: acknowledging twice changes nothing.
		ack := slackElement{
			Type: "button", Text: slackText{Type: "plain_text", Text: "Acknowledge"},
			URL: m.AckURL, ActionID: SlackAckAction, Style: "primary",
		}
		if len(m.Incident) <= slackValueMax {
			ack.Value = m.Incident
		}
		buttons = append(buttons, ack)
	}
	for _, a := range m.Approvals {
		if a.URL == "" || len(a.URL) > slackURLMax || len(buttons) >= 20 {
			continue
		}
		// As Acknowledge: the URL opens the signed link's page; with
		// interactivity Slack also posts the click, and escalator
		// approves as the person who clicked.
		b := slackElement{
			Type: "button", Text: slackText{Type: "plain_text", Text: slackButtonText("Approve " + a.Action)},
			URL: a.URL, ActionID: SlackApproveAction + ":" + a.Action, Style: "danger",
		}
		if v := m.Incident + " " + a.Action; len(v) <= slackValueMax {
			b.Value = v
		}
		buttons = append(buttons, b)
	}
	if m.ConsoleURL != "" && len(m.ConsoleURL) <= slackURLMax {
		buttons = append(buttons, slackElement{
			Type: "button", Text: slackText{Type: "plain_text", Text: "Open in console"},
			URL: m.ConsoleURL, ActionID: "console",
		})
	}
	if len(buttons) > 0 {
		blocks = append(blocks, slackBlock{Type: "actions", BlockID: SlackActionsBlock, Elements: buttons})
	}
	return slackPayload{Text: text, Blocks: blocks}
}

// reportPayload is a Report for Slack: the summary as headline, the
// description and the diagnostics, and nothing of an incident (no fields,
// labels or buttons), whatever else m holds.
func reportPayload(m Message) slackPayload {
	head := slackEscape(truncate(title(m), slackTitleMax))
	blocks := []slackBlock{{Type: "section", Text: mrkdwn("*" + head + "*")}}
	if d := strings.TrimSpace(m.Description); d != "" {
		blocks = append(blocks, slackBlock{Type: "section", Text: mrkdwn(slackEscapeCut(d, slackSectionMax))})
	}
	if b, ok := slackInfo("Diagnostics", diagnosticsLines(m), ""); ok {
		blocks = append(blocks, b)
	}
	return slackPayload{Text: head, Blocks: blocks}
}

// slackEscapeCut is slackEscape(s) cut, at a rune and marked with an
// ellipsis, to at most maxBytes bytes: a report's body is its content, so
// it gets the whole section rather than a fifth of it (the bound that holds
// whatever the escaping) as an incident's description does.
func slackEscapeCut(s string, maxBytes int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if e := slackEscape(s); len(e) <= maxBytes {
		return e
	}
	const ellipsis = "…"
	var b strings.Builder
	for _, r := range s {
		e := slackEscape(string(r))
		if b.Len()+len(e)+len(ellipsis) > maxBytes {
			break
		}
		b.WriteString(e)
	}
	return b.String() + ellipsis
}

// slackInfo is a section headed *heading* with lines, each on one line of
// its own behind bullet and mrkdwn-escaped (so a quoted label can neither
// mention the channel nor fake a line of the message), within capLines'
// bounds and Slack's section limit; false when there are no lines.
func slackInfo(heading string, lines []string, bullet string) (slackBlock, bool) {
	if len(lines) == 0 {
		return slackBlock{}, false
	}
	head := "*" + heading + "*"
	// Bytes are counted, and Slack counts characters: never fewer.
	budget := min(infoMaxBytes, slackSectionMax-len(head))
	kept := cappedLines(lines, budget, func(l string) string { return bullet + slackEscape(oneLine(l)) })
	return slackBlock{Type: "section", Text: mrkdwn(head + "\n" + strings.Join(kept, "\n"))}, true
}

// Send posts the message once. Slack answers 200 "ok", 4xx for a bad
// payload or a revoked webhook (permanent) and 429 with Retry-After.
func (s *slack) Send(ctx context.Context, m Message) error {
	if err := checkMessage(m); err != nil {
		return err
	}
	return s.http.post(ctx, s.url, s.payload(m), nil)
}

// slackButtonText keeps a button's text within Slack's 75 characters.
func slackButtonText(s string) string {
	if r := []rune(s); len(r) > 75 {
		return string(r[:74]) + "…"
	}
	return s
}
