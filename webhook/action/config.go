// Package action holds escalator's auto-recovery actions: what a policy
// step may do besides paging (call an HTTP endpoint, run a program, clear
// Redis keys, reset a PostgreSQL connection pool, promote a PostgreSQL
// standby when its primary is gone).
//
// An action runs with an alert's labels as its only input, and those come
// from whoever can make Prometheus or Alertmanager fire: they are
// untrusted. So each action names the few labels it accepts, each held to
// a pattern (Allowed), and the labels never reach a shell or SQL text:
// programs get them as argv elements, PostgreSQL as query parameters,
// Redis patterns and URLs with their special characters escaped.
//
// How often an action runs (cooldown per target, budget per window) and
// whether it runs at all (dry run) are enforced by the store, with the
// Limits given here; this package only says what a run does.
package action

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/hotel-ops/hotel-ops/internal/yamlconf"
)

// Defaults and bounds of the limits, as the documentation states them.
const (
	DefaultTimeout      = 30 * time.Second
	MaxTimeout          = 5 * time.Minute
	DefaultCooldown     = 10 * time.Minute
	DefaultBudgetMax    = 3
	DefaultBudgetWindow = time.Hour
	DefaultMaxKeys      = 100000
	DefaultMaxBackends  = 50
	// DefaultBreakerFailures failed runs in a row stop the action until
	// a person resets it; a success within DefaultRefireWithin of the
	// alert firing again counts as a failure (the fix did not hold).
	DefaultBreakerFailures = 3
	DefaultRefireWithin    = 30 * time.Minute
	// DefaultApprovalTimeout is how long a standard or major change
	// waits for its approval before the next step pages people instead.
	DefaultApprovalTimeout = 15 * time.Minute
)

// Types of action.
const (
	TypeHTTP              = "http"
	TypeExec              = "exec"
	TypeRedisCacheClear   = "redis_cache_clear"
	TypePostgresPoolReset = "postgres_pool_reset"
	TypePostgresFailover  = "postgres_failover"
)

// Change categories, after the spec's change management: only emergency
// changes may run without an approval.
const (
	CategoryEmergency = "emergency"
	CategoryStandard  = "standard"
	CategoryMajor     = "major"
)

var categories = []string{CategoryEmergency, CategoryStandard, CategoryMajor}

