// Package config reads sla_exporter's YAML configuration: where the
// business data lives (a PostgreSQL read replica, Redis), the queries
// that turn it into metrics, how the SLA is computed per calendar period
// from Prometheus, and where escalator's incidents are read.
package config

import (
	"errors"
	"fmt"
	"math/big"
	"os"
	"regexp"
	"strings"
	"time"

	amconfig "github.com/prometheus/alertmanager/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/hotel-ops/hotel-ops/internal/secret"
	"github.com/hotel-ops/hotel-ops/internal/yamlconf"
)

// Config is the whole file.
type Config struct {
	Database  *Database  `yaml:"database"`
	Redis     *Redis     `yaml:"redis"`
	Queries   []Query    `yaml:"queries"`
	SLA       *SLA       `yaml:"sla"`
	Escalator *Escalator `yaml:"escalator"`
	Reports   Reports    `yaml:"reports"`
}

// Database is the PostgreSQL server the SQL queries run on: a read
// replica by default, so that reporting never competes with bookings.
type Database struct {
	DSNFile string `yaml:"dsn_file"`
	DSNEnv  string `yaml:"dsn_env"`
	// MaxConns bounds the connections the queries use at once (default 4).
	MaxConns int32 `yaml:"max_conns"`
}

// DSN reads the connection string (it may hold a password).
func (d *Database) DSN() (string, error) { return secret.Read(d.DSNFile, d.DSNEnv) }

// Redis is the cache the Redis queries read.
type Redis struct {
	Addr         string `yaml:"addr"` // host:port
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
	PasswordEnv  string `yaml:"password_env"`
	DB           int    `yaml:"db"`
}

// Password reads the Redis password; "" when none is configured.
func (r *Redis) Password() (string, error) { return secret.Optional(r.PasswordFile, r.PasswordEnv) }

// Query is one business query: SQL run on the database, or one read-only
// Redis command, on its own interval in the background.
type Query struct {
	Name     string         `yaml:"name"`
	Interval model.Duration `yaml:"interval"` // default 1m
	Timeout  model.Duration `yaml:"timeout"`  // default 10s; at most the interval
	// MaxSeries caps the series one run may produce (default 1000): a run
	// over it is refused whole and reported, the last good values kept.
	MaxSeries int `yaml:"max_series"`
	// Labels are constant labels of every series of the query.
	Labels map[string]string `yaml:"labels"`

	// SQL: a statement run in a read-only transaction with
	// statement_timeout; each row gives one sample of each metric.
	SQL     string   `yaml:"sql"`
	Metrics []Metric `yaml:"metrics"`

	// Redis: one read-only command giving one value.
	Redis *RedisCommand `yaml:"redis"`
}

// Source is "sql" or "redis".
func (q *Query) Source() string {
	if q.Redis != nil {
		return "redis"
	}
	return "sql"
}

// Metric is what one column of a SQL query's rows becomes.
type Metric struct {
	Name   string   `yaml:"name"`
	Type   string   `yaml:"type"` // gauge (default) or counter
	Help   string   `yaml:"help"`
	Value  string   `yaml:"value"`  // the column holding the value
	Labels []string `yaml:"labels"` // columns that become labels
}

// RedisCommand is a read-only Redis command. Only these are accepted:
// SCARD key, PFCOUNT key, ZCOUNT key min max, GET key (a number),
// DBSIZE, and INFO section field (e.g. stats keyspace_hits).
type RedisCommand struct {
	Command string `yaml:"command"`
	Key     string `yaml:"key"`
	Min     string `yaml:"min"`     // ZCOUNT; "-inf", a score, or "now-15m" (seconds since the epoch, 15 minutes ago)
	Max     string `yaml:"max"`     // ZCOUNT; "+inf", a score, or "now"
	Section string `yaml:"section"` // INFO
	Field   string `yaml:"field"`   // INFO
	Metric  string `yaml:"metric"`
	Type    string `yaml:"type"` // gauge (default) or counter
	Help    string `yaml:"help"`
}

// RedisCommands are the commands a Redis query may run, with the
// arguments each needs.
var RedisCommands = map[string][]string{
	"SCARD":   {"key"},
	"PFCOUNT": {"key"},
	"ZCOUNT":  {"key", "min", "max"},
	"GET":     {"key"},
	"DBSIZE":  {},
	"INFO":    {"section", "field"},
}

