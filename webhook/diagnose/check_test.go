package diagnose

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/hotel-ops/hotel-ops/internal/yamlconf"
)

// fieldErrors flattens a Validate error into its FieldErrors, failing on
// anything else: the loader can only point at lines for those.
func fieldErrors(t *testing.T, err error) []*yamlconf.FieldError {
	t.Helper()
	var out []*yamlconf.FieldError
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		var fe *yamlconf.FieldError
		if !errors.As(e, &fe) {
			t.Errorf("error %v is not a *yamlconf.FieldError", e)
			return
		}
		out = append(out, fe)
	}
	if err != nil {
		walk(err)
	}
	return out
}

func TestValidate(t *testing.T) {
	sec := func(d time.Duration) model.Duration { return model.Duration(d) }
	cases := []struct {
		name  string
		check Check
		// want maps each expected path (under "diagnostics[0].") to a
		// fragment of its message; no other path may be reported.
		want map[string]string
	}{
		{"http ok", Check{Name: "api", Type: "http", URL: "https://api.example.com/health"}, nil},
		{"http full", Check{Name: "pms-api.v2", Type: "http", URL: "http://10.0.0.1:8080/h?x=1", Method: "HEAD",
			ExpectStatus: []int{200, 204}, Timeout: sec(2 * time.Second), MaxLatency: sec(500 * time.Millisecond),
			BearerTokenFile: "/run/secrets/tok", Matchers: []string{`service="api"`, `severity=~"critical|page"`}}, nil},
		{"postgres ok", Check{Name: "db", Type: "postgres", DSNEnv: "DB_DSN", Query: "SELECT count(*) FROM bookings"}, nil},
		{"redis ok", Check{Name: "cache", Type: "redis", Addr: "redis:6379", PasswordFile: "/p", DB: 2}, nil},
		{"tcp ok", Check{Name: "smtp", Type: "tcp", Addr: "[::1]:25", Timeout: sec(MaxTimeout)}, nil},

		{"empty", Check{}, map[string]string{"name": "required", "type": "required: one of http, postgres, redis, tcp"}},
		{"bad name", Check{Name: "my api", Type: "tcp", Addr: "h:1"}, map[string]string{"name": "letters, digits"}},
		{"long name", Check{Name: strings.Repeat("a", 65), Type: "tcp", Addr: "h:1"}, map[string]string{"name": "1 to 64"}},
		{"newline name", Check{Name: "a\nb", Type: "tcp", Addr: "h:1"}, map[string]string{"name": "letters"}},
		{"unknown type", Check{Name: "x", Type: "grpc"}, map[string]string{"type": `got "grpc"`}},
		{"negative timeout", Check{Name: "x", Type: "tcp", Addr: "h:1", Timeout: sec(-time.Second)}, map[string]string{"timeout": "negative"}},
		{"timeout too long", Check{Name: "x", Type: "tcp", Addr: "h:1", Timeout: sec(31 * time.Second)}, map[string]string{"timeout": "at most 30s"}},
		{"negative max_latency", Check{Name: "x", Type: "tcp", Addr: "h:1", MaxLatency: sec(-1)}, map[string]string{"max_latency": "negative"}},
		{"max_latency over default timeout", Check{Name: "x", Type: "tcp", Addr: "h:1", MaxLatency: sec(5 * time.Second)},
			map[string]string{"max_latency": "less than the timeout (5s)"}},
		{"max_latency over timeout", Check{Name: "x", Type: "tcp", Addr: "h:1", Timeout: sec(time.Second), MaxLatency: sec(2 * time.Second)},
			map[string]string{"max_latency": "less than the timeout (1s)"}},
		{"bad matchers", Check{Name: "x", Type: "tcp", Addr: "h:1", Matchers: []string{`ok="1"`, `=~`, `a=~"("`}},
			map[string]string{"matchers[1]": "not a label matcher", "matchers[2]": "not a label matcher"}},

		{"http no url", Check{Name: "x", Type: "http"}, map[string]string{"url": "required"}},
		{"http relative url", Check{Name: "x", Type: "http", URL: "/health"}, map[string]string{"url": "http or https"}},
		{"http no host", Check{Name: "x", Type: "http", URL: "http:///health"}, map[string]string{"url": "with a host"}},
		{"http ftp", Check{Name: "x", Type: "http", URL: "ftp://h/x"}, map[string]string{"url": "http or https"}},
		{"http credentials", Check{Name: "x", Type: "http", URL: "https://u:hunter2@h/x"}, map[string]string{"url": "credentials"}},
		{"http bad url", Check{Name: "x", Type: "http", URL: "http://h/%zz"}, map[string]string{"url": "not a valid URL"}},
		{"http method", Check{Name: "x", Type: "http", URL: "http://h/", Method: "DELETE"}, map[string]string{"method": `got "DELETE"`}},
		{"http lowercase method", Check{Name: "x", Type: "http", URL: "http://h/", Method: "get"}, map[string]string{"method": "one of GET, HEAD, POST"}},
		{"http status", Check{Name: "x", Type: "http", URL: "http://h/", ExpectStatus: []int{200, 99, 600}},
			map[string]string{"expect_status[1]": "got 99", "expect_status[2]": "got 600"}},
		{"http two tokens", Check{Name: "x", Type: "http", URL: "http://h/", BearerTokenFile: "/f", BearerTokenEnv: "E"},
			map[string]string{"bearer_token_file": "only one"}},
		{"http with postgres keys", Check{Name: "x", Type: "http", URL: "http://h/", Query: "SELECT 1", Addr: "h:1"},
			map[string]string{"query": "not used by type http", "addr": "not used by type http"}},

		{"postgres no dsn", Check{Name: "db", Type: "postgres"}, map[string]string{"dsn_file": "required (or dsn_env)"}},
		{"postgres two dsn", Check{Name: "db", Type: "postgres", DSNFile: "/f", DSNEnv: "E"}, map[string]string{"dsn_file": "only one"}},
		{"postgres with url", Check{Name: "db", Type: "postgres", DSNEnv: "E", URL: "http://h/"}, map[string]string{"url": "not used by type postgres"}},

		{"redis no addr", Check{Name: "c", Type: "redis"}, map[string]string{"addr": "required"}},
		{"redis bad addr", Check{Name: "c", Type: "redis", Addr: "localhost"}, map[string]string{"addr": "host:port"}},
		{"redis bad port", Check{Name: "c", Type: "redis", Addr: "h:99999"}, map[string]string{"addr": "port must be"}},
		{"redis no host", Check{Name: "c", Type: "redis", Addr: ":6379"}, map[string]string{"addr": "host:port"}},
		{"redis negative db", Check{Name: "c", Type: "redis", Addr: "h:1", DB: -1}, map[string]string{"db": "negative"}},
		{"redis two passwords", Check{Name: "c", Type: "redis", Addr: "h:1", PasswordFile: "/f", PasswordEnv: "E"},
			map[string]string{"password_file": "only one"}},

		{"tcp no addr", Check{Name: "t", Type: "tcp"}, map[string]string{"addr": "required"}},
		{"tcp port name", Check{Name: "t", Type: "tcp", Addr: "h:smtp"}, map[string]string{"addr": "port must be"}},
		{"tcp with password", Check{Name: "t", Type: "tcp", Addr: "h:1", PasswordEnv: "E", DB: 1},
			map[string]string{"password_env": "not used by type tcp", "db": "not used by type tcp"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errs := fieldErrors(t, tc.check.Validate("diagnostics[0]"))
			var got []string
			for _, fe := range errs {
				path, ok := strings.CutPrefix(fe.Path, "diagnostics[0].")
				if !ok {
					t.Errorf("error path %q is not under diagnostics[0].", fe.Path)
				}
				got = append(got, path)
				frag, wanted := tc.want[path]
				if !wanted {
					t.Errorf("unexpected error %v", fe)
				} else if !strings.Contains(fe.Msg, frag) {
					t.Errorf("error %v does not say %q", fe, frag)
				}
			}
			for path := range tc.want {
				if !slices.Contains(got, path) {
					t.Errorf("no error at %s; got %v", path, errs)
				}
			}
		})
	}
}