// Config is one action: the mapping under actions.<name> of escalator.yml,
// flat whatever the type (as notify.ChannelConfig is). The caller decodes
// it strictly; Validate checks it; New builds it.
//
// Secrets (bearer tokens, header values, the Redis password, the
// PostgreSQL DSNs) are never inline: each is a file or an environment
// variable, so the configuration can be committed and logged.
type Config struct {
	Type     string `yaml:"type"`     // http | exec | redis_cache_clear | postgres_pool_reset | postgres_failover
	Category string `yaml:"category"` // emergency | standard | major
	// Rollback is how to undo the action by hand: the spec wants one for
	// every emergency change, and the audit shows it.
	Rollback string `yaml:"rollback"`
	// DryRun (default true) records what would run and runs nothing: a
	// new action is shadowed until someone has read its audit.
	DryRun   *bool          `yaml:"dry_run,omitempty"`
	Timeout  model.Duration `yaml:"timeout,omitempty"`  // default 30s, at most 5m
	Cooldown model.Duration `yaml:"cooldown,omitempty"` // default 10m, per action and target
	Budget   *Budget        `yaml:"budget,omitempty"`   // default 3 per 1h
	Breaker  *Breaker       `yaml:"breaker,omitempty"`  // default 3 failures, refire within 30m
	// ApprovalTimeout is how long a standard or major change waits for
	// a person's approval (default 15m); emergency changes need none.
	ApprovalTimeout model.Duration `yaml:"approval_timeout,omitempty"`
	// Precondition and Postcheck are PromQL templates asked of the
	// configured Prometheus (promql.go): the run begins only if the
	// precondition returns a sample; a successful run counts as failed
	// unless the post-check returns one within its time.
	Precondition string     `yaml:"precondition,omitempty"`
	Postcheck    *Postcheck `yaml:"postcheck,omitempty"`
	// Labels are the only labels that reach the action: each name maps
	// to an RE2 pattern, anchored as Prometheus anchors its own, that the
	// value must match. An alert missing one or not matching is refused.
	Labels map[string]string `yaml:"labels,omitempty"`
	// TargetLabels are the labels of Labels naming what the action acts
	// on, which its cooldown counts per (default: all of Labels).
	TargetLabels []string `yaml:"target_labels,omitempty"`

	// http: URL and Body are templates over the allowed labels; label
	// values in the URL are escaped, and its scheme and host are fixed.
	Method          string            `yaml:"method,omitempty"` // default POST
	URL             string            `yaml:"url,omitempty"`
	Body            string            `yaml:"body,omitempty"`
	HeaderFiles     map[string]string `yaml:"header_files,omitempty"` // header → file holding its value
	BearerTokenFile string            `yaml:"bearer_token_file,omitempty"`
	BearerTokenEnv  string            `yaml:"bearer_token_env,omitempty"`
	ExpectStatus    []int             `yaml:"expect_status,omitempty"` // default any 2xx

	// exec: Command is argv, never a shell. Command[0] is an absolute
	// path, taken as is; the rest and Env's values are templates. The
	// child's environment is Env and PATH=/usr/bin:/bin, nothing else.
	Command []string          `yaml:"command,omitempty"`
	Env     map[string]string `yaml:"env,omitempty"`

	// redis_cache_clear: UNLINK the keys matching Pattern (a template;
	// glob characters in label values are escaped), at most MaxKeys of
	// them; or, with FlushDB, empty database RedisDB.
	RedisAddr         string `yaml:"redis_addr,omitempty"`
	RedisPasswordFile string `yaml:"redis_password_file,omitempty"`
	RedisPasswordEnv  string `yaml:"redis_password_env,omitempty"`
	RedisDB           int    `yaml:"redis_db,omitempty"`
	Pattern           string `yaml:"pattern,omitempty"`
	FlushDB           bool   `yaml:"flush_db,omitempty"`
	MaxKeys           int    `yaml:"max_keys,omitempty"` // default 100000

	// postgres_pool_reset: terminate at most Max client backends matching
	// Database, ApplicationName (templates, sent as query parameters),
	// State and IdleFor.
	DSNFile         string         `yaml:"dsn_file,omitempty"`
	DSNEnv          string         `yaml:"dsn_env,omitempty"`
	Database        string         `yaml:"database,omitempty"`
	ApplicationName string         `yaml:"application_name,omitempty"`
	State           string         `yaml:"state,omitempty"`
	IdleFor         model.Duration `yaml:"idle_for,omitempty"`
	Max             int            `yaml:"max,omitempty"` // default 50

	// postgres_failover (a major change: category major): promote the
	// standby of StandbyDSN* once the primary of PrimaryDSN* has failed
	// every check of escalator's own for UnreachableFor, no node of
	// OtherDSNFiles is a primary, and the standby's replay lag is within
	// MaxLag and MaxLagBytes. Nothing of the labels reaches it: they only
	// select the alerts that may run it.
	PrimaryDSNFile string         `yaml:"primary_dsn_file,omitempty"`
	PrimaryDSNEnv  string         `yaml:"primary_dsn_env,omitempty"`
	StandbyDSNFile string         `yaml:"standby_dsn_file,omitempty"`
	StandbyDSNEnv  string         `yaml:"standby_dsn_env,omitempty"`
	OtherDSNFiles  []string       `yaml:"other_dsn_files,omitempty"` // the cluster's other standbys
	UnreachableFor model.Duration `yaml:"unreachable_for,omitempty"` // default 30s, at least 5s
	MaxLag         model.Duration `yaml:"max_lag,omitempty"`         // default 10s
	MaxLagBytes    int            `yaml:"max_lag_bytes,omitempty"`   // default 16 MiB
}

// Budget caps the runs of one action, whatever the target: at most Max in
// any Window.
type Budget struct {
	Max    int            `yaml:"max"`
	Window model.Duration `yaml:"window"`
}