// SLA says how availability is computed per calendar period from
// Prometheus.
type SLA struct {
	PrometheusURL   string `yaml:"prometheus_url"`
	BearerTokenFile string `yaml:"bearer_token_file"`
	BearerTokenEnv  string `yaml:"bearer_token_env"`
	// Timezone of the calendar periods (default Asia/Tokyo, the spec's).
	Timezone string `yaml:"timezone"`
	// Spans are the kinds of period exported, each current and previous
	// (default month, quarter, year).
	Spans []string `yaml:"spans"`
	// Step is the resolution of uptime: each step is up, down, in
	// planned maintenance or unmeasured (default 1m).
	Step model.Duration `yaml:"step"`
	// Refresh is how often the current periods are recomputed (default
	// 5m); finished periods are computed once and kept.
	Refresh model.Duration `yaml:"refresh"`
	// Timeout bounds one Prometheus query (default 1m).
	Timeout     model.Duration `yaml:"timeout"`
	Maintenance Maintenance    `yaml:"maintenance"`
	SLOs        []SLO          `yaml:"slos"`

	Location *time.Location `yaml:"-"`
}

// BearerToken reads the token for Prometheus; "" when none is configured.
func (s *SLA) BearerToken() (string, error) {
	return secret.Optional(s.BearerTokenFile, s.BearerTokenEnv)
}

// Maintenance is the planned maintenance of the spec (保守作業計画).
type Maintenance struct {
	// CountAsDowntime makes downtime inside a planned window count
	// against the SLA. Default false: the spec plans up to an hour of
	// stopped service in the monthly maintenance (計画停止（最大1時間）)
	// while promising 99.99 % (4.3 minutes a month), which only holds if
	// planned windows are excluded, as SLA contracts usually write it.
	CountAsDowntime bool `yaml:"count_as_downtime"`
	// TimeIntervals are the planned windows, in Alertmanager's
	// time_intervals syntax (the generated alertmanager.yml holds the
	// spec's).
	TimeIntervals []amconfig.TimeInterval `yaml:"time_intervals"`
}

// SLO is one objective. An uptime SLO has Up, a PromQL expression that
// is 1 while the service is up and 0 while it is down (no value:
// unmeasured); a request SLO has Good and Total, counter selectors whose
// increases are summed over the period.
type SLO struct {
	Name      string `yaml:"name"`
	Objective Ratio  `yaml:"objective"` // "99.99%" or 0.9999
	Up        string `yaml:"up"`
	Good      string `yaml:"good"`
	Total     string `yaml:"total"`
}

// Kind is "uptime" or "requests".
func (o *SLO) Kind() string {
	if o.Up != "" {
		return "uptime"
	}
	return "requests"
}

// Escalator is where incidents are read for the incident figures.
type Escalator struct {
	URL       string         `yaml:"url"` // e.g. http://127.0.0.1:9095
	TokenFile string         `yaml:"token_file"`
	TokenEnv  string         `yaml:"token_env"`
	Refresh   model.Duration `yaml:"refresh"` // default 1m
}

// Token reads escalator's API token.
func (e *Escalator) Token() (string, error) { return secret.Read(e.TokenFile, e.TokenEnv) }

// Ratio is a share written as "99.99%" or 0.9999, kept exact in Raw.
type Ratio struct {
	Raw   string
	Value float64
}

// UnmarshalYAML reads "99.99%" or a number in (0, 1). A value that is
// neither is kept in Raw for Validate to report with its line.
func (r *Ratio) UnmarshalYAML(unmarshal func(any) error) error {
	var s string
	if err := unmarshal(&s); err != nil {
		return err
	}
	v, err := ParseRatio(s)
	if err != nil {
		*r = Ratio{Raw: s}
		return nil
	}
	*r = v
	return nil
}

// MarshalYAML writes the ratio as it was read.
func (r Ratio) MarshalYAML() (any, error) { return r.Raw, nil }

