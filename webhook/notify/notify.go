// Package notify sends the escalator's notifications: one escalation step of
// one incident to one channel (Slack, email, PagerDuty or a generic webhook),
// or a report that is about no one incident (the daily health check summary)
// to one channel other than PagerDuty.
//
// A Notifier makes exactly one attempt. The split keeps each channel's code
// about its wire format and lets the caller decide how long to keep
// trying: escalator's outbox retries durably, waiting Backoff between
// attempts.
//
// Alert labels and annotations reach this package from outside the escalator,
// so every format is built with an encoder for that format (encoding/json,
// mime, quoted-printable, Slack's mrkdwn escaping), never by pasting strings,
// and nothing from a Message can add an email recipient or header.
//
// Secrets (webhook URLs, routing keys, passwords, tokens) are read once by
// New; no error this package returns contains one, since errors end up in
// logs, incident timelines and HTTP answers.
package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hotel-ops/hotel-ops/internal/secret"
)

// Event is what happened to the incident this notification is about, or
// Report for a notification about no one incident.
type Event string

// The events a notification can carry. PagerDuty's event_action takes the
// same words, which is why the first three are these.
const (
	Trigger     Event = "trigger"
	Acknowledge Event = "acknowledge"
	Resolve     Event = "resolve"
	// Report is a message about no one incident: the daily health check
	// summary, later weekly and monthly reports. Only Key, Incident (the
	// report id, such as "health/2026-12-03", or ""), Summary (the title,
	// required), Description (the body) and Diagnostics (the checks'
	// lines) are read; every format leaves out the incident's fields
	// (labels, severity, policy and step, the acknowledge and console
	// links, automation, left-out alerts) even when set. PagerDuty refuses
	// a Report with a *PermanentError: it pages people.
	Report Event = "report"
)

// Message is one notification of one escalation step to one channel.
type Message struct {
	Key         string            // idempotency key: "<incident>/<step>/<channel>", stable across retries and restarts
	Incident    string            // incident id; for a Report its id, or ""
	Event       Event             // Trigger, Acknowledge, Resolve, Report
	Severity    string            // the alert's severity label, as written
	Summary     string            // one line
	Description string            // may span lines
	Labels      map[string]string // the alert's labels: untrusted, escaped by each format
	StartsAt    time.Time
	Step        int
	Policy      string
	AckURL      string // signed link to acknowledge; "" when not applicable
	ConsoleURL  string
	// Truncated is how many alerts of the delivery that opened this
	// incident Alertmanager left out (its truncatedAlerts, set when a
	// group outgrows the receiver's max_alerts): they were never seen.
	Truncated int
	// Automation is what auto-recovery actions did for the incident so
	// far, a line each, oldest first ("clear_cache succeeded at 03:12:04Z: unlinked 42 keys matching sess:*",
	// "failover awaits approval until 03:20:00Z"). Empty: none ran.
	// Untrusted (it quotes alert labels): see capLines for the bounds every
	// format keeps to.
	Automation []string
	// Diagnostics is the health checks' summary run when the incident
	// opened (lines like "✔ api (http): HTTP 200 in 12 ms"), "" when none ran.
	// Untrusted, bounded like Automation.
	Diagnostics string
	// Approvals are the actions of this step that wait for a person's
	// approval, each with its signed link (empty without links).
	Approvals []Approval
}

// Approval is an action waiting for approval and the signed link that
// gives it.
type Approval struct {
	Action string `json:"action"`
	URL    string `json:"url"`
}

// Notifier sends a Message to one channel.
type Notifier interface {
	// Send makes one attempt. It returns a *PermanentError when trying
	// again cannot help (an HTTP 4xx other than 408 and 429, an SMTP 5xx, a
	// malformed Message), so the outbox stops trying.
	Send(ctx context.Context, m Message) error
}

// PermanentError marks a failure that a retry would only repeat.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// IsPermanent reports whether err is, or wraps, a *PermanentError.
func IsPermanent(err error) bool {
	var pe *PermanentError
	return errors.As(err, &pe)
}

// StatusError is a non-2xx answer of an HTTP channel.
type StatusError struct {
	Channel    string // the channel's name in the configuration
	StatusCode int
	// RetryAfter is the server's Retry-After, 0 when it sent none. Backoff
	// waits this long (capped) instead of its own delay.
	RetryAfter time.Duration
	// Body is the start of the answer, with the channel's secrets removed:
	// Slack and PagerDuty say there what was wrong with the request.
	Body string
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("notify %s: HTTP %d", e.Channel, e.StatusCode)
	if e.Body != "" {
		s += ": " + e.Body
	}
	return s
}