// Breaker stops automation that does not work: after Failures runs in
// a row failed (or were cut off), or a success followed by the alert
// firing again within RefireWithin, the action runs no more until a
// person resets it, and people are paged at once.
type Breaker struct {
	Failures     int            `yaml:"failures"`
	RefireWithin model.Duration `yaml:"refire_within"`
}

// Limits are the safety settings the store enforces for an action, with
// the defaults applied.
type Limits struct {
	Cooldown        time.Duration
	BudgetMax       int
	BudgetWindow    time.Duration
	Timeout         time.Duration
	DryRun          bool
	BreakerFailures int
	RefireWithin    time.Duration
	// Approval is how long a run waits for approval; 0: none needed.
	Approval time.Duration
}

// Limits returns c's limits with the defaults applied. A zero duration
// means the default: an action cannot be configured without a cooldown.
func (c *Config) Limits() Limits {
	l := Limits{
		Cooldown:     DefaultCooldown,
		BudgetMax:    DefaultBudgetMax,
		BudgetWindow: DefaultBudgetWindow,
		Timeout:      c.timeout(),
		DryRun:       c.DryRun == nil || *c.DryRun,

		BreakerFailures: DefaultBreakerFailures,
		RefireWithin:    DefaultRefireWithin,
	}
	if b := c.Breaker; b != nil {
		l.BreakerFailures, l.RefireWithin = b.Failures, time.Duration(b.RefireWithin)
	}
	if c.Category != CategoryEmergency {
		l.Approval = DefaultApprovalTimeout
		if c.ApprovalTimeout > 0 {
			l.Approval = time.Duration(c.ApprovalTimeout)
		}
	}
	if c.Cooldown > 0 {
		l.Cooldown = time.Duration(c.Cooldown)
	}
	if c.Budget != nil {
		l.BudgetMax = c.Budget.Max
		l.BudgetWindow = time.Duration(c.Budget.Window)
	}
	return l
}

func (c *Config) timeout() time.Duration {
	if c.Timeout <= 0 {
		return DefaultTimeout
	}
	return time.Duration(c.Timeout)
}

// commonKeys are the yaml keys every type reads.
var commonKeys = []string{"type", "category", "rollback", "dry_run", "timeout", "cooldown", "budget", "breaker", "approval_timeout", "precondition", "postcheck", "labels", "target_labels"}

// actionType is what a type's file declares: the keys it reads besides
// commonKeys, its checks and its constructor.
type actionType struct {
	name     string
	keys     []string
	validate func(c *Config, v *checker)
	build    func(name string, c *Config) (Action, error)
}

// actionTypes lists the types in the order errors name them.
var actionTypes = []actionType{httpType, execType, redisType, postgresType, failoverType}

func lookupType(name string) (actionType, bool) {
	i := slices.IndexFunc(actionTypes, func(t actionType) bool { return t.name == name })
	if i < 0 {
		return actionType{}, false
	}
	return actionTypes[i], true
}

func typeNames() string {
	names := make([]string, len(actionTypes))
	for i, t := range actionTypes {
		names[i] = t.name
	}
	return strings.Join(names, ", ")
}

// checker collects the problems of one action (yamlconf.Checker), with
// the checks of its templates.
type checker struct{ yamlconf.Checker }

// labelName is the classic Prometheus label name: templates reach a label
// as {{.name}}, which needs an identifier.
var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// Validate checks c, with path the dotted location of the action (e.g.
// "actions.clear_cache"). Each problem is a *yamlconf.FieldError, joined
// with errors.Join, so the loader can point at the line. Secrets are not
// read here: see New.
func (c *Config) Validate(path string) error {
	v := &checker{yamlconf.Checker{Path: path, Type: c.Type}}
	t, known := lookupType(c.Type)
	switch {
	case known:
		// A key the type ignores is most likely another type's action
		// pasted or mistyped; dropping it silently would run something
		// other than what was written.
		for _, k := range yamlconf.SetKeys(c) {
			if !slices.Contains(commonKeys, k) && !slices.Contains(t.keys, k) {
				v.Field(k, "not used by type %s", c.Type)
			}
		}
	case c.Type == "":
		v.Field("type", "required: one of %s", typeNames())
	default:
		v.Field("type", "must be one of %s, got %q", typeNames(), c.Type)
	}
	c.validateCommon(v)
	if known {
		t.validate(c, v)
	}
	return v.Err()
}

