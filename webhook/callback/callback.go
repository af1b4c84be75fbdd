// Package callback receives what the people paged do where the page reached
// them: the Acknowledge button of a Slack notification (Slack's
// interactivity) and acknowledging or resolving the PagerDuty incident
// (PagerDuty's webhooks v3).
//
// Neither Slack nor PagerDuty can send escalator's bearer token or a
// password, so these endpoints sit outside escalator's authentication (see
// Route) and each request's signature, an HMAC of the raw body with a
// secret shared with Slack or PagerDuty, is its authentication. A request
// whose signature does not verify changes nothing and learns nothing but
// 401; one that verifies is also refused when it is stale, so that a
// request captured once cannot be played again later.
package callback

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hotel-ops/hotel-ops/internal/secret"
	"github.com/hotel-ops/hotel-ops/internal/yamlconf"
	"github.com/hotel-ops/hotel-ops/webhook/store"
)

// Acker acknowledges incidents: *escalate.Engine (which stops the
// escalation, tells the channels and wakes the reconciler).
type Acker interface {
	Ack(ctx context.Context, id, by string) (*store.Incident, error)
}

// Resolver closes incidents by hand: *escalate.Engine.
type Resolver interface {
	Resolve(ctx context.Context, id, by string) (*store.Incident, error)
}

// Approver gives an action's waiting run its approval: *escalate.Engine.
type Approver interface {
	ApproveAction(ctx context.Context, incident, action, by string) error
}

// Incidents is what the PagerDuty callback changes.
type Incidents interface {
	Acker
	Resolver
}

// Prefix is the path of every callback endpoint.
const Prefix = "/callbacks/"

// The endpoints.
const (
	SlackPath     = Prefix + "slack"
	PagerDutyPath = Prefix + "pagerduty"
)

// Defaults of the handlers' limits.
const (
	// DefaultMaxBody bounds a request body. Slack's interaction payloads
	// (which carry the message clicked, at most a few tens of KB for
	// escalator's) and PagerDuty's events (a few KB) stay well below.
	DefaultMaxBody = 256 << 10
	// DefaultTimeout bounds the store's work for one request: Slack
	// shows the person an error unless it has its answer within 3 s.
	DefaultTimeout = 2 * time.Second
)

// Config is the callbacks: section of escalator's configuration. An
// endpoint whose secret is not configured is not served (404).
type Config struct {
	Slack     *SlackConfig     `yaml:"slack,omitempty"`
	PagerDuty *PagerDutyConfig `yaml:"pagerduty,omitempty"`
}

// SlackConfig is the Slack app's signing secret (Basic Information, App
// Credentials), from a file or an environment variable.
type SlackConfig struct {
	SigningSecretFile string `yaml:"signing_secret_file,omitempty"`
	SigningSecretEnv  string `yaml:"signing_secret_env,omitempty"`
}

// PagerDutyConfig is the secret of the PagerDuty webhook subscription
// (shown once, when the subscription is created).
type PagerDutyConfig struct {
	SecretFile string `yaml:"secret_file,omitempty"`
	SecretEnv  string `yaml:"secret_env,omitempty"`
}

// Validate checks c, with path its place in the file ("callbacks"). Each
// problem is a *yamlconf.FieldError. Secrets are read by New, not here.
func (c Config) Validate(path string) error {
	var errs []error
	oneOf := func(at, prefix, file, env string) {
		if (file == "") == (env == "") {
			errs = append(errs, yamlconf.Fieldf(at+"."+prefix+"_file", "set one of %s_file and %s_env", prefix, prefix))
		}
	}
	if s := c.Slack; s != nil {
		oneOf(path+".slack", "signing_secret", s.SigningSecretFile, s.SigningSecretEnv)
	}
	if p := c.PagerDuty; p != nil {
		oneOf(path+".pagerduty", "secret", p.SecretFile, p.SecretEnv)
	}
	return errors.Join(errs...)
}

// Server serves the callbacks a Config sets up.
type Server struct {
	mux   *http.ServeMux
	paths []string
}

