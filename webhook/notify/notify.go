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
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/prometheus/common/model"

	"github.com/hotel-ops/hotel-ops/internal/secret"
	"github.com/hotel-ops/hotel-ops/internal/yamlconf"
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
	timeout := c.timeout()
	switch c.Type {
	case "slack":
		return newSlack(name, c, client, timeout)
	case "email":
		return newEmail(name, c, timeout)
	case "pagerduty":
		return newPagerDuty(name, c, client, timeout)
	case "webhook":
		return newWebhook(name, c, client, timeout)
	}
	// Validate rejects every other type.
	return nil, fmt.Errorf("notify %s: unknown type %q", name, c.Type)
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

// DefaultTimeout bounds one attempt of a channel whose timeout is not set.
const DefaultTimeout = 10 * time.Second

// DefaultPagerDutyURL is the PagerDuty Events API v2 endpoint.
const DefaultPagerDutyURL = "https://events.pagerduty.com/v2/enqueue"

// ChannelConfig is one channel of the escalator's configuration. The caller
// decodes it strictly (unknown fields rejected); Validate checks the values.
// Secrets are never inline: each is a file (mounted secret) or an
// environment variable, so the configuration can be committed and logged.
type ChannelConfig struct {
	Type string `yaml:"type"` // slack | email | pagerduty | webhook

	// slack: the incoming webhook URL, which is itself the credential.
	WebhookURLFile string `yaml:"webhook_url_file,omitempty"`
	WebhookURLEnv  string `yaml:"webhook_url_env,omitempty"`

	// email
	Smarthost    string   `yaml:"smarthost,omitempty"` // host:port of the relay
	From         string   `yaml:"from,omitempty"`
	To           []string `yaml:"to,omitempty"`
	Username     string   `yaml:"username,omitempty"` // AUTH PLAIN when set
	PasswordFile string   `yaml:"password_file,omitempty"`
	PasswordEnv  string   `yaml:"password_env,omitempty"`
	// RequireTLS (default true) refuses to send when the relay does not
	// offer STARTTLS: incident details and credentials stay off the wire.
	RequireTLS *bool `yaml:"require_tls,omitempty"`
	// CAFile, when set, is the only trust for the relay's certificate (a
	// private CA or a self-signed relay); otherwise the system roots.
	CAFile string `yaml:"ca_file,omitempty"`

	// pagerduty
	RoutingKeyFile string `yaml:"routing_key_file,omitempty"`
	RoutingKeyEnv  string `yaml:"routing_key_env,omitempty"`

	// pagerduty (default DefaultPagerDutyURL) and webhook (required)
	URL string `yaml:"url,omitempty"`

	// webhook
	BearerTokenFile string `yaml:"bearer_token_file,omitempty"`
	BearerTokenEnv  string `yaml:"bearer_token_env,omitempty"`

	// Timeout bounds one attempt, connection included (default 10s).
	Timeout model.Duration `yaml:"timeout,omitempty"`
}

func (c ChannelConfig) timeout() time.Duration {
	if c.Timeout <= 0 {
		return DefaultTimeout
	}
	return time.Duration(c.Timeout)
}

func (c ChannelConfig) requireTLS() bool { return c.RequireTLS == nil || *c.RequireTLS }

