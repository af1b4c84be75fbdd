// Package config is escalator's configuration file: the store, the
// channels notifications go to, and the escalation policies.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"

	"github.com/hotel-ops/hotel-ops/internal/yamlconf"
	"github.com/hotel-ops/hotel-ops/webhook/action"
	"github.com/hotel-ops/hotel-ops/webhook/callback"
	"github.com/hotel-ops/hotel-ops/webhook/diagnose"
	"github.com/hotel-ops/hotel-ops/webhook/notify"
	"github.com/hotel-ops/hotel-ops/webhook/policy"
)

// Config is escalator's configuration.
type Config struct {
	// ExternalURL is how people reach escalator: acknowledgement links
	// and the console are built on it.
	ExternalURL string `yaml:"external_url"`
	Store       Store  `yaml:"store"`
	// HistoryRetention is how long resolved incidents and the audit log
	// are kept (default 90d).
	HistoryRetention model.Duration `yaml:"history_retention,omitempty"`
	AckLinks         AckLinks       `yaml:"ack_links"`
	// ConsoleUsersFile lists the people who sign in to the console (with
	// --api.token-file): `users: {name: bcrypt hash}`, the shape of
	// exporter-toolkit's basic_auth_users. Read again when it changes.
	// Without it the console has no accounts: the API token is the
	// machines', never a person's.
	ConsoleUsersFile string                          `yaml:"console_users_file,omitempty"`
	Channels         map[string]notify.ChannelConfig `yaml:"channels"`
	// Callbacks, when set, let people acknowledge from Slack's button and
	// from PagerDuty: the signing secrets of those requests.
	Callbacks callback.Config `yaml:"callbacks,omitempty"`
	// Alertmanager, when set, is read to close incidents whose resolve
	// was missed, and written to silence acknowledged alerts.
	Alertmanager *Alertmanager `yaml:"alertmanager,omitempty"`
	// Maintenance is the spec's planned stops, which `escalator
	// maintenance start` silences (critical alerts included) for at most
	// their max.
	Maintenance []Maintenance `yaml:"maintenance,omitempty"`
	// Actions are the auto-recovery actions policy steps may run, by
	// name (webhook/action): what each does, and the cooldown, budget and
	// dry run it is held to.
	Actions map[string]action.Config `yaml:"actions,omitempty"`
	// Prometheus is asked the actions' preconditions and post-checks
	// (its HTTP API, an instant query).
	Prometheus *Prometheus `yaml:"prometheus,omitempty"`
	// Diagnostics are the health checks run when an incident opens
	// (those whose matchers its labels match), their summary sent with
	// its trigger notifications and kept in its timeline.
	Diagnostics []diagnose.Check `yaml:"diagnostics,omitempty"`
	// DailyHealth sends every diagnostic's summary to channels once a
	// day (the spec's 09:00 health check), from one replica.
	DailyHealth *DailyHealth `yaml:"daily_health,omitempty"`
	policy.File `yaml:",inline"`
}

// Prometheus is the server actions' checks are asked of.
type Prometheus struct {
	URL        string                     `yaml:"url"`
	HTTPConfig commoncfg.HTTPClientConfig `yaml:"http_config,omitempty"`
}

// DailyHealth is the daily health check's time and channels.
type DailyHealth struct {
	At       string   `yaml:"at"`        // HH:MM (default 09:00)
	TimeZone string   `yaml:"time_zone"` // IANA name (default UTC)
	Channels []string `yaml:"channels"`
}

// Clock returns the hour, minute and zone of the check (validated).
func (d *DailyHealth) Clock() (hour, minute int, zone *time.Location) {
	at := d.At
	if at == "" {
		at = "09:00"
	}
	t, _ := time.Parse("15:04", at)
	zone, err := time.LoadLocation(d.TimeZone)
	if err != nil {
		zone = time.UTC
	}
	return t.Hour(), t.Minute(), zone
}

