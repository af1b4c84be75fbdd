package action

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/hotel-ops/hotel-ops/internal/yamlconf"
)

var httpType = actionType{
	name:     TypeHTTP,
	keys:     []string{"method", "url", "body", "header_files", "bearer_token_file", "bearer_token_env", "expect_status"},
	validate: validateHTTP,
	build:    newHTTP,
}

var (
	methodToken = regexp.MustCompile(`^[A-Z]+$`)
	headerToken = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
)

// maxHTTPBody bounds how much of an answer an error shows, and
// maxHTTPDrain how much is read so the connection can be reused.
const (
	maxHTTPBody  = 1 << 10
	maxHTTPDrain = 64 << 10
)

func (c *Config) method() string {
	if c.Method == "" {
		return http.MethodPost
	}
	return c.Method
}

func validateHTTP(c *Config, v *checker) {
	if c.Method != "" && !methodToken.MatchString(c.Method) {
		v.Field("method", "must be an upper-case HTTP method such as POST, got %q", c.Method)
	}
	switch {
	case c.URL == "":
		v.Field("url", "required for type http")
	case !fixedOrigin(c.URL):
		// Otherwise a label could send the request (and its bearer
		// token) anywhere.
		v.Field("url", "the scheme and host must be written out, not templated: a label must not choose where the request goes")
	default:
		if _, err := parseTemplate("url", c.URL, urlEscaper); err != nil {
			v.Field("url", "%v", err)
			break
		}
		u, err := renderSample("url", c.URL, c, urlEscaper)
		if err != nil {
			v.Field("url", "%v", labelError(err, c))
			break
		}
		if msg := checkURL(u); msg != "" {
			v.Field("url", "%s", msg)
		}
	}
	if c.Body != "" {
		v.template("body", c.Body, c, nil)
	}
	for _, h := range sortedKeys(c.HeaderFiles) {
		switch {
		case !headerToken.MatchString(h):
			v.Field("header_files", "%q is not a header name", h)
		case strings.EqualFold(h, "Host"):
			v.Field("header_files."+h, "the host is the URL's")
		case strings.EqualFold(h, "Authorization") && (c.BearerTokenFile != "" || c.BearerTokenEnv != ""):
			v.Field("header_files."+h, "set either an Authorization header or a bearer token, not both")
		case c.HeaderFiles[h] == "":
			v.Field("header_files."+h, "needs the file holding the value")
		}
	}
	v.Secret("bearer_token", c.BearerTokenFile, c.BearerTokenEnv, false)
	for _, s := range c.ExpectStatus {
		if s < 100 || s > 599 {
			v.Field("expect_status", "%d is not an HTTP status", s)
		}
	}
}

// fixedOrigin reports whether the scheme and host of a URL template are
// literal text, before any action.
func fixedOrigin(src string) bool {
	prefix, _, templated := strings.Cut(src, "{{")
	if !templated {
		return true
	}
	_, rest, ok := strings.Cut(prefix, "://")
	return ok && strings.ContainsAny(rest, "/?#")
}

// checkURL returns what is wrong with a rendered URL, "" if nothing.
func checkURL(s string) string {
	if msg := yamlconf.HTTPURLProblem(s); msg != "" {
		return msg
	}
	if yamlconf.HasUserinfo(s) {
		return "credentials do not go in the URL: use bearer_token_file or header_files"
	}
	return ""
}

type httpAction struct {
	name    string
	method  string
	url     *tmpl
	body    *tmpl // nil: no body
	json    bool  // the body looks like JSON
	header  http.Header
	expect  []int
	client  *http.Client
	secrets []string // for redacting errors
}