// Validate checks c, with path the dotted location of the channel in the
// configuration (e.g. "channels.slack"). Each problem is a
// *yamlconf.FieldError naming the field, joined with errors.Join, so the
// loader can point at the line. Secrets are not read here: see New.
func (c ChannelConfig) Validate(path string) error {
	var errs []error
	field := func(name, format string, args ...any) {
		errs = append(errs, yamlconf.Fieldf(path+"."+name, format, args...))
	}

	// Which fields each type reads. A field set for a type that ignores
	// it is an error: it is most likely a channel of another type
	// pasted or mistyped, and would otherwise be silently dropped.
	fields := []struct {
		name  string
		set   bool
		types string
	}{
		{"webhook_url_file", c.WebhookURLFile != "", "slack"},
		{"webhook_url_env", c.WebhookURLEnv != "", "slack"},
		{"smarthost", c.Smarthost != "", "email"},
		{"from", c.From != "", "email"},
		{"to", len(c.To) > 0, "email"},
		{"username", c.Username != "", "email"},
		{"password_file", c.PasswordFile != "", "email"},
		{"password_env", c.PasswordEnv != "", "email"},
		{"require_tls", c.RequireTLS != nil, "email"},
		{"ca_file", c.CAFile != "", "email"},
		{"routing_key_file", c.RoutingKeyFile != "", "pagerduty"},
		{"routing_key_env", c.RoutingKeyEnv != "", "pagerduty"},
		{"url", c.URL != "", "pagerduty webhook"},
		{"bearer_token_file", c.BearerTokenFile != "", "webhook"},
		{"bearer_token_env", c.BearerTokenEnv != "", "webhook"},
	}

	switch c.Type {
	case "slack", "email", "pagerduty", "webhook":
		for _, f := range fields {
			if f.set && !strings.Contains(" "+f.types+" ", " "+c.Type+" ") {
				field(f.name, "not used by type %s", c.Type)
			}
		}
	case "":
		field("type", "required: one of slack, email, pagerduty, webhook")
	default:
		field("type", "must be one of slack, email, pagerduty, webhook, got %q", c.Type)
	}
	if c.Timeout < 0 {
		field("timeout", "must not be negative")
	}

	// oneOf checks a secret that can come from a file or a variable.
	oneOf := func(prefix, fileVal, envVal string, required bool) {
		switch {
		case fileVal != "" && envVal != "":
			field(prefix+"_file", "set only one of %s_file and %s_env", prefix, prefix)
		case required && fileVal == "" && envVal == "":
			field(prefix+"_file", "required for type %s (or %s_env)", c.Type, prefix)
		}
	}

	switch c.Type {
	case "slack":
		oneOf("webhook_url", c.WebhookURLFile, c.WebhookURLEnv, true)
	case "email":
		if c.Smarthost == "" {
			field("smarthost", "required for type email")
		} else if host, port, err := net.SplitHostPort(c.Smarthost); err != nil || host == "" || port == "" {
			field("smarthost", "must be host:port, got %q", c.Smarthost)
		}
		if c.From == "" {
			field("from", "required for type email")
		} else if _, err := mail.ParseAddress(c.From); err != nil {
			field("from", "not an email address: %v", err)
		}
		if len(c.To) == 0 {
			field("to", "required for type email: at least one address")
		}
		for i, to := range c.To {
			if _, err := mail.ParseAddress(to); err != nil {
				field("to."+strconv.Itoa(i), "not an email address: %v", err)
			}
		}
		oneOf("password", c.PasswordFile, c.PasswordEnv, false)
		hasPassword := c.PasswordFile != "" || c.PasswordEnv != ""
		if c.Username != "" && !hasPassword {
			field("password_file", "required when username is set (or password_env)")
		}
		if c.Username == "" && hasPassword {
			field("username", "required when a password is set")
		}
		if c.Username != "" && !c.requireTLS() {
			// net/smtp's PLAIN refuses to send a password in clear to
			// anything but localhost anyway; say so at load time.
			field("require_tls", "must not be false when username is set: the password would cross the network in clear")
		}
	case "pagerduty":
		oneOf("routing_key", c.RoutingKeyFile, c.RoutingKeyEnv, true)
		if c.URL != "" {
			if msg := checkHTTPURL(c.URL); msg != "" {
				field("url", "%s", msg)
			}
		}
	case "webhook":
		if c.URL == "" {
			field("url", "required for type webhook")
		} else if msg := checkHTTPURL(c.URL); msg != "" {
			field("url", "%s", msg)
		}
		oneOf("bearer_token", c.BearerTokenFile, c.BearerTokenEnv, false)
	}
	return errors.Join(errs...)
}

// checkHTTPURL returns what is wrong with an endpoint URL, "" if nothing. It
// does not quote the URL: a webhook URL read from a secret goes through
// here too.
func checkHTTPURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "not a valid URL"
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "must be an http or https URL"
	}
	if u.Host == "" {
		return "must be an absolute URL with a host"
	}
	return ""
}
