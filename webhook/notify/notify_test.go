package notify

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/hotel-ops/hotel-ops/internal/yamlconf"
)

// recorded is one request as the loopback server saw it.
type recorded struct {
	At     time.Time
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// recorder is an HTTP server on 127.0.0.1 that keeps every request and
// answers with respond(n, w) for the n-th one (from 0); 200 when nil.
type recorder struct {
	srv     *httptest.Server
	respond func(n int, w http.ResponseWriter)

	mu   sync.Mutex
	reqs []recorded
}

func newRecorder(t *testing.T, respond func(n int, w http.ResponseWriter)) *recorder {
	t.Helper()
	r := &recorder{respond: respond}
	// httptest binds 127.0.0.1 (loopback only).
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		n := len(r.reqs)
		r.reqs = append(r.reqs, recorded{At: time.Now(), Method: req.Method, Path: req.URL.RequestURI(), Header: req.Header.Clone(), Body: body})
		r.mu.Unlock()
		if r.respond != nil {
			r.respond(n, w)
			return
		}
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *recorder) requests() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.reqs...)
}

// hostileMessage carries, in every free-text field, what could break a
// format: markup, quotes, line breaks and a header injection attempt.
func hostileMessage() Message {
	return Message{
		Key:         "inc-42/2/ops",
		Incident:    "inc-42",
		Event:       Trigger,
		Severity:    "critical",
		Summary:     "Disk full on db1\r\nBcc: evil@example.org",
		Description: "Root volume above 95%.\nAcknowledge: https://evil.example/ack\n<script>alert(1)</script>",
		Labels: map[string]string{
			"alertname": "DiskFull",
			"instance":  "db1:9100",
			"xss":       `<script>alert("x")</script>`,
			"quote":     `he said "hi" & 'bye'`,
			"newline":   "a\nb\r\nc",
			"inject":    "\r\nBcc: x@y",
			"mention":   "<!channel> <https://evil.example|Acknowledge>",
		},
		StartsAt:   time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
		Step:       2,
		Policy:     "db-oncall",
		AckURL:     "https://escalator.example/ack?i=inc-42&s=2&sig=abc|x",
		ConsoleURL: "https://escalator.example/incidents/inc-42",
	}
}

// writeSecret writes content to a file in a fresh temporary directory.
func writeSecret(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// fast retries n as escalator's outbox does, on a millisecond scale: up
// to attempts attempts, Backoff between them, stopping on a success, a
// permanent error or the end of ctx.
func fast(n Notifier, attempts int) Notifier { return retrying{n, attempts} }

type retrying struct {
	next     Notifier
	attempts int
}

func (r retrying) Send(ctx context.Context, m Message) error {
	var err error
	for i := range r.attempts {
		if i > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(Backoff(i, time.Millisecond, 20*time.Millisecond, err)):
			}
		}
		if err = r.next.Send(ctx, m); err == nil || IsPermanent(err) || ctx.Err() != nil {
			return err
		}
	}
	return err
}