// checkMessage rejects what no channel can send. The key travels in HTTP and
// mail headers, where a control character would be refused (or worse,
// interpreted), so it is checked here rather than mangled in each channel:
// a mangled key would no longer be the same key across retries.
func checkMessage(m Message) error {
	var problems []string
	if m.Key == "" {
		problems = append(problems, "key is empty")
	} else if strings.ContainsFunc(m.Key, unicode.IsControl) || !utf8.ValidString(m.Key) {
		problems = append(problems, "key contains control characters or invalid UTF-8")
	}
	switch m.Event {
	case Trigger, Acknowledge, Resolve:
		if m.Incident == "" {
			problems = append(problems, "incident is empty")
		}
	case Report:
		// A report has no incident (Incident may hold its id), and its
		// summary is the only headline it has.
		if strings.TrimSpace(m.Summary) == "" {
			problems = append(problems, "report summary is empty")
		}
	default:
		if m.Incident == "" {
			problems = append(problems, "incident is empty")
		}
		problems = append(problems, fmt.Sprintf("event %q is not trigger, acknowledge, resolve or report", m.Event))
	}
	if len(problems) > 0 {
		return &PermanentError{Err: fmt.Errorf("notify: invalid message: %s", strings.Join(problems, "; "))}
	}
	return nil
}

// New builds the Notifier of the channel called name. It validates c (field
// paths start at "channels.<name>") and reads the channel's secret from its
// file (surrounding white space trimmed, so a trailing newline is harmless)
// or environment variable. Secrets are read here, once, so a missing secret
// fails at start-up rather than at the first page.
//
// client is used by the HTTP channels; nil means a client with
// http.DefaultTransport. Redirects are never followed whatever client's
// policy, see newHTTPSender.
func New(name string, c ChannelConfig, client *http.Client) (Notifier, error) {
	if err := c.Validate("channels." + name); err != nil {
		return nil, err
	}
	t, ok := lookupType(c.Type)
	if !ok {
		// Validate rejects every other type.
		return nil, fmt.Errorf("notify %s: unknown type %q", name, c.Type)
	}
	return t.build(name, c, client, c.timeout())
}

// readSecret is secret.Read: every channel reads its credentials so.
var readSecret = secret.Read

// redactor removes known secret values from error text.
type redactor []string

// redacted is the text that replaces a secret.
const redacted = "<redacted>"

func (r redactor) string(s string) string {
	for _, sec := range r {
		if sec == "" {
			continue
		}
		// The escaped forms too: url.Error quotes the URL, and a server
		// may echo a request field JSON- or URL-encoded.
		for _, form := range []string{sec, url.QueryEscape(sec), url.PathEscape(sec), strconv.Quote(sec)} {
			s = strings.ReplaceAll(s, form, redacted)
		}
	}
	return s
}

// error returns err unchanged when its text holds no secret. Otherwise it
// returns an error with the redacted text that still answers errors.Is for
// the context errors (the retry loop needs them) but not errors.As for the
// original chain, which would hand the secret back to whoever unwraps it.
func (r redactor) error(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := r.string(msg)
	if clean == msg {
		return err
	}
	re := &redactedError{msg: clean}
	switch {
	case errors.Is(err, context.Canceled):
		re.cause = context.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		re.cause = context.DeadlineExceeded
	}
	if IsPermanent(err) {
		return &PermanentError{Err: re}
	}
	return re
}

type redactedError struct {
	msg   string
	cause error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.cause }

// httpSender posts JSON for the HTTP channels and turns the answer into nil,
// a retryable *StatusError or a *PermanentError.
type httpSender struct {
	name    string
	client  *http.Client
	timeout time.Duration
	secrets redactor
}

func newHTTPSender(name string, client *http.Client, timeout time.Duration, secrets ...string) *httpSender {
	var c http.Client
	if client != nil {
		c = *client
	}
	// A 301/302/303 would turn the POST into a GET that "succeeds" without
	// delivering anything, and a 307/308 would carry the payload to
	// wherever the endpoint points. Neither should page silently, so the
	// redirect comes back as a status error.
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &httpSender{name: name, client: &c, timeout: timeout, secrets: secrets}
}

// maxErrorBody bounds how much of an error answer goes into an error.
const maxErrorBody = 512

