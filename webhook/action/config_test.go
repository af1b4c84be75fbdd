package action

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/hotel-ops/hotel-ops/internal/yamlconf"
)

// Every key of Config is common or read by exactly one type, and every
// key a type claims exists: a key added on one side only fails here
// rather than being accepted and ignored.
func TestTypesCoverConfig(t *testing.T) {
	var all []string
	ct := reflect.TypeOf(Config{})
	for i := range ct.NumField() {
		k, _, _ := strings.Cut(ct.Field(i).Tag.Get("yaml"), ",")
		if k == "" {
			t.Fatalf("field %s has no yaml key", ct.Field(i).Name)
		}
		all = append(all, k)
	}
	owner := map[string]string{}
	for _, k := range commonKeys {
		owner[k] = "common"
	}
	for _, at := range actionTypes {
		for _, k := range at.keys {
			if !slices.Contains(all, k) {
				t.Errorf("type %s reads %q, which Config lacks", at.name, k)
			}
			if o, ok := owner[k]; ok {
				t.Errorf("key %q is both %s's and %s's", k, o, at.name)
			}
			owner[k] = at.name
		}
	}
	for _, k := range all {
		if owner[k] == "" {
			t.Errorf("Config key %q belongs to no type", k)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// base returns a valid configuration of each type.
func base(typ string) Config {
	c := Config{Type: typ, Category: CategoryEmergency, Rollback: "nothing to undo", Labels: map[string]string{"instance": "[a-z0-9-]+"}}
	switch typ {
	case TypeHTTP:
		c.URL = "http://127.0.0.1:9/restart/{{.instance}}"
	case TypeExec:
		c.Command = []string{"/usr/local/bin/restart", "{{.instance}}"}
	case TypeRedisCacheClear:
		c.RedisAddr = "127.0.0.1:6379"
		c.Pattern = "sess:{{.instance}}:*"
	case TypePostgresPoolReset:
		c.DSNFile = "/run/secrets/dsn"
	}
	return c
}

func TestValidate(t *testing.T) {
	const p = "actions.a"
	tests := []struct {
		name string
		edit func(*Config)
		typ  string
		want []string // "path: message fragment"; none: valid
	}{
		{name: "http ok", typ: TypeHTTP, edit: func(*Config) {}},
		{name: "exec ok", typ: TypeExec, edit: func(*Config) {}},
		{name: "redis ok", typ: TypeRedisCacheClear, edit: func(*Config) {}},
		{name: "postgres ok", typ: TypePostgresPoolReset, edit: func(*Config) {}},
		{name: "emergency may run", typ: TypeExec, edit: func(c *Config) { c.DryRun = ptr(false) }},
		{name: "standard in dry run", typ: TypeExec, edit: func(c *Config) { c.Category = CategoryStandard }},
		{name: "full http", typ: TypeHTTP, edit: func(c *Config) {
			c.Method = "PUT"
			c.Body = `{"instance": {{json .instance}}, "all": {{json .}}}`
			c.HeaderFiles = map[string]string{"X-Api-Key": "/k"}
			c.BearerTokenEnv = "TOKEN"
			c.ExpectStatus = []int{200, 202}
			c.Timeout = model.Duration(5 * time.Minute)
			c.Budget = &Budget{Max: 1, Window: model.Duration(time.Hour)}
			c.TargetLabels = []string{"instance"}
		}},

		{name: "no type", typ: "", edit: func(*Config) {}, want: []string{p + ".type: required"}},
		{name: "bad type", typ: "shell", edit: func(*Config) {}, want: []string{p + `.type: must be one of http, exec, redis_cache_clear, postgres_pool_reset, postgres_failover, got "shell"`}},
		{name: "no category", typ: TypeExec, edit: func(c *Config) { c.Category = "" }, want: []string{p + ".category: required"}},
		{name: "bad category", typ: TypeExec, edit: func(c *Config) { c.Category = "normal" }, want: []string{p + ".category: must be one of"}},
		{name: "emergency with approval", typ: TypeExec, edit: func(c *Config) { c.ApprovalTimeout = model.Duration(time.Minute) },
			want: []string{p + ".approval_timeout: an emergency change runs without approval"}},
		{name: "breaker", typ: TypeExec, edit: func(c *Config) { c.Breaker = &Breaker{RefireWithin: -1} },
			want: []string{p + ".breaker.failures: must be at least 1", p + ".breaker.refire_within: must not be negative"}},
		{name: "no rollback", typ: TypeExec, edit: func(c *Config) { c.Rollback = " \n" }, want: []string{p + ".rollback: required"}},
		{name: "timeout too long", typ: TypeExec, edit: func(c *Config) { c.Timeout = model.Duration(6 * time.Minute) }, want: []string{p + ".timeout: at most 5m"}},
		{name: "budget", typ: TypeExec, edit: func(c *Config) { c.Budget = &Budget{} },
			want: []string{p + ".budget.max: must be at least 1", p + ".budget.window: must be positive"}},
		{name: "bad label pattern", typ: TypeExec, edit: func(c *Config) { c.Labels["instance"] = "(" }, want: []string{p + ".labels.instance: invalid pattern"}},
		{name: "bad label name", typ: TypeExec, edit: func(c *Config) { c.Labels["1x"] = "a" }, want: []string{p + ".labels.1x: not a label name"}},
		{name: "target not a label", typ: TypeExec, edit: func(c *Config) { c.TargetLabels = []string{"job"} }, want: []string{p + `.target_labels: "job" is not one of labels`}},
		{name: "target twice", typ: TypeExec, edit: func(c *Config) { c.TargetLabels = []string{"instance", "instance"} }, want: []string{p + `.target_labels: "instance" listed twice`}},
		{name: "key of another type", typ: TypeExec, edit: func(c *Config) { c.URL = "http://x/" }, want: []string{p + ".url: not used by type exec"}},

		{name: "template names an unlisted label", typ: TypeExec, edit: func(c *Config) { c.Command = append(c.Command, "{{.job}}") },
			want: []string{p + `.command: element 2: uses label job, which is not in labels (instance)`}},
		{name: "index of an unlisted label", typ: TypeHTTP, edit: func(c *Config) { c.Body = `{{index . "job"}}` },
			want: []string{p + `.body: template: body:1:2: executing "body" at <index . "job">: error calling index: no label "job" among the allowed labels`}},
		{name: "template syntax", typ: TypeRedisCacheClear, edit: func(c *Config) { c.Pattern = "{{.instance" }, want: []string{p + ".pattern: template: pattern:1: unclosed action"}},
		{name: "range refused", typ: TypeHTTP, edit: func(c *Config) { c.Body = "{{range 1000000000}}{{end}}" }, want: []string{p + ".body: range is not allowed"}},
		{name: "recursion refused", typ: TypeExec, edit: func(c *Config) { c.Env = map[string]string{"A": `{{template "env.A"}}`} }, want: []string{p + ".env.A: template is not allowed"}},
		{name: "define refused", typ: TypeExec, edit: func(c *Config) { c.Env = map[string]string{"A": `{{define "x"}}{{end}}`} }, want: []string{p + `.env.A: define and block are not allowed`}},

		{name: "http no url", typ: TypeHTTP, edit: func(c *Config) { c.URL = "" }, want: []string{p + ".url: required for type http"}},
		{name: "http templated host", typ: TypeHTTP, edit: func(c *Config) { c.URL = "http://{{.instance}}/restart" }, want: []string{p + ".url: the scheme and host must be written out"}},
		{name: "http templated port", typ: TypeHTTP, edit: func(c *Config) { c.URL = "http://h:{{.instance}}" }, want: []string{p + ".url: the scheme and host must be written out"}},
		{name: "http scheme", typ: TypeHTTP, edit: func(c *Config) { c.URL = "ftp://h/{{.instance}}" }, want: []string{p + ".url: must be an http or https URL"}},
		{name: "http userinfo", typ: TypeHTTP, edit: func(c *Config) { c.URL = "http://u:pw@h/" }, want: []string{p + ".url: credentials do not go in the URL"}},
		{name: "http urlquery", typ: TypeHTTP, edit: func(c *Config) { c.URL = "http://h/?i={{urlquery .instance}}" }, want: []string{p + ".url: template: url:1:14: executing \"url\" at <urlquery .instance>: error calling urlquery: label values in the URL are escaped already"}},
		{name: "http method", typ: TypeHTTP, edit: func(c *Config) { c.Method = "post" }, want: []string{p + ".method: must be an upper-case HTTP method"}},
		{name: "http headers", typ: TypeHTTP, edit: func(c *Config) {
			c.HeaderFiles = map[string]string{"Bad Header": "/f", "Host": "/h", "Authorization": "/a", "X-Empty": ""}
			c.BearerTokenFile = "/t"
		}, want: []string{
			p + `.header_files.Authorization: set either an Authorization header or a bearer token`,
			p + `.header_files: "Bad Header" is not a header name`,
			p + ".header_files.Host: the host is the URL's",
			p + ".header_files.X-Empty: needs the file",
		}},
		{name: "http both bearer", typ: TypeHTTP, edit: func(c *Config) { c.BearerTokenFile, c.BearerTokenEnv = "/t", "T" },
			want: []string{p + ".bearer_token_file: set only one of bearer_token_file and bearer_token_env"}},
		{name: "http status", typ: TypeHTTP, edit: func(c *Config) { c.ExpectStatus = []int{200, 42} }, want: []string{p + ".expect_status: 42 is not an HTTP status"}},

		{name: "exec no command", typ: TypeExec, edit: func(c *Config) { c.Command = nil }, want: []string{p + ".command: required for type exec"}},
		{name: "exec relative", typ: TypeExec, edit: func(c *Config) { c.Command[0] = "restart" }, want: []string{p + `.command: the program (first element) must be an absolute path, got "restart"`}},
		{name: "exec templated program", typ: TypeExec, edit: func(c *Config) { c.Command[0] = "/usr/bin/{{.instance}}" }, want: []string{p + ".command: the program (first element) is not a template"}},
		{name: "exec env", typ: TypeExec, edit: func(c *Config) { c.Env = map[string]string{"PATH": "/x", "A-B": "y", "OK": "{{.nope}}"} }, want: []string{
			p + ".env.A-B: not an environment variable name",
			p + ".env.OK: uses label nope, which is not in labels (instance)",
			p + ".env.PATH: PATH is always /usr/bin:/bin",
		}},

		{name: "redis no addr", typ: TypeRedisCacheClear, edit: func(c *Config) { c.RedisAddr = "" }, want: []string{p + ".redis_addr: required"}},
		{name: "redis bad addr", typ: TypeRedisCacheClear, edit: func(c *Config) { c.RedisAddr = "localhost" }, want: []string{p + ".redis_addr: must be host:port"}},
		{name: "redis neither", typ: TypeRedisCacheClear, edit: func(c *Config) { c.Pattern = "" }, want: []string{p + ".pattern: required for type redis_cache_clear (or flush_db: true)"}},
		{name: "redis both", typ: TypeRedisCacheClear, edit: func(c *Config) { c.FlushDB = true }, want: []string{p + ".pattern: set either pattern or flush_db, not both"}},
		{name: "redis flush ok", typ: TypeRedisCacheClear, edit: func(c *Config) { c.Pattern = ""; c.FlushDB = true; c.RedisDB = 3 }},
		{name: "redis every key", typ: TypeRedisCacheClear, edit: func(c *Config) { c.Pattern = "**" }, want: []string{p + ".pattern: matches every key"}},
		{name: "redis negatives", typ: TypeRedisCacheClear, edit: func(c *Config) { c.RedisDB = -1; c.MaxKeys = -1 }, want: []string{p + ".redis_db: must not be negative", p + ".max_keys: must not be negative"}},
		{name: "redis password twice", typ: TypeRedisCacheClear, edit: func(c *Config) { c.RedisPasswordFile, c.RedisPasswordEnv = "/p", "P" }, want: []string{p + ".redis_password_file: set only one"}},

		{name: "postgres no dsn", typ: TypePostgresPoolReset, edit: func(c *Config) { c.DSNFile = "" }, want: []string{p + ".dsn_file: required for type postgres_pool_reset (or dsn_env)"}},
		{name: "postgres both dsn", typ: TypePostgresPoolReset, edit: func(c *Config) { c.DSNEnv = "DSN" }, want: []string{p + ".dsn_file: set only one of dsn_file and dsn_env"}},
		{name: "postgres state", typ: TypePostgresPoolReset, edit: func(c *Config) { c.State = "sleeping" }, want: []string{p + `.state: must be one of`}},
		{name: "postgres template", typ: TypePostgresPoolReset, edit: func(c *Config) { c.Database = "{{.db}}"; c.ApplicationName = "{{.instance}}"; c.Max = -1 }, want: []string{
			p + `.database: uses label db, which is not in labels (instance)`,
			p + ".max: must not be negative",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base(tt.typ)
			if tt.typ == "" || tt.typ == "shell" {
				c.Type = tt.typ
			}
			tt.edit(&c)
			wantFieldErrors(t, c.Validate(p), tt.want)
		})
	}
}

func flattenErr(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flattenErr(e)...)
		}
		return out
	}
	return []error{err}
}