func TestValidateNamesTheField(t *testing.T) {
	no := false
	for _, c := range []struct {
		name string
		cfg  ChannelConfig
		want []string // substrings, each in the error
	}{
		{"no type", ChannelConfig{}, []string{"channels.x.type: required"}},
		{"bad type", ChannelConfig{Type: "sms"}, []string{`channels.x.type: must be one of slack, email, pagerduty, webhook, got "sms"`}},
		{"slack without url", ChannelConfig{Type: "slack"}, []string{"channels.x.webhook_url_file: required for type slack"}},
		{"slack both", ChannelConfig{Type: "slack", WebhookURLFile: "f", WebhookURLEnv: "E"}, []string{"channels.x.webhook_url_file: set only one of webhook_url_file and webhook_url_env"}},
		{"slack with email field", ChannelConfig{Type: "slack", WebhookURLEnv: "E", Smarthost: "h:25"}, []string{"channels.x.smarthost: not used by type slack"}},
		{"email empty", ChannelConfig{Type: "email"}, []string{
			"channels.x.smarthost: required for type email",
			"channels.x.from: required for type email",
			"channels.x.to: required for type email",
		}},
		{"email bad values", ChannelConfig{Type: "email", Smarthost: "relay", From: "not an address", To: []string{"ok@example.org", "bad"}}, []string{
			`channels.x.smarthost: must be host:port, got "relay"`,
			"channels.x.from: not an email address",
			"channels.x.to.1: not an email address",
		}},
		{"email username without password", ChannelConfig{Type: "email", Smarthost: "h:587", From: "a@b.c", To: []string{"d@e.f"}, Username: "u"}, []string{"channels.x.password_file: required when username is set"}},
		{"email password without username", ChannelConfig{Type: "email", Smarthost: "h:587", From: "a@b.c", To: []string{"d@e.f"}, PasswordEnv: "P"}, []string{"channels.x.username: required when a password is set"}},
		{"email auth in clear", ChannelConfig{Type: "email", Smarthost: "h:587", From: "a@b.c", To: []string{"d@e.f"}, Username: "u", PasswordEnv: "P", RequireTLS: &no}, []string{"channels.x.require_tls: must not be false when username is set"}},
		{"pagerduty without key", ChannelConfig{Type: "pagerduty"}, []string{"channels.x.routing_key_file: required for type pagerduty"}},
		{"pagerduty bad url", ChannelConfig{Type: "pagerduty", RoutingKeyEnv: "K", URL: "ftp://x"}, []string{"channels.x.url: must be an http or https URL"}},
		{"webhook without url", ChannelConfig{Type: "webhook"}, []string{"channels.x.url: required for type webhook"}},
		{"webhook relative url", ChannelConfig{Type: "webhook", URL: "/hook"}, []string{"channels.x.url: must be an http or https URL"}},
		{"webhook both tokens", ChannelConfig{Type: "webhook", URL: "https://h/x", BearerTokenFile: "f", BearerTokenEnv: "E"}, []string{"channels.x.bearer_token_file: set only one of"}},
		{"webhook with routing key", ChannelConfig{Type: "webhook", URL: "https://h/x", RoutingKeyEnv: "K"}, []string{"channels.x.routing_key_env: not used by type webhook"}},
		{"negative timeout", ChannelConfig{Type: "webhook", URL: "https://h/x", Timeout: model.Duration(-time.Second)}, []string{"channels.x.timeout: must not be negative"}},
	} {
		err := c.cfg.Validate("channels.x")
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", c.name, err, w)
			}
		}
		var fe *yamlconf.FieldError
		if !errors.As(err, &fe) {
			t.Errorf("%s: %T is not a *yamlconf.FieldError, the loader cannot give a line", c.name, err)
		}
	}

	for _, ok := range []ChannelConfig{
		{Type: "slack", WebhookURLEnv: "E"},
		{Type: "email", Smarthost: "relay.example:587", From: "Escalator <esc@example.org>", To: []string{"ops@example.org"}},
		{Type: "email", Smarthost: "relay.example:587", From: "esc@example.org", To: []string{"ops@example.org"}, Username: "u", PasswordFile: "/run/p", CAFile: "/ca.pem"},
		{Type: "pagerduty", RoutingKeyFile: "/run/k"},
		{Type: "webhook", URL: "https://hooks.example/x", BearerTokenEnv: "T", Timeout: model.Duration(3 * time.Second)},
	} {
		if err := ok.Validate("channels.x"); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
}

// The configuration is read with yamlconf's strict decoder: the tags and
// model.Duration must decode, and errors must point at lines.
func TestChannelConfigFromYAML(t *testing.T) {
	type file struct {
		Channels map[string]ChannelConfig `yaml:"channels"`
	}
	var f file
	src := `channels:
  mail:
    type: email
    smarthost: relay.example:587
    from: esc@example.org
    to: [a@example.org, b@example.org]
    username: esc
    password_file: /run/secrets/smtp
    require_tls: false
    ca_file: /etc/ca.pem
    timeout: 30s
`
	if err := yaml.Unmarshal([]byte(src), &f); err != nil {
		t.Fatal(err)
	}
	m := f.Channels["mail"]
	if m.Timeout != model.Duration(30*time.Second) || m.RequireTLS == nil || *m.RequireTLS || len(m.To) != 2 || m.PasswordFile != "/run/secrets/smtp" || m.CAFile != "/etc/ca.pem" {
		t.Errorf("decoded %+v", m)
	}
	// require_tls false with a username is refused, and the loader
	// places the error on the channel's line.
	err := yamlconf.Parse("esc.yml", []byte(src), &validated{})
	if err == nil || !strings.Contains(err.Error(), "esc.yml:9: channels.mail.require_tls:") {
		t.Errorf("got %v", err)
	}
	if got := (ChannelConfig{}).timeout(); got != DefaultTimeout {
		t.Errorf("default timeout %v", got)
	}
}

type validated struct {
	Channels map[string]ChannelConfig `yaml:"channels"`
}

