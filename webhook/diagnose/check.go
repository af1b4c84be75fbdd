// Package diagnose runs the automatic diagnostics of the operations spec:
// probes of the API endpoints, the database, the cache and the external
// services the hotel depends on. Escalator runs the checks that match an
// incident when it opens (the results go with the first notification and
// into the console) and every check daily at 09:00 as a health summary.
//
// A diagnostic is evidence for whoever is paged, not a monitor: it runs
// once, bounded by its own timeout, never retries, and reports what it saw
// in one short line that carries no secret.
package diagnose

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"

	"github.com/hotel-ops/hotel-ops/internal/yamlconf"
)

const (
	// DefaultTimeout bounds a check whose timeout is not set.
	DefaultTimeout = 5 * time.Second
	// MaxTimeout caps a check's timeout: the results go with the first
	// notification of an incident, which must not wait long for them.
	MaxTimeout = 30 * time.Second
	// DefaultQuery is what a postgres check runs when query is not set.
	DefaultQuery = "SELECT 1"
)

// Check types.
const (
	TypeHTTP     = "http"
	TypePostgres = "postgres"
	TypeRedis    = "redis"
	TypeTCP      = "tcp"
)

// Check is one entry of escalator.yml's `diagnostics:` list: flat whatever
// the type, as users write it (the caller decodes it strictly). Secrets are
// never inline: each is a file (mounted secret) or an environment variable,
// so the configuration can be committed and logged.
type Check struct {
	Name string `yaml:"name"`
	Type string `yaml:"type"` // http | postgres | redis | tcp
	// Timeout bounds the whole check, connecting included (default 5s, at
	// most 30s).
	Timeout model.Duration `yaml:"timeout,omitempty"`
	// Matchers are Alertmanager-style label matchers (`service="db"`,
	// `severity=~"critical|page"`): the check runs for incidents whose
	// labels match all of them; none, for every incident. The daily
	// summary runs every check.
	Matchers []string `yaml:"matchers,omitempty"`
	// MaxLatency, when set, makes a check that answered slower than it
	// "degraded" rather than "ok". Every type has it.
	MaxLatency model.Duration `yaml:"max_latency,omitempty"`

	// http (API endpoints, external services): a request to URL, answered
	// with one of ExpectStatus (default any of 200-399; redirects are not
	// followed).
	URL             string `yaml:"url,omitempty"`
	Method          string `yaml:"method,omitempty"` // GET (default), HEAD or POST
	ExpectStatus    []int  `yaml:"expect_status,omitempty"`
	BearerTokenFile string `yaml:"bearer_token_file,omitempty"`
	BearerTokenEnv  string `yaml:"bearer_token_env,omitempty"`

	// postgres: Query (default "SELECT 1") in a READ ONLY transaction whose
	// statement_timeout is the check's timeout, on the database of the DSN
	// (a libpq URL or key=value string, a secret: it may hold a password).
	DSNFile string `yaml:"dsn_file,omitempty"`
	DSNEnv  string `yaml:"dsn_env,omitempty"`
	Query   string `yaml:"query,omitempty"`

	// redis: PING, and INFO's used_memory, maxmemory and connected_clients
	// in the detail. tcp: a connection to Addr.
	Addr         string `yaml:"addr,omitempty"` // host:port (redis, tcp)
	PasswordFile string `yaml:"password_file,omitempty"`
	PasswordEnv  string `yaml:"password_env,omitempty"`
	DB           int    `yaml:"db,omitempty"`
}

func (c *Check) timeout() time.Duration {
	if c.Timeout <= 0 {
		return DefaultTimeout
	}
	return time.Duration(c.Timeout)
}

func (c *Check) method() string {
	if c.Method == "" {
		return "GET"
	}
	return c.Method
}

func (c *Check) query() string {
	if strings.TrimSpace(c.Query) == "" {
		return DefaultQuery
	}
	return c.Query
}

// commonKeys are the keys of every type; typeKeys those of each type. A
// key set for a type that does not read it is an error: it is most likely
// a check of another type pasted or mistyped, and would otherwise be
// silently ignored.
var (
	commonKeys = []string{"name", "type", "timeout", "matchers", "max_latency"}
	typeKeys   = map[string][]string{
		TypeHTTP:     {"url", "method", "expect_status", "bearer_token_file", "bearer_token_env"},
		TypePostgres: {"dsn_file", "dsn_env", "query"},
		TypeRedis:    {"addr", "password_file", "password_env", "db"},
		TypeTCP:      {"addr"},
	}
	typeNames = []string{TypeHTTP, TypePostgres, TypeRedis, TypeTCP}
	// Read-only methods, and POST for health endpoints that want one
	// (GraphQL, some RPC gateways): a diagnostic must not change anything.
	methods = []string{"GET", "HEAD", "POST"}
)