// A URL can carry a token in its query: the error must not repeat it.
func TestValidateDoesNotQuoteURL(t *testing.T) {
	c := Check{Name: "x", Type: "http", URL: "ftp://h/x?token=hunter2"}
	err := c.Validate("diagnostics[0]")
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("Validate = %v, want an error that does not quote the URL", err)
	}
}

func TestNewRejectsInvalidAndDuplicates(t *testing.T) {
	_, err := New([]Check{
		{Name: "a", Type: "tcp", Addr: "h:1"},
		{Name: "b", Type: "tcp"},
		{Name: "a", Type: "tcp", Addr: "h:2"},
	})
	if err == nil {
		t.Fatal("New accepted an invalid check and a duplicate name")
	}
	for _, want := range []string{"diagnostics[1].addr: required", `diagnostics[2].name: "a" is also the name of diagnostics[0]`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("New error %q does not contain %q", err, want)
		}
	}
	r, err := New([]Check{{Name: "a", Type: "tcp", Addr: "h:1"}, {Name: "b", Type: "tcp", Addr: "h:1"}})
	if err != nil {
		t.Fatalf("New(valid): %v", err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// The struct as escalator.yml spells it: decoding is strict, so a key
// renamed here breaks configurations, and this test.
func TestCheckYAMLKeys(t *testing.T) {
	var cfg struct {
		Diagnostics []Check `yaml:"diagnostics"`
	}
	doc := `
diagnostics:
  - name: api
    type: http
    url: https://api.example.com/health
    method: HEAD
    expect_status: [200, 204]
    max_latency: 500ms
    timeout: 2s
    bearer_token_file: /run/secrets/api
    matchers: ['service="api"']
  - name: db
    type: postgres
    dsn_env: DB_DSN
    query: SELECT 1
  - name: cache
    type: redis
    addr: redis:6379
    password_file: /run/secrets/redis
    db: 1
`
	if err := yamlconf.Parse("escalator.yml", []byte(doc), &cfg); err != nil {
		t.Fatal(err)
	}
	want := []Check{
		{Name: "api", Type: "http", URL: "https://api.example.com/health", Method: "HEAD", ExpectStatus: []int{200, 204},
			MaxLatency: model.Duration(500 * time.Millisecond), Timeout: model.Duration(2 * time.Second),
			BearerTokenFile: "/run/secrets/api", Matchers: []string{`service="api"`}},
		{Name: "db", Type: "postgres", DSNEnv: "DB_DSN", Query: "SELECT 1"},
		{Name: "cache", Type: "redis", Addr: "redis:6379", PasswordFile: "/run/secrets/redis", DB: 1},
	}
	if len(cfg.Diagnostics) != len(want) {
		t.Fatalf("decoded %d checks, want %d", len(cfg.Diagnostics), len(want))
	}
	for i := range want {
		got := cfg.Diagnostics[i]
		if !slices.Equal(got.ExpectStatus, want[i].ExpectStatus) || !slices.Equal(got.Matchers, want[i].Matchers) {
			t.Errorf("check %d = %+v, want %+v", i, got, want[i])
		}
		got.ExpectStatus, got.Matchers = want[i].ExpectStatus, want[i].Matchers
		if got.Name != want[i].Name || got.Type != want[i].Type || got.URL != want[i].URL || got.Method != want[i].Method ||
			got.MaxLatency != want[i].MaxLatency || got.Timeout != want[i].Timeout || got.BearerTokenFile != want[i].BearerTokenFile ||
			got.DSNEnv != want[i].DSNEnv || got.Query != want[i].Query || got.Addr != want[i].Addr ||
			got.PasswordFile != want[i].PasswordFile || got.DB != want[i].DB {
			t.Errorf("check %d = %+v, want %+v", i, got, want[i])
		}
		if err := cfg.Diagnostics[i].Validate("diagnostics[0]"); err != nil {
			t.Errorf("check %d: %v", i, err)
		}
	}
	if err := yamlconf.Parse("escalator.yml", []byte("diagnostics:\n  - name: x\n    type: tcp\n    adr: h:1\n"), &cfg); err == nil {
		t.Error("a misspelt key was accepted")
	}
}