// ParseRatio reads "99.99%" or "0.9999": strictly between 0 and 1.
func ParseRatio(s string) (Ratio, error) {
	s = strings.TrimSpace(s)
	num := s
	pct := strings.HasSuffix(s, "%")
	if pct {
		num = strings.TrimSuffix(s, "%")
	}
	x, ok := new(big.Rat).SetString(num)
	if !ok {
		return Ratio{}, fmt.Errorf("%q is not a ratio (99.99%% or 0.9999)", s)
	}
	if pct {
		x.Quo(x, big.NewRat(100, 1))
	}
	if !pct && x.Cmp(big.NewRat(1, 1)) > 0 && x.Cmp(big.NewRat(100, 1)) < 0 {
		frac := strings.TrimRight(new(big.Rat).Quo(x, big.NewRat(100, 1)).FloatString(12), "0")
		return Ratio{}, fmt.Errorf("%s is not a ratio: write %s%% (or %s as a fraction)", s, s, frac)
	}
	if x.Sign() <= 0 || x.Cmp(big.NewRat(1, 1)) >= 0 {
		return Ratio{}, fmt.Errorf("%q must be between 0 and 100%% (exclusive)", s)
	}
	f, _ := x.Float64()
	return Ratio{Raw: s, Value: f}, nil
}

// Defaults are the values of everything the file leaves out.
const (
	DefaultInterval  = model.Duration(time.Minute)
	DefaultTimeout   = model.Duration(10 * time.Second)
	DefaultMaxSeries = 1000
	DefaultMaxConns  = 4
)

// Load reads a configuration file.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return Parse(path, data)
}

// Parse is Load on bytes read already: defaults filled in, everything
// validated, errors pointing at the line of each problem.
func Parse(name string, data []byte) (*Config, error) {
	var c Config
	if err := yamlconf.Parse(name, data, &c); err != nil {
		return nil, err
	}
	c.fill()
	return &c, nil
}

func (c *Config) fill() {
	if c.Database != nil && c.Database.MaxConns == 0 {
		c.Database.MaxConns = DefaultMaxConns
	}
	for i := range c.Queries {
		q := &c.Queries[i]
		if q.Interval == 0 {
			q.Interval = DefaultInterval
		}
		if q.Timeout == 0 {
			q.Timeout = min(DefaultTimeout, q.Interval)
		}
		if q.MaxSeries == 0 {
			q.MaxSeries = DefaultMaxSeries
		}
		for j := range q.Metrics {
			if q.Metrics[j].Type == "" {
				q.Metrics[j].Type = "gauge"
			}
		}
		if q.Redis != nil {
			q.Redis.Command = strings.ToUpper(q.Redis.Command)
			if q.Redis.Type == "" {
				q.Redis.Type = "gauge"
			}
		}
	}
	if s := c.SLA; s != nil {
		if s.Timezone == "" {
			s.Timezone = "Asia/Tokyo"
		}
		s.Location, _ = time.LoadLocation(s.Timezone) // validated
		if len(s.Spans) == 0 {
			s.Spans = []string{"month", "quarter", "year"}
		}
		if s.Step == 0 {
			s.Step = model.Duration(time.Minute)
		}
		if s.Refresh == 0 {
			s.Refresh = model.Duration(5 * time.Minute)
		}
		if s.Timeout == 0 {
			s.Timeout = model.Duration(time.Minute)
		}
	}
	if e := c.Escalator; e != nil && e.Refresh == 0 {
		e.Refresh = model.Duration(time.Minute)
	}
}

var (
	metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelName  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	queryName  = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
)

// Own are the names the exporter exports itself (its query health, the
// SLA and the incident figures): a query may not take them. A test of
// the command checks the list against the collectors' descriptors.
var Own = []string{
	"sla_query_up", "sla_query_last_success_timestamp_seconds", "sla_query_duration_seconds",
	"sla_query_errors_total", "sla_query_series",
	"sla_availability_ratio", "sla_error_budget_remaining_ratio", "sla_objective_ratio", "sla_downtime_seconds",
	"sla_maintenance_downtime_seconds", "sla_unmeasured_seconds", "sla_period_elapsed_ratio",
	"sla_refresh_duration_seconds", "sla_refresh_errors_total", "sla_refresh_last_success_timestamp_seconds",
	"sla_incidents", "sla_incidents_automated", "sla_incidents_resolved", "sla_incident_mttr_seconds",
	"sla_incident_mtbf_seconds", "sla_automation_ratio",
	"sla_escalator_up", "sla_escalator_last_success_timestamp_seconds", "sla_escalator_refresh_duration_seconds",
	"sla_escalator_refresh_errors_total",
}