func (c *Config) validateDaily() []error {
	d := c.DailyHealth
	if d == nil {
		return nil
	}
	var errs []error
	if _, err := time.Parse("15:04", d.At); d.At != "" && err != nil {
		errs = append(errs, yamlconf.Fieldf("daily_health.at", "%q is not HH:MM", d.At))
	}
	if _, err := time.LoadLocation(d.TimeZone); err != nil {
		errs = append(errs, yamlconf.Fieldf("daily_health.time_zone", "%q: %v", d.TimeZone, err))
	}
	if len(c.Diagnostics) == 0 {
		errs = append(errs, yamlconf.Fieldf("daily_health", "needs diagnostics: the check sends their summary"))
	}
	if len(d.Channels) == 0 {
		errs = append(errs, yamlconf.Fieldf("daily_health.channels", "required"))
	}
	for _, ch := range d.Channels {
		cc, ok := c.Channels[ch]
		switch {
		case !ok:
			errs = append(errs, yamlconf.Fieldf("daily_health.channels", "unknown channel %q", ch))
		case cc.Type == "pagerduty":
			errs = append(errs, yamlconf.Fieldf("daily_health.channels", "%q is PagerDuty, which pages people: send reports to Slack, e-mail or a webhook", ch))
		}
	}
	return errs
}

// Maintenance is a planned stop of the spec: what its silences cover and
// how long they may last at most.
type Maintenance struct {
	Name     string         `yaml:"name"`
	Max      model.Duration `yaml:"max"`
	Silences [][]string     `yaml:"silences"` // each entry: Alertmanager label matchers of one silence
}

// Alertmanager is the cluster escalator reconciles with (API v2).
type Alertmanager struct {
	URLs       []string                   `yaml:"urls"` // every peer
	HTTPConfig commoncfg.HTTPClientConfig `yaml:"http_config,omitempty"`
	// ReconcileInterval between passes (default 1m).
	ReconcileInterval model.Duration `yaml:"reconcile_interval,omitempty"`
	// SilenceOnAck, when set, silences an acknowledged incident's alert for
	// at most this long; the silence is expired when the incident resolves.
	SilenceOnAck model.Duration `yaml:"silence_on_ack,omitempty"`
}

// Store selects the store: the embedded one (a file) or PostgreSQL for
// several replicas. The DSN holds a password, so it is read from a file or
// an environment variable, never written in this file.
type Store struct {
	Path     string    `yaml:"path,omitempty"` // the embedded store's directory (a bbolt file of an earlier version is migrated)
	Postgres *Postgres `yaml:"postgres,omitempty"`
}

// Postgres is the PostgreSQL store's connection.
type Postgres struct {
	DSNFile string `yaml:"dsn_file"`
	DSNEnv  string `yaml:"dsn_env"`
}

// AckLinks configures the signed links in notifications.
type AckLinks struct {
	SecretFile string         `yaml:"secret_file"`
	TTL        model.Duration `yaml:"ttl"`
}