// The loader turns the paths into lines of the file.
func TestValidateLines(t *testing.T) {
	src := `actions:
  clear:
    type: redis_cache_clear
    category: emergency
    rollback: the cache refills itself
    redis_addr: 127.0.0.1:6379
    pattern: "sess:{{.pod}}:*"
    labels:
      instance: "[a-z]+"
  restart:
    type: exec
    category: emergency
    approval_timeout: 5m
    rollback: none
    command: [/bin/true]
`
	var f actionsFile
	err := yamlconf.Parse("escalator.yml", []byte(src), &f)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"escalator.yml:7: actions.clear.pattern: uses label pod, which is not in labels (instance)",
		"escalator.yml:13: actions.restart.approval_timeout: an emergency change runs without approval",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in\n%v", want, err)
		}
	}
}

// actionsFile is the part of escalator.yml this package owns, for the
// tests that go through yamlconf.
type actionsFile struct {
	Actions map[string]Config
}

func (f *actionsFile) Validate() error {
	var errs []error
	for _, name := range sortedKeys(f.Actions) {
		c := f.Actions[name]
		if err := c.Validate("actions." + name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func TestLimits(t *testing.T) {
	c := base(TypeExec)
	got := c.Limits()
	want := Limits{Cooldown: 10 * time.Minute, BudgetMax: 3, BudgetWindow: time.Hour, Timeout: 30 * time.Second, DryRun: true,
		BreakerFailures: 3, RefireWithin: 30 * time.Minute}
	if got != want {
		t.Errorf("defaults: got %+v, want %+v", got, want)
	}
	std := base(TypeExec)
	std.Category = CategoryStandard
	if got := std.Limits().Approval; got != DefaultApprovalTimeout {
		t.Errorf("a standard change waits %s for approval, want %s", got, DefaultApprovalTimeout)
	}
	std.Category, std.ApprovalTimeout = CategoryMajor, model.Duration(time.Hour)
	if got := std.Limits().Approval; got != time.Hour {
		t.Errorf("a major change with approval_timeout 1h waits %s", got)
	}
	c.DryRun = ptr(false)
	c.Timeout = model.Duration(time.Minute)
	c.Cooldown = model.Duration(time.Hour)
	c.Budget = &Budget{Max: 1, Window: model.Duration(24 * time.Hour)}
	c.Breaker = &Breaker{Failures: 1, RefireWithin: model.Duration(time.Hour)}
	got = c.Limits()
	want = Limits{Cooldown: time.Hour, BudgetMax: 1, BudgetWindow: 24 * time.Hour, Timeout: time.Minute, DryRun: false,
		BreakerFailures: 1, RefireWithin: time.Hour}
	if got != want {
		t.Errorf("set: got %+v, want %+v", got, want)
	}
	c.DryRun = ptr(true)
	if !c.Limits().DryRun {
		t.Error("dry_run: true not honoured")
	}
}

func TestAllowed(t *testing.T) {
	c := Config{Labels: map[string]string{"instance": "web-[0-9]+", "job": "api|web"}}
	got, err := c.Allowed(map[string]string{"instance": "web-1", "job": "web", "alertname": "Down", "severity": "critical"})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"instance": "web-1", "job": "web"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want only %v", got, want)
	}

	for _, tt := range []struct {
		labels map[string]string
		want   string
	}{
		{map[string]string{"job": "web"}, "label instance is missing"},
		// Anchored: a match inside the value is not enough.
		{map[string]string{"instance": "evil;web-1", "job": "web"}, `label instance: value "evil;web-1" does not match ^(?:web-[0-9]+)$`},
		{map[string]string{"instance": "web-1", "job": "webx"}, `label job: value "webx" does not match`},
		{map[string]string{"instance": "web-1\n" + strings.Repeat("A", 500), "job": "web"}, `label instance: value "web-1\nAAAAAAAAAAAAAAAAAAAAAAAAAA"… (506 bytes) does not match`},
	} {
		got, err := c.Allowed(tt.labels)
		if err == nil {
			t.Errorf("%v: allowed %v", tt.labels, got)
			continue
		}
		if !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%v:\n got %v\nwant %s…", tt.labels, err, tt.want)
		}
		if strings.Contains(err.Error(), strings.Repeat("A", 100)) || strings.Contains(err.Error(), "\n") {
			t.Errorf("error holds the value raw or whole: %v", err)
		}
	}
}

func TestTarget(t *testing.T) {
	c := Config{Labels: map[string]string{"job": ".*", "instance": ".*", "pod": ".*"}}
	allowed := map[string]string{"job": "web", "instance": "db-1", "pod": "p"}
	if got, want := c.Target(allowed), "instance=db-1,job=web,pod=p"; got != want {
		t.Errorf("all labels: got %q, want %q", got, want)
	}
	c.TargetLabels = []string{"pod", "instance"}
	if got, want := c.Target(allowed), "instance=db-1,pod=p"; got != want {
		t.Errorf("target labels: got %q, want %q", got, want)
	}
	// A value cannot pose as another pair.
	a := c.Target(map[string]string{"instance": "x,pod=p", "pod": "q"})
	b := c.Target(map[string]string{"instance": "x", "pod": "p,pod=q"})
	if a == b || a == "instance=x,pod=p,pod=q" {
		t.Errorf("targets collide: %q and %q", a, b)
	}
}

// wantFieldErrors checks that err is exactly the field errors want (each
// a prefix of one), in any order.
func wantFieldErrors(t *testing.T, err error, want []string) {
	t.Helper()
	var got []string
	for _, e := range flattenErr(err) {
		var fe *yamlconf.FieldError
		if !errors.As(e, &fe) {
			t.Errorf("%v is not a *yamlconf.FieldError", e)
			continue
		}
		got = append(got, fe.Error())
	}
	if len(got) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	slices.Sort(got)
	want = slices.Clone(want)
	slices.Sort(want)
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("error %d:\n got %s\nwant %s…", i, got[i], want[i])
		}
	}
}