// Validate implements yamlconf.Validator.
func (c *Config) Validate() error {
	var errs []error
	add := func(path, format string, args ...any) { errs = append(errs, yamlconf.Fieldf(path, format, args...)) }
	if c.Database != nil {
		v := yamlconf.Checker{Path: "database"}
		v.Secret("dsn", c.Database.DSNFile, c.Database.DSNEnv, true)
		errs = append(errs, v.Err())
		if c.Database.MaxConns < 0 {
			add("database.max_conns", "must be positive")
		}
	}
	if c.Redis != nil {
		if c.Redis.Addr == "" {
			add("redis.addr", "required (host:port)")
		}
		v := yamlconf.Checker{Path: "redis"}
		v.Secret("password", c.Redis.PasswordFile, c.Redis.PasswordEnv, false)
		errs = append(errs, v.Err())
	}
	own := map[string]bool{}
	for _, n := range Own {
		own[n] = true
	}
	names := map[string]bool{}
	metrics := map[string]string{} // metric name → query that defines it
	for i, q := range c.Queries {
		p := fmt.Sprintf("queries[%d]", i)
		checkName(add, p+".name", q.Name, "query", names)
		if q.Interval < 0 || (q.Interval > 0 && time.Duration(q.Interval) < time.Second) {
			add(p+".interval", "must be at least 1s")
		}
		if q.Timeout < 0 || (q.Interval > 0 && q.Timeout > q.Interval) {
			add(p+".timeout", "must be positive and at most the interval (%s)", q.Interval)
		}
		if q.MaxSeries < 0 {
			add(p+".max_series", "must be positive")
		}
		for k := range q.Labels {
			if !labelName.MatchString(k) || strings.HasPrefix(k, "__") {
				add(p+".labels", "%q is not a valid label name", k)
			}
			if k == "query" {
				add(p+".labels", "label query is the exporter's own (the query's name)")
			}
		}
		define := func(path, name string) {
			switch {
			case !metricName.MatchString(name):
				add(path, "%q is not a valid metric name", name)
			case own[name]:
				add(path, "%q is one of the exporter's own metrics", name)
			case metrics[name] != "" && metrics[name] != q.Name:
				add(path, "%q is defined by query %s too", name, metrics[name])
			}
			metrics[name] = q.Name
		}
		checkType := func(path, typ, name string) {
			switch typ {
			case "gauge", "":
			case "counter":
				if !strings.HasSuffix(name, "_total") {
					add(path, "a counter's name ends in _total (got %q)", name)
				}
			default:
				add(path, "want gauge or counter, got %q", typ)
			}
		}
		switch {
		case q.Redis != nil && (q.SQL != "" || len(q.Metrics) > 0):
			add(p, "a query is either sql (with metrics) or redis, not both")
		case q.Redis != nil:
			if c.Redis == nil {
				add(p+".redis", "needs the redis section")
			}
			r := q.Redis
			args, ok := RedisCommands[strings.ToUpper(r.Command)]
			if !ok {
				add(p+".redis.command", "%q is not an allowed read-only command (SCARD, PFCOUNT, ZCOUNT, GET, DBSIZE, INFO)", r.Command)
			} else {
				given := map[string]string{"key": r.Key, "min": r.Min, "max": r.Max, "section": r.Section, "field": r.Field}
				want := map[string]bool{}
				for _, a := range args {
					want[a] = true
					if given[a] == "" {
						add(p+".redis."+a, "required for %s", strings.ToUpper(r.Command))
					}
				}
				for a, v := range given {
					if v != "" && !want[a] {
						add(p+".redis."+a, "%s takes no %s", strings.ToUpper(r.Command), a)
					}
				}
				for _, a := range []string{"min", "max"} {
					if want[a] {
						if _, err := ParseScore(given[a]); err != nil {
							add(p+".redis."+a, "%v", err)
						}
					}
				}
			}
			define(p+".redis.metric", r.Metric)
			checkType(p+".redis.type", r.Type, r.Metric)
		default:
			if c.Database == nil {
				add(p, "an sql query needs the database section")
			}
			if strings.TrimSpace(q.SQL) == "" {
				add(p+".sql", "required (or redis)")
			}
			if len(q.Metrics) == 0 {
				add(p+".metrics", "at least one metric")
			}
			for j, m := range q.Metrics {
				mp := fmt.Sprintf("%s.metrics[%d]", p, j)
				define(mp+".name", m.Name)
				checkType(mp+".type", m.Type, m.Name)
				if m.Value == "" {
					add(mp+".value", "required: the column holding the value")
				}
				seen := map[string]bool{}
				for _, l := range m.Labels {
					switch {
					case !labelName.MatchString(l) || strings.HasPrefix(l, "__"):
						add(mp+".labels", "column %q is not a valid label name", l)
					case seen[l], q.Labels[l] != "":
						add(mp+".labels", "label %q given twice", l)
					case l == "query":
						add(mp+".labels", "label query is the exporter's own")
					case l == m.Value:
						add(mp+".labels", "column %q is the value", l)
					}
					seen[l] = true
				}
			}
		}
	}
	if s := c.SLA; s != nil {
		errs = append(errs, s.validate())
	}
	if e := c.Escalator; e != nil {
		if p := yamlconf.HTTPURLProblem(e.URL); p != "" {
			add("escalator.url", "%s", p)
		}
		v := yamlconf.Checker{Path: "escalator"}
		v.Secret("token", e.TokenFile, e.TokenEnv, true)
		errs = append(errs, v.Err())
	}
	for i, tr := range c.Reports.Trends {
		p := fmt.Sprintf("reports.trends[%d]", i)
		if tr.Name == "" {
			add(p+".name", "required")
		}
		if msg := promQLProblem(tr.Expr, false); msg != "" {
			add(p+".expr", "%s", msg)
		}
	}
	for i, f := range c.Reports.Forecasts {
		p := fmt.Sprintf("reports.forecasts[%d]", i)
		if f.Name == "" {
			add(p+".name", "required")
		}
		if msg := promQLProblem(f.Expr, false); msg != "" {
			add(p+".expr", "%s", msg)
		}
		if f.Warning <= 0 {
			add(p+".warning", "required: the level not to cross, e.g. 0.8")
		}
	}
	if c.Reports.LoginFailures != "" {
		if msg := promQLProblem(c.Reports.LoginFailures, true); msg != "" {
			add("reports.login_failures", "%s", msg)
		}
	}
	if c.Database == nil && c.Redis == nil && c.SLA == nil && c.Escalator == nil {
		errs = append(errs, errors.New("nothing to do: configure at least one of database, redis, sla, escalator"))
	}
	return errors.Join(errs...)
}