// New reads the secrets of c (once: a missing one fails at start-up, not
// at the first click) and sets up its endpoints. acker is required when c
// sets any; resolver may be nil, and PagerDuty's resolves are then ignored.
// An acker that also approves actions (*escalate.Engine) takes Slack's
// Approve buttons.
func New(c Config, acker Acker, resolver Resolver, logger *slog.Logger) (*Server, error) {
	logger = orDiscard(logger)
	s := &Server{mux: http.NewServeMux()}
	if c.Slack != nil {
		sec, err := secret.Read(c.Slack.SigningSecretFile, c.Slack.SigningSecretEnv)
		if err != nil {
			return nil, fmt.Errorf("callbacks.slack: signing secret: %w", err)
		}
		approver, _ := acker.(Approver)
		s.handle(SlackPath, &Slack{Secret: sec, Acker: acker, Approver: approver, Logger: logger})
	}
	if c.PagerDuty != nil {
		sec, err := secret.Read(c.PagerDuty.SecretFile, c.PagerDuty.SecretEnv)
		if err != nil {
			return nil, fmt.Errorf("callbacks.pagerduty: secret: %w", err)
		}
		s.handle(PagerDutyPath, &PagerDuty{Secret: sec, Acker: acker, Resolver: resolver, Logger: logger})
	}
	return s, nil
}

func (s *Server) handle(path string, h http.Handler) {
	s.mux.Handle("POST "+path, h)
	s.paths = append(s.paths, path)
}

// Paths lists the endpoints served, for the start-up log.
func (s *Server) Paths() []string { return s.paths }

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Route sends the requests under Prefix to s and every other to next. It
// goes around whatever guards escalator (basic auth in next), since Slack
// and PagerDuty cannot authenticate otherwise than by their signature; an
// endpoint not configured answers 404, not a password prompt.
func (s *Server) Route(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, Prefix) {
			s.mux.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// errTooLarge is readBody's error for a body over the limit.
var errTooLarge = errors.New("body too large")

// readBody reads the whole body, at most limit bytes: the signature covers
// the raw bytes, so they are read before anything is parsed.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, errTooLarge
	}
	if err != nil {
		return nil, fmt.Errorf("reading the body: %w", err)
	}
	return b, nil
}

// signedBody reads the body and checks its signature with verify. When
// either fails it answers (413, 400 or 401) and returns false; which check
// failed goes to the log, not to the sender.
func signedBody(w http.ResponseWriter, r *http.Request, limit int64, logger *slog.Logger, source string, verify func(http.Header, []byte) error) ([]byte, bool) {
	body, err := readBody(w, r, limit)
	if err != nil {
		bodyError(w, err, limit)
		return nil, false
	}
	if err := verify(r.Header, body); err != nil {
		logger.Warn(source+" callback refused", "err", err, "remote", r.RemoteAddr)
		http.Error(w, "signature refused", http.StatusUnauthorized)
		return nil, false
	}
	return body, true
}

// bodyError answers readBody's error: 413 for a body over the limit.
func bodyError(w http.ResponseWriter, err error, limit int64) {
	if errors.Is(err, errTooLarge) {
		if limit <= 0 {
			limit = DefaultMaxBody
		}
		http.Error(w, "body larger than "+strconv.FormatInt(limit, 10)+" bytes", http.StatusRequestEntityTooLarge)
		return
	}
	http.Error(w, "could not read the body", http.StatusBadRequest)
}

// maxBy bounds who acknowledged, as the audit log and the console show it.
const maxBy = 100

// who is "<source>:<name>" for the audit log: the name comes from Slack's
// or PagerDuty's payload, so it is put on one line of valid UTF-8 and
// bounded.
func who(source string, names ...string) string {
	for _, n := range names {
		n = strings.ToValidUTF8(n, "\uFFFD")
		n = strings.TrimSpace(strings.Map(func(r rune) rune {
			if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
				return ' '
			}
			return r
		}, n))
		if n == "" {
			continue
		}
		if utf8.RuneCountInString(n) > maxBy {
			n = string([]rune(n)[:maxBy-1]) + "…"
		}
		return source + ":" + n
	}
	return source
}

// maxIncidentID bounds an incident id taken from a payload. escalator's
// are 26 characters; a longer one is none of escalator's, and is not
// worth a store lookup or a log line of that size.
const maxIncidentID = 128

// plausibleID reports whether id could be one of escalator's incidents.
func plausibleID(id string) bool {
	return id != "" && len(id) <= maxIncidentID && utf8.ValidString(id) && !strings.ContainsFunc(id, unicode.IsControl)
}

func orDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// timeout is the store's budget for one request.
func timeout(d time.Duration) time.Duration {
	if d <= 0 {
		return DefaultTimeout
	}
	return d
}