func (c *Config) validateCommon(v *checker) {
	switch {
	case c.Category == "":
		v.Field("category", "required: one of %s", strings.Join(categories, ", "))
	case !slices.Contains(categories, c.Category):
		v.Field("category", "must be one of %s, got %q", strings.Join(categories, ", "), c.Category)
	case c.Category == CategoryEmergency && c.ApprovalTimeout != 0:
		v.Field("approval_timeout", "an emergency change runs without approval (set category standard or major to require one)")
	}
	if c.ApprovalTimeout < 0 {
		v.Field("approval_timeout", "must not be negative")
	}
	c.validateChecks(v)
	if b := c.Breaker; b != nil {
		if b.Failures < 1 {
			v.Field("breaker.failures", "must be at least 1, got %d", b.Failures)
		}
		if b.RefireWithin < 0 {
			v.Field("breaker.refire_within", "must not be negative (0: no refire check)")
		}
	}
	if strings.TrimSpace(c.Rollback) == "" {
		v.Field("rollback", "required: how to undo the action by hand (emergency changes need a rollback plan)")
	}
	switch {
	case c.Timeout < 0:
		v.Field("timeout", "must not be negative")
	case time.Duration(c.Timeout) > MaxTimeout:
		v.Field("timeout", "at most %s, got %s", model.Duration(MaxTimeout), c.Timeout)
	}
	if c.Cooldown < 0 {
		v.Field("cooldown", "must not be negative")
	}
	if b := c.Budget; b != nil {
		if b.Max < 1 {
			v.Field("budget.max", "must be at least 1, got %d", b.Max)
		}
		if b.Window <= 0 {
			v.Field("budget.window", "must be positive")
		}
	}
	for _, name := range sortedKeys(c.Labels) {
		if !labelName.MatchString(name) {
			v.Field("labels."+name, "not a label name (letters, digits and _, not starting with a digit)")
			continue
		}
		if _, err := regexp.Compile(c.Labels[name]); err != nil {
			v.Field("labels."+name, "invalid pattern %q: %v", c.Labels[name], err)
		}
	}
	seen := map[string]bool{}
	for _, name := range c.TargetLabels {
		switch {
		case seen[name]:
			v.Field("target_labels", "%q listed twice", name)
		case !hasKey(c.Labels, name):
			v.Field("target_labels", "%q is not one of labels", name)
		}
		seen[name] = true
	}
}

// template checks one template field: it parses and, run over a sample
// value of every allowed label, references no other label.
func (v *checker) template(key, src string, c *Config, esc *escaper) {
	if _, err := parseTemplate(key, src, esc); err != nil {
		v.Field(key, "%v", err)
		return
	}
	if _, err := renderSample(key, src, c, esc); err != nil {
		v.Field(key, "%v", labelError(err, c))
	}
}

// missingLabel finds the label a template used that is not allowed, in
// text/template's words.
var missingLabel = regexp.MustCompile(`map has no entry for key "([^"]*)"`)

// labelError says in the configuration's words that a template uses a
// label the action does not take.
func labelError(err error, c *Config) error {
	m := missingLabel.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	return fmt.Errorf("uses label %s, which is not in labels (%s): add it there, with the pattern its values must match", m[1], strings.Join(sortedKeys(c.Labels), ", "))
}

// renderSample renders src over a sample value of each allowed label.
func renderSample(key, src string, c *Config, esc *escaper) (string, error) {
	t, err := parseTemplate(key, src, esc)
	if err != nil {
		return "", err
	}
	sample := make(map[string]string, len(c.Labels))
	for name := range c.Labels {
		sample[name] = "sample"
	}
	return t.render(sample)
}

func hasKey[V any](m map[string]V, k string) bool {
	_, ok := m[k]
	return ok
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// errorf is fmt.Errorf prefixed with the action's name, so an error from
// deep in a client says which action it came from.
func errorf(name, format string, args ...any) error {
	return fmt.Errorf("action %s: "+format, append([]any{name}, args...)...)
}