func newHTTP(name string, c *Config) (Action, error) {
	a := &httpAction{name: name, method: c.method(), header: http.Header{}, expect: c.ExpectStatus}
	var err error
	if a.url, err = mustParse(name, "url", c.URL, urlEscaper); err != nil {
		return nil, err
	}
	if c.Body != "" {
		if a.body, err = mustParse(name, "body", c.Body, nil); err != nil {
			return nil, err
		}
		b := strings.TrimSpace(c.Body)
		a.json = strings.HasPrefix(b, "{") || strings.HasPrefix(b, "[")
	}
	for _, h := range sortedKeys(c.HeaderFiles) {
		val, err := readSecret(c.HeaderFiles[h], "")
		if err != nil {
			return nil, errorf(name, "header %s: %w", h, err)
		}
		a.header.Set(h, val)
		a.secrets = append(a.secrets, val)
	}
	if c.BearerTokenFile != "" || c.BearerTokenEnv != "" {
		tok, err := readSecret(c.BearerTokenFile, c.BearerTokenEnv)
		if err != nil {
			return nil, errorf(name, "bearer token: %w", err)
		}
		a.header.Set("Authorization", "Bearer "+tok)
		a.secrets = append(a.secrets, tok)
	}
	a.client = &http.Client{
		Timeout: c.timeout(),
		// A redirect would carry the request, bearer token included,
		// somewhere the configuration does not name; a 3xx is reported
		// as the answer instead.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return a, nil
}

func (a *httpAction) render(allowed map[string]string) (target, body string, err error) {
	if target, err = a.url.render(allowed); err != nil {
		return "", "", fmt.Errorf("url: %w", err)
	}
	if msg := checkURL(target); msg != "" {
		return "", "", fmt.Errorf("url: %s", msg)
	}
	if a.body != nil {
		if body, err = a.body.render(allowed); err != nil {
			return "", "", fmt.Errorf("body: %w", err)
		}
	}
	return target, body, nil
}

func (a *httpAction) Describe(allowed map[string]string) (string, error) {
	target, body, err := a.render(allowed)
	if err != nil {
		return "", errorf(a.name, "%w", err)
	}
	d := a.method + " " + target
	if a.body != nil {
		d += fmt.Sprintf(" with a %d-byte body", len(body))
	}
	return d, nil
}

func (a *httpAction) Run(ctx context.Context, allowed map[string]string) (string, error) {
	target, body, err := a.render(allowed)
	if err != nil {
		return "", errorf(a.name, "%w", err)
	}
	var rd io.Reader
	if a.body != nil {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, a.method, target, rd)
	if err != nil {
		return "", errorf(a.name, "building request: %w", err)
	}
	if a.body != nil {
		if a.json {
			req.Header.Set("Content-Type", "application/json")
		} else {
			req.Header.Set("Content-Type", "text/plain; charset=utf-8")
		}
	}
	req.Header.Set("User-Agent", "hotel-ops-escalator")
	for h, vals := range a.header {
		req.Header[h] = vals // header_files override the defaults
	}
	resp, err := a.client.Do(req)
	if err != nil {
		// *url.Error repeats method and URL, which the message has.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", errorf(a.name, "%s %s: %s", a.method, target, a.redact(err.Error()))
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxHTTPBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxHTTPDrain))
	detail := "HTTP " + strconv.Itoa(resp.StatusCode)
	if a.expected(resp.StatusCode) {
		return detail, nil
	}
	want := "2xx"
	if len(a.expect) > 0 {
		want = strings.Trim(fmt.Sprint(a.expect), "[]")
	}
	text := strings.ToValidUTF8(strings.TrimSpace(string(snippet)), "?")
	return detail, errorf(a.name, "%s %s: %s, expected %s: %s", a.method, target, detail, want, a.redact(text))
}

func (a *httpAction) expected(code int) bool {
	if len(a.expect) == 0 {
		return code >= 200 && code < 300
	}
	return slices.Contains(a.expect, code)
}

// redact removes the secrets from error text: a server may echo the
// request's headers.
func (a *httpAction) redact(s string) string {
	for _, sec := range a.secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "<redacted>")
		}
	}
	return s
}

func (a *httpAction) Close() error {
	a.client.CloseIdleConnections()
	return nil
}