func (s *SLA) validate() error {
	var errs []error
	add := func(path, format string, args ...any) { errs = append(errs, yamlconf.Fieldf(path, format, args...)) }
	if p := yamlconf.HTTPURLProblem(s.PrometheusURL); p != "" {
		add("sla.prometheus_url", "%s", p)
	}
	v := yamlconf.Checker{Path: "sla"}
	v.Secret("bearer_token", s.BearerTokenFile, s.BearerTokenEnv, false)
	errs = append(errs, v.Err())
	if s.Timezone != "" {
		if _, err := time.LoadLocation(s.Timezone); err != nil {
			add("sla.timezone", "unknown time zone %q", s.Timezone)
		}
	}
	for _, sp := range s.Spans {
		if sp != "week" && sp != "month" && sp != "quarter" && sp != "year" {
			add("sla.spans", "want week, month, quarter or year, got %q", sp)
		}
	}
	if s.Step != 0 && (time.Duration(s.Step) < 10*time.Second || time.Duration(s.Step) > time.Hour || time.Hour%time.Duration(s.Step) != 0) {
		add("sla.step", "must divide an hour, between 10s and 1h (got %s)", s.Step)
	}
	if s.Refresh < 0 {
		add("sla.refresh", "must be positive")
	}
	if s.Timeout < 0 {
		add("sla.timeout", "must be positive")
	}
	for i, ti := range s.Maintenance.TimeIntervals {
		if ti.Name == "" {
			add(fmt.Sprintf("sla.maintenance.time_intervals[%d].name", i), "required")
		}
	}
	if len(s.SLOs) == 0 {
		add("sla.slos", "at least one SLO")
	}
	names := map[string]bool{}
	for i, o := range s.SLOs {
		p := fmt.Sprintf("sla.slos[%d]", i)
		checkName(add, p+".name", o.Name, "SLO", names)
		if o.Objective.Raw == "" {
			add(p+".objective", "required (e.g. 99.99%%)")
		} else if _, err := ParseRatio(o.Objective.Raw); err != nil {
			add(p+".objective", "%v", err)
		}
		for _, e := range []struct{ key, expr string }{{"up", o.Up}, {"good", o.Good}, {"total", o.Total}} {
			if e.expr == "" {
				continue
			}
			if msg := promQLProblem(e.expr, e.key != "up"); msg != "" {
				add(p+"."+e.key, "%s", msg)
			}
		}
		switch {
		case o.Up != "" && (o.Good != "" || o.Total != ""):
			add(p, "an SLO is either uptime (up) or requests (good and total), not both")
		case o.Up == "" && (o.Good == "" || o.Total == ""):
			add(p, "give up (uptime), or good and total (requests)")
		}
	}
	return errors.Join(errs...)
}