func (h *httpSender) post(ctx context.Context, target string, body any, header http.Header) error {
	payload, err := json.Marshal(body)
	if err != nil {
		// Every body is a struct of strings, maps and numbers; nothing
		// here fails unless a type changes, and retrying would not help.
		return &PermanentError{Err: fmt.Errorf("notify %s: encoding: %w", h.name, err)}
	}
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(payload))
	if err != nil {
		// url.Parse errors quote the URL, which may be the secret.
		return h.secrets.error(&PermanentError{Err: fmt.Errorf("notify %s: building request: %w", h.name, err)})
	}
	req.Header = header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "hotel-ops-escalator")
	resp, err := h.client.Do(req)
	if err != nil {
		// *url.Error prints the whole URL, and a Slack webhook URL is
		// the secret: keep only the scheme and host.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return h.secrets.error(fmt.Errorf("notify %s: POST %s: %w", h.name, origin(req.URL), err))
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		// Drain a little so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil
	}
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	se := &StatusError{
		Channel:    h.name,
		StatusCode: resp.StatusCode,
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
		Body:       h.secrets.string(strings.ToValidUTF8(strings.TrimSpace(string(snippet)), "?")),
	}
	if permanentStatus(resp.StatusCode) {
		return &PermanentError{Err: se}
	}
	return se
}

// permanentStatus: a 4xx says the request itself is wrong (bad payload,
// revoked webhook, unknown routing key), so sending it again cannot help,
// except 408 (the server gave up waiting) and 429 (rate limited), which are
// about timing. 3xx only arrives because redirects are not followed, and
// needs the configuration fixed.
func permanentStatus(code int) bool {
	switch {
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests:
		return false
	case code >= 300 && code < 500:
		return true
	}
	return false
}

// parseRetryAfter reads Retry-After in either of its forms, seconds or an
// HTTP date; 0 when absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		// Bound before multiplying so a huge value cannot overflow.
		if secs > int64(24*time.Hour/time.Second) {
			secs = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// origin is the part of a URL that may appear in errors: scheme and host.
func origin(u *url.URL) string {
	if u == nil {
		return "?"
	}
	return u.Scheme + "://" + u.Host
}

// truncate shortens s to at most n runes, marking the cut with an ellipsis.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	runes := []rune(s)
	return string(runes[:n-1]) + "…"
}

// oneLine replaces control characters (newlines included) with spaces, for
// text that must stay on one line: subjects, titles.
func oneLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
}

// truncatedNote says how many alerts of the group Alertmanager left out of
// the delivery (Message.Truncated), "" when none: whoever is paged should
// know that the group is larger than what escalator saw.
func truncatedNote(n int) string {
	switch {
	case n <= 0:
		return ""
	case n == 1:
		return "Alertmanager left out 1 more alert of this group (max_alerts)"
	}
	return "Alertmanager left out " + strconv.Itoa(n) + " more alerts of this group (max_alerts)"
}

// Bounds on Message.Automation and Message.Diagnostics in every format: at
// most infoMaxLines lines, each cut to infoLineRunes runes, together at most
// infoMaxBytes bytes as the format writes them (escaped). What does not fit
// is counted in a last "… N more" line.
const (
	infoMaxLines  = 20
	infoMaxBytes  = 3000
	infoLineRunes = 500
	// infoNoteRoom is kept free within a byte budget for the "… N more"
	// line and its separator.
	infoNoteRoom = 32
)

// automationLines is m.Automation without blank lines, nil when nothing is
// left: a list of blank lines is the same as none.
func automationLines(m Message) []string {
	var out []string
	for _, l := range m.Automation {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

// diagnosticsLines is m.Diagnostics split into lines ("\r\n" or "\n"),
// trailing blank lines dropped; nil when it holds only white space.
func diagnosticsLines(m Message) []string {
	d := strings.TrimRightFunc(m.Diagnostics, unicode.IsSpace)
	if d == "" {
		return nil
	}
	return strings.Split(strings.ReplaceAll(d, "\r\n", "\n"), "\n")
}

// capLines renders each line with render, after cutting it to infoLineRunes
// runes, and returns the first ones that fit in infoMaxLines lines and
// maxBytes bytes (counting one separator byte per line), and how many did
// not fit. infoNoteRoom bytes of maxBytes stay free for the caller's
// moreNote. render does the format's escaping, so the budget holds for the
// escaped text.
func capLines(lines []string, maxBytes int, render func(string) string) (kept []string, more int) {
	size := 0
	for i, l := range lines {
		r := render(truncate(strings.ToValidUTF8(l, "\uFFFD"), infoLineRunes))
		if i == infoMaxLines || size+len(r)+1 > maxBytes-infoNoteRoom {
			return kept, len(lines) - i
		}
		kept = append(kept, r)
		size += len(r) + 1
	}
	return kept, 0
}

// cappedLines is capLines with the "… N more" note as a last line.
func cappedLines(lines []string, maxBytes int, render func(string) string) []string {
	kept, more := capLines(lines, maxBytes, render)
	if more > 0 {
		kept = append(kept, moreNote(more))
	}
	return kept
}

// moreNote says how many lines capLines left out.
func moreNote(n int) string { return "… " + strconv.Itoa(n) + " more" }