// nameRE keeps names to what reads well on one line of a notification and
// in the console, and needs no escaping anywhere.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// Validate checks c, with path the dotted location of the check in the
// configuration (e.g. "diagnostics[0]"). Each problem is a
// *yamlconf.FieldError under path, joined with errors.Join. Secrets are not
// read here: a missing one makes the check fail when it runs.
func (c *Check) Validate(path string) error {
	v := &checker{yamlconf.Checker{Path: path}}
	switch {
	case c.Name == "":
		v.Field("name", "required")
	case !nameRE.MatchString(c.Name):
		v.Field("name", "must be 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit")
	}
	keys, known := typeKeys[c.Type]
	switch {
	case known:
		for _, k := range yamlconf.SetKeys(c) {
			if !slices.Contains(commonKeys, k) && !slices.Contains(keys, k) {
				v.Field(k, "not used by type %s", c.Type)
			}
		}
	case c.Type == "":
		v.Field("type", "required: one of %s", strings.Join(typeNames, ", "))
	default:
		v.Field("type", "must be one of %s, got %q", strings.Join(typeNames, ", "), c.Type)
	}
	switch {
	case c.Timeout < 0:
		v.Field("timeout", "must not be negative")
	case time.Duration(c.Timeout) > MaxTimeout:
		v.Field("timeout", "must be at most %s", model.Duration(MaxTimeout))
	}
	switch {
	case c.MaxLatency < 0:
		v.Field("max_latency", "must not be negative")
	case c.MaxLatency > 0 && time.Duration(c.MaxLatency) >= c.timeout() && c.Timeout >= 0:
		// A check slower than its timeout fails, so it could never be
		// degraded.
		v.Field("max_latency", "must be less than the timeout (%s)", model.Duration(c.timeout()))
	}
	for i, m := range c.Matchers {
		if _, err := labels.ParseMatcher(m); err != nil {
			v.Field(fmt.Sprintf("matchers[%d]", i), "not a label matcher: %v", err)
		}
	}
	switch c.Type {
	case TypeHTTP:
		c.validateHTTP(v)
	case TypePostgres:
		v.Secret("dsn", c.DSNFile, c.DSNEnv, true)
	case TypeRedis:
		v.hostPort("addr", c.Addr)
		v.Secret("password", c.PasswordFile, c.PasswordEnv, false)
		if c.DB < 0 {
			v.Field("db", "must not be negative")
		}
	case TypeTCP:
		v.hostPort("addr", c.Addr)
	}
	return v.Err()
}

func (c *Check) validateHTTP(v *checker) {
	if c.URL == "" {
		v.Field("url", "required for type http")
	} else if msg := checkHTTPURL(c.URL); msg != "" {
		v.Field("url", "%s", msg)
	}
	if c.Method != "" && !slices.Contains(methods, c.Method) {
		v.Field("method", "must be one of %s, got %q", strings.Join(methods, ", "), c.Method)
	}
	for i, s := range c.ExpectStatus {
		if s < 100 || s > 599 {
			v.Field(fmt.Sprintf("expect_status[%d]", i), "must be an HTTP status code (100-599), got %d", s)
		}
	}
	v.Secret("bearer_token", c.BearerTokenFile, c.BearerTokenEnv, false)
}

// checkHTTPURL returns what is wrong with a URL, "" if nothing. It does not
// quote the URL, which may carry a token in its query.
func checkHTTPURL(s string) string {
	if msg := yamlconf.HTTPURLProblem(s); msg != "" {
		return msg
	}
	if yamlconf.HasUserinfo(s) {
		// Credentials in the URL would be a secret inline in the file.
		return "must not hold credentials: use bearer_token_file or bearer_token_env"
	}
	return ""
}

// checker collects the problems of one check (yamlconf.Checker).
type checker struct{ yamlconf.Checker }

func (v *checker) hostPort(key, addr string) {
	if addr == "" {
		v.Field(key, "required: host:port")
		return
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		v.Field(key, "must be host:port, got %q", addr)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		v.Field(key, "port must be a number from 1 to 65535, got %q", port)
	}
}
