// Package notify sends the escalator's notifications: one escalation step of
// one incident to one channel (Slack, email, PagerDuty or a generic webhook).
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

// Event is what happened to the incident this notification is about.
type Event string

// The events a notification can carry. PagerDuty's event_action takes the
// same words, which is why they are these.
const (
	Trigger     Event = "trigger"
	Acknowledge Event = "acknowledge"
	Resolve     Event = "resolve"
)

// Message is one notification of one escalation step to one channel.
type Message struct {
	Key         string            // idempotency key: "<incident>/<step>/<channel>", stable across retries and restarts
	Incident    string            // incident id
	Event       Event             // Trigger, Acknowledge, Resolve
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
	if m.Incident == "" {
		problems = append(problems, "incident is empty")
	}
	switch m.Event {
	case Trigger, Acknowledge, Resolve:
	default:
		problems = append(problems, fmt.Sprintf("event %q is not trigger, acknowledge or resolve", m.Event))
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