// checkName refuses a query's or an SLO's name that is not a label
// value of the simple kind, or that another of its kind has (seen).
func checkName(add func(path, format string, args ...any), path, name, kind string, seen map[string]bool) {
	switch {
	case !queryName.MatchString(name):
		add(path, "want lower-case letters, digits and _, starting with a letter, got %q", name)
	case seen[name]:
		add(path, "%q is used by another %s", name, kind)
	}
	seen[name] = true
}

// ParseScore reads a ZCOUNT bound: -inf, +inf, a number, or now / now-15m
// (seconds since the epoch, for sorted sets scored by time).
func ParseScore(s string) (Score, error) {
	switch {
	case s == "-inf" || s == "+inf" || s == "inf":
		return Score{Literal: s}, nil
	case s == "now":
		return Score{Now: true}, nil
	case strings.HasPrefix(s, "now-"):
		d, err := model.ParseDuration(strings.TrimPrefix(s, "now-"))
		if err != nil {
			return Score{}, fmt.Errorf("%q: want now-<duration>, e.g. now-15m", s)
		}
		return Score{Now: true, Minus: time.Duration(d)}, nil
	}
	if _, ok := new(big.Float).SetString(s); !ok {
		return Score{}, fmt.Errorf("%q is not a score (-inf, +inf, a number, now, now-15m)", s)
	}
	return Score{Literal: s}, nil
}

// Score is a parsed ZCOUNT bound.
type Score struct {
	Literal string
	Now     bool
	Minus   time.Duration
}

// At is the bound as Redis reads it at time now.
func (s Score) At(now time.Time) string {
	if !s.Now {
		return s.Literal
	}
	return fmt.Sprintf("%d", now.Add(-s.Minus).Unix())
}

// Reports says what the weekly and monthly reports show beyond the SLA
// and the incidents.
type Reports struct {
	// Title heads every report (default "Hotel Ops").
	Title string `yaml:"title"`
	// Trends are the performance series of the weekly report, each a
	// PromQL expression charted over the period.
	Trends []Trend `yaml:"trends"`
	// Forecasts are the resources of the monthly capacity forecast: an
	// expression of the used share (0–1) and the warning level it must
	// not cross; the report says in how many days it will at the
	// period's rate (predict_linear).
	Forecasts []Forecast `yaml:"forecasts"`
	// LoginFailures counts failed logins (a counter selector) for the
	// monthly security section.
	LoginFailures string `yaml:"login_failures"`
}

// Trend is one charted series.
type Trend struct {
	Name string `yaml:"name"`
	Expr string `yaml:"expr"`
	Unit string `yaml:"unit"` // s, percent (a 0–1 ratio), or a word such as req/s
	// Target, when set, is drawn as a line (e.g. 0.5 for a 500 ms p95).
	Target float64 `yaml:"target"`
}

// Forecast is one resource of the capacity forecast.
type Forecast struct {
	Name    string  `yaml:"name"`
	Expr    string  `yaml:"expr"`
	Warning float64 `yaml:"warning"` // e.g. 0.8
}

// promQLProblem says what is wrong with a PromQL expression, "" if
// nothing; a selector must be a plain series selector (its increase is
// taken), not an expression.
func promQLProblem(expr string, selector bool) string {
	if strings.TrimSpace(expr) == "" {
		return "required: a PromQL expression"
	}
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return "invalid PromQL: " + err.Error()
	}
	if _, ok := e.(*parser.VectorSelector); selector && !ok {
		return "want a series selector such as http_requests_total{job=\"hotel-saas\"}, whose increase is summed"
	}
	return ""
}