// Validate implements yamlconf.Validator.
func (c *Config) Validate() error {
	var errs []error
	if c.ExternalURL != "" {
		if u, err := url.Parse(c.ExternalURL); err != nil || u.Scheme == "" || u.Host == "" {
			errs = append(errs, yamlconf.Fieldf("external_url", "%q is not an absolute URL", c.ExternalURL))
		}
	}
	switch pg := c.Store.Postgres; {
	case pg == nil && c.Store.Path == "":
		errs = append(errs, yamlconf.Fieldf("store", "set path (the embedded store's directory) or postgres"))
	case pg != nil && c.Store.Path != "":
		errs = append(errs, yamlconf.Fieldf("store", "set path or postgres, not both"))
	case pg != nil && (pg.DSNFile == "") == (pg.DSNEnv == ""):
		errs = append(errs, yamlconf.Fieldf("store.postgres", "set one of dsn_file and dsn_env"))
	}
	if r := time.Duration(c.HistoryRetention); r != 0 && r < 24*time.Hour {
		errs = append(errs, yamlconf.Fieldf("history_retention", "%s: keep at least a day, so that incidents stay in the console while people work on them", c.HistoryRetention))
	}
	if c.AckLinks.SecretFile != "" && c.ExternalURL == "" {
		errs = append(errs, yamlconf.Fieldf("external_url", "required for acknowledgement links"))
	}
	if am := c.Alertmanager; am != nil {
		if len(am.URLs) == 0 {
			errs = append(errs, yamlconf.Fieldf("alertmanager.urls", "required: every Alertmanager peer's URL"))
		}
		for i, raw := range am.URLs {
			if u, err := url.Parse(raw); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
				errs = append(errs, yamlconf.Fieldf(fmt.Sprintf("alertmanager.urls[%d]", i), "%q is not an http(s) URL", raw))
			}
		}
		if err := am.HTTPConfig.Validate(); err != nil {
			errs = append(errs, yamlconf.Fieldf("alertmanager.http_config", "%v", err))
		}
	}
	errs = append(errs, validateMaintenance(c.Maintenance)...)
	if err := c.Callbacks.Validate("callbacks"); err != nil {
		errs = append(errs, err)
	}
	names := map[string]bool{}
	keys := make([]string, 0, len(c.Channels))
	for name := range c.Channels {
		keys = append(keys, name)
	}
	sort.Strings(keys)
	for _, name := range keys {
		names[name] = true
		if err := c.Channels[name].Validate("channels." + name); err != nil {
			errs = append(errs, err)
		}
	}
	actions := map[string]bool{}
	keys = keys[:0]
	for name := range c.Actions {
		keys = append(keys, name)
	}
	sort.Strings(keys)
	for _, name := range keys {
		actions[name] = true
		if !actionName.MatchString(name) {
			errs = append(errs, yamlconf.Fieldf("actions."+name, "name: letters, digits, _ and - only"))
		}
		a := c.Actions[name]
		if err := a.Validate("actions." + name); err != nil {
			errs = append(errs, err)
		}
		if a.HasChecks() && c.Prometheus == nil {
			errs = append(errs, yamlconf.Fieldf("actions."+name, "precondition and postcheck ask Prometheus: set prometheus.url"))
		}
	}
	seenCheck := map[string]bool{}
	for i := range c.Diagnostics {
		path := fmt.Sprintf("diagnostics[%d]", i)
		if err := c.Diagnostics[i].Validate(path); err != nil {
			errs = append(errs, err)
		}
		if name := c.Diagnostics[i].Name; seenCheck[name] {
			errs = append(errs, yamlconf.Fieldf(path+".name", "%q used twice", name))
		}
		seenCheck[c.Diagnostics[i].Name] = true
	}
	errs = append(errs, c.validateDaily()...)
	if p := c.Prometheus; p != nil {
		if u, err := url.Parse(p.URL); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			errs = append(errs, yamlconf.Fieldf("prometheus.url", "%q is not an http(s) URL", p.URL))
		}
		if err := p.HTTPConfig.Validate(); err != nil {
			errs = append(errs, yamlconf.Fieldf("prometheus.http_config", "%v", err))
		}
	}
	if err := c.File.Validate(names, actions); err != nil {
		errs = append(errs, fmt.Errorf("policies: %w", err))
	}
	return errors.Join(errs...)
}

var actionName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// validateMaintenance checks the planned stops: unique names, a positive
// max, and silences Alertmanager would accept.
func validateMaintenance(stops []Maintenance) []error {
	var errs []error
	seen := map[string]bool{}
	for i, m := range stops {
		at := fmt.Sprintf("maintenance[%d]", i)
		switch {
		case m.Name == "":
			errs = append(errs, yamlconf.Fieldf(at+".name", "required"))
		case seen[m.Name]:
			errs = append(errs, yamlconf.Fieldf(at+".name", "%q: another planned stop has this name", m.Name))
		}
		seen[m.Name] = true
		if m.Max <= 0 {
			errs = append(errs, yamlconf.Fieldf(at+".max", "required: the longest the planned stop's silences may last"))
		}
		if len(m.Silences) == 0 {
			errs = append(errs, yamlconf.Fieldf(at+".silences", "at least one silence"))
		}
		for j, ms := range m.Silences {
			where := fmt.Sprintf("%s.silences[%d]", at, j)
			if len(ms) == 0 {
				errs = append(errs, yamlconf.Fieldf(where, "at least one matcher"))
				continue
			}
			matchesEmpty, parsed := true, true
			for _, raw := range ms {
				pm, err := labels.ParseMatcher(raw)
				if err != nil {
					errs = append(errs, yamlconf.Fieldf(where, "%q: %v", raw, err))
					parsed = false
					continue
				}
				matchesEmpty = matchesEmpty && pm.Matches("")
			}
			if parsed && matchesEmpty {
				// Such a silence would cover alerts that lack every label
				// named; Alertmanager refuses it.
				errs = append(errs, yamlconf.Fieldf(where, "%q: at least one matcher must not match the empty string", ms))
			}
		}
	}
	return errs
}

// Stop returns the planned stop of that name, nil when none.
func (c *Config) Stop(name string) *Maintenance {
	for i := range c.Maintenance {
		if c.Maintenance[i].Name == name {
			return &c.Maintenance[i]
		}
	}
	return nil
}

// Load reads and validates the file.
func Load(path string) (*Config, error) {
	var c Config
	if err := yamlconf.Load(path, &c); err != nil {
		return nil, err
	}
	return &c, nil
}