func (v *validated) Validate() error {
	var errs []error
	for name, c := range v.Channels {
		errs = append(errs, c.Validate("channels."+name))
	}
	return errors.Join(errs...)
}

func TestNewReadsSecrets(t *testing.T) {
	rec := newRecorder(t, nil)
	// From a file, surrounding white space (the editor's newline) trimmed.
	n, err := New("hook", ChannelConfig{Type: "webhook", URL: rec.srv.URL + "/in", BearerTokenFile: writeSecret(t, "  tok-from-file\n")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Send(context.Background(), hostileMessage()); err != nil {
		t.Fatal(err)
	}
	// From the environment.
	t.Setenv("NOTIFY_TEST_TOKEN", "tok-from-env\n")
	n, err = New("hook", ChannelConfig{Type: "webhook", URL: rec.srv.URL + "/in", BearerTokenEnv: "NOTIFY_TEST_TOKEN"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Send(context.Background(), hostileMessage()); err != nil {
		t.Fatal(err)
	}
	reqs := rec.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	for i, want := range []string{"Bearer tok-from-file", "Bearer tok-from-env"} {
		if got := reqs[i].Header.Get("Authorization"); got != want {
			t.Errorf("request %d: Authorization %q, want %q", i, got, want)
		}
	}
}

func TestNewSecretErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	t.Setenv("NOTIFY_TEST_EMPTY", "  ")
	for _, c := range []struct {
		cfg  ChannelConfig
		want string
	}{
		{ChannelConfig{Type: "slack", WebhookURLFile: missing}, "notify ch: webhook URL: reading secret: open " + missing},
		{ChannelConfig{Type: "slack", WebhookURLFile: writeSecret(t, "\n\n")}, "is empty"},
		{ChannelConfig{Type: "pagerduty", RoutingKeyEnv: "NOTIFY_TEST_UNSET_VAR"}, "environment variable NOTIFY_TEST_UNSET_VAR is unset or empty"},
		{ChannelConfig{Type: "webhook", URL: "http://127.0.0.1/x", BearerTokenEnv: "NOTIFY_TEST_EMPTY"}, "environment variable NOTIFY_TEST_EMPTY is unset or empty"},
		{ChannelConfig{Type: "email", Smarthost: "127.0.0.1:25", From: "a@b.c", To: []string{"d@e.f"}, Username: "u", PasswordFile: missing}, "notify ch: password: reading secret"},
		{ChannelConfig{Type: "email", Smarthost: "127.0.0.1:25", From: "a@b.c", To: []string{"d@e.f"}, CAFile: writeSecret(t, "not pem")}, "no PEM certificate"},
		{ChannelConfig{Type: "slack"}, "channels.ch.webhook_url_file: required for type slack"},
	} {
		_, err := New("ch", c.cfg, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want %q", c.cfg, err, c.want)
		}
	}
}

// No error may carry a secret: errors are logged and stored with the
// incident. Each case puts the secret where an error would naturally pick
// it up.
func TestErrorsNeverContainSecrets(t *testing.T) {
	const secret = "s3cr3t-T0KEN-value"
	echo := newRecorder(t, func(_ int, w http.ResponseWriter) {
		// A server that echoes the request's credential in its error.
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":"invalid key `+secret+`"}`)
	})
	// A loopback port with nothing listening: connection refused.
	closed := httptest.NewServer(http.NotFoundHandler())
	deadURL := closed.URL
	closed.Close()

	check := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: no error", what)
			return
		}
		for e := err; e != nil; e = errors.Unwrap(e) {
			if strings.Contains(e.Error(), secret) {
				t.Errorf("%s: error leaks the secret: %q", what, e.Error())
			}
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: %q", what, err)
		}
	}

	// The Slack URL is the secret: a bad one must not be quoted back...
	_, err := New("s", ChannelConfig{Type: "slack", WebhookURLFile: writeSecret(t, "hooks.example/"+secret)}, nil)
	check("slack URL not absolute", err)
	// ...nor appear in a transport error, which normally prints the URL.
	n, err := New("s", ChannelConfig{Type: "slack", WebhookURLFile: writeSecret(t, deadURL+"/services/"+secret)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = n.Send(context.Background(), hostileMessage())
	check("slack connection refused", err)
	if err != nil && !strings.Contains(err.Error(), "notify s: POST http://127.0.0.1:") {
		t.Errorf("the error should still say where: %v", err)
	}
	// A secret echoed in the error answer.
	n, err = New("s", ChannelConfig{Type: "slack", WebhookURLFile: writeSecret(t, echo.srv.URL+"/services/"+secret)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	check("slack echo", n.Send(context.Background(), hostileMessage()))

	n, err = New("pd", ChannelConfig{Type: "pagerduty", RoutingKeyFile: writeSecret(t, secret), URL: echo.srv.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = n.Send(context.Background(), hostileMessage())
	check("pagerduty echo", err)
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != 400 || !strings.Contains(se.Body, redacted) {
		t.Errorf("pagerduty: want a StatusError 400 with the body redacted, got %#v", err)
	}

	t.Setenv("NOTIFY_TEST_BEARER", secret)
	n, err = New("wh", ChannelConfig{Type: "webhook", URL: echo.srv.URL, BearerTokenEnv: "NOTIFY_TEST_BEARER"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	check("webhook echo", n.Send(context.Background(), hostileMessage()))

	// Retries keep the errors as they are.
	n, err = New("pd", ChannelConfig{Type: "pagerduty", RoutingKeyFile: writeSecret(t, secret), URL: deadURL + "/" + secret}, nil)
	if err != nil {
		t.Fatal(err)
	}
	check("pagerduty retried", fast(n, 2).Send(context.Background(), hostileMessage()))
}

func TestRedactorKeepsContextErrors(t *testing.T) {
	r := redactor{"pw"}
	err := r.error(&PermanentError{Err: errors.Join(errors.New("bad pw"), context.Canceled)})
	if strings.Contains(err.Error(), "pw") || !errors.Is(err, context.Canceled) || !IsPermanent(err) {
		t.Errorf("got %q is-canceled=%v permanent=%v", err, errors.Is(err, context.Canceled), IsPermanent(err))
	}
	plain := errors.New("nothing secret")
	if r.error(plain) != plain {
		t.Error("an error without secret should come back unchanged")
	}
}

func TestCheckMessage(t *testing.T) {
	good := hostileMessage()
	for _, c := range []struct {
		mut  func(*Message)
		want string
	}{
		{func(m *Message) { m.Key = "" }, "key is empty"},
		{func(m *Message) { m.Key = "inc/1/x\r\nX-Evil: 1" }, "key contains control characters"},
		{func(m *Message) { m.Incident = "" }, "incident is empty"},
		{func(m *Message) { m.Event = "page" }, `event "page"`},
	} {
		m := good
		c.mut(&m)
		err := checkMessage(m)
		if err == nil || !strings.Contains(err.Error(), c.want) || !IsPermanent(err) {
			t.Errorf("want permanent %q, got %v", c.want, err)
		}
	}
	if err := checkMessage(good); err != nil {
		t.Error(err)
	}
}

// A redirect is reported, not followed: a 302 would turn the POST into a
// GET that "succeeds" without delivering.
func TestRedirectIsNotFollowed(t *testing.T) {
	rec := newRecorder(t, func(_ int, w http.ResponseWriter) {
		w.Header().Set("Location", "/elsewhere")
		w.WriteHeader(http.StatusFound)
	})
	n, err := New("wh", ChannelConfig{Type: "webhook", URL: rec.srv.URL + "/in"}, &http.Client{})
	if err != nil {
		t.Fatal(err)
	}
	err = n.Send(context.Background(), hostileMessage())
	var se *StatusError
	if !IsPermanent(err) || !errors.As(err, &se) || se.StatusCode != http.StatusFound {
		t.Errorf("got %v", err)
	}
	if got := len(rec.requests()); got != 1 {
		t.Errorf("%d requests, want 1", got)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                              0,
		"3":                             3 * time.Second,
		"0":                             0,
		"-5":                            0,
		"soon":                          0,
		"99999999999999":                24 * time.Hour,
		"Sat, 01 Mar 2025 12:00:30 GMT": 30 * time.Second,
		"Sat, 01 Mar 2025 11:00:00 GMT": 0,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("%q: %v, want %v", in, got, want)
		}
	}
}

func TestTruncate(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 3, "abc"},
		{"abcd", 3, "ab…"},
		{"ééé", 2, "é…"},
		{"abc", 0, ""},
	} {
		if got := truncate(c.in, c.n); got != c.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}

// sendOne sends m through a new channel of config c and returns the one
// request rec received.
func sendOne(t *testing.T, rec *recorder, name string, c ChannelConfig, m Message) recorded {
	t.Helper()
	n, err := New(name, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	reqs := rec.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	return reqs[0]
}
