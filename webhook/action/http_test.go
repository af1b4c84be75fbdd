package action

import (
	"context"
	"fmt"
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
)

// seen is a request as the test server got it.
type seen struct {
	method, rawPath, rawQuery, body string
	header                          http.Header
}

type recorder struct {
	mu   sync.Mutex
	reqs []seen
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reqs)
}

func (r *recorder) last(t *testing.T) seen {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reqs) == 0 {
		t.Fatal("no request reached the server")
	}
	return r.reqs[len(r.reqs)-1]
}

// startHTTP serves on 127.0.0.1 (httptest's default), answering status
// for every request and recording it.
func startHTTP(t *testing.T, status int, answer string) (*httptest.Server, *recorder) {
	rec := &recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, seen{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, string(b), r.Header.Clone()})
		rec.mu.Unlock()
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "http://example.invalid/", http.StatusFound)
			return
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv, rec
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func newAction(t *testing.T, c Config) Action {
	t.Helper()
	a, err := New("test", c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

func TestHTTP(t *testing.T) {
	srv, rec := startHTTP(t, http.StatusAccepted, "queued")
	t.Setenv("ESCALATOR_TEST_TOKEN", "tok-123\n")
	c := Config{
		Type: TypeHTTP, Category: CategoryEmergency, Rollback: "none",
		Labels:          map[string]string{"instance": ".+", "job": "web"},
		Method:          "PUT",
		URL:             srv.URL + "/restart/{{.instance}}?job={{.job}}&force=1",
		Body:            `{"instance": {{json .instance}}}`,
		HeaderFiles:     map[string]string{"X-Api-Key": writeFile(t, "key", "k-456\n")},
		BearerTokenEnv:  "ESCALATOR_TEST_TOKEN",
		ExpectStatus:    []int{202},
		Timeout:         model.Duration(5 * time.Second),
		DryRun:          ptr(false),
		TargetLabels:    []string{"instance"},
		BearerTokenFile: "",
	}
	a := newAction(t, c)
	// A value that would add a path segment, a query parameter and a
	// fragment if it were not escaped.
	allowed := map[string]string{"instance": `web 1/../admin?x=1&force=0#"`, "job": "web"}

	desc, err := a.Describe(allowed)
	if err != nil {
		t.Fatal(err)
	}
	wantURL := srv.URL + "/restart/web%201%2F..%2Fadmin%3Fx%3D1%26force%3D0%23%22?job=web&force=1"
	wantBody := `{"instance": "web 1/../admin?x=1\u0026force=0#\""}`
	if want := fmt.Sprintf("PUT %s with a %d-byte body", wantURL, len(wantBody)); desc != want {
		t.Errorf("Describe:\n got %s\nwant %s", desc, want)
	}
	detail, err := a.Run(context.Background(), allowed)
	if err != nil || detail != "HTTP 202" {
		t.Fatalf("Run: %q, %v", detail, err)
	}
	got := rec.last(t)
	if got.method != "PUT" {
		t.Errorf("method %s", got.method)
	}
	if want := "/restart/web%201%2F..%2Fadmin%3Fx%3D1%26force%3D0%23%22"; got.rawPath != want {
		t.Errorf("path %s, want %s", got.rawPath, want)
	}
	if got.rawQuery != "job=web&force=1" {
		t.Errorf("query %s: the label added to it", got.rawQuery)
	}
	if got.body != wantBody {
		t.Errorf("body %s, want %s", got.body, wantBody)
	}
	for h, want := range map[string]string{
		"Authorization": "Bearer tok-123",
		"X-Api-Key":     "k-456",
		"Content-Type":  "application/json",
	} {
		if v := got.header.Get(h); v != want {
			t.Errorf("header %s: %q, want %q", h, v, want)
		}
	}
}

func TestHTTPStatus(t *testing.T) {
	// The server echoes the token: the error must not.
	srv, _ := startHTTP(t, http.StatusInternalServerError, "bad token tok-secret-9 "+strings.Repeat("x", 5000))
	t.Setenv("ESCALATOR_TEST_TOKEN", "tok-secret-9")
	c := base(TypeHTTP)
	c.URL = srv.URL + "/restart/{{.instance}}"
	c.BearerTokenEnv = "ESCALATOR_TEST_TOKEN"
	a := newAction(t, c)
	detail, err := a.Run(context.Background(), map[string]string{"instance": "web-1"})
	if err == nil {
		t.Fatalf("HTTP 500 succeeded: %s", detail)
	}
	if detail != "HTTP 500" || !strings.Contains(err.Error(), "HTTP 500, expected 2xx: bad token <redacted> xxx") {
		t.Errorf("detail %q, err %v", detail, err)
	}
	if strings.Contains(err.Error(), "tok-secret-9") || len(err.Error()) > 1500 {
		t.Errorf("error leaks the token or is not capped (%d bytes)", len(err.Error()))
	}

	// Not an expected status either way: a 200 when 204 is expected.
	srv2, _ := startHTTP(t, http.StatusOK, "")
	c.URL = srv2.URL + "/x"
	c.BearerTokenEnv = ""
	c.ExpectStatus = []int{204}
	if _, err := newAction(t, c).Run(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "HTTP 200, expected 204") {
		t.Errorf("200 against expect_status 204: %v", err)
	}
}

func TestHTTPRefuses(t *testing.T) {
	srv, rec := startHTTP(t, http.StatusOK, "")
	c := base(TypeHTTP)
	c.Labels = map[string]string{"instance": ".*"}
	c.URL = srv.URL + "/redirect"
	a := newAction(t, c)
	// A redirect is the answer, not followed.
	if _, err := a.Run(context.Background(), map[string]string{"instance": "x"}); err == nil || !strings.Contains(err.Error(), "HTTP 302") {
		t.Errorf("redirect: %v", err)
	}
	n := rec.count()

	c.URL = srv.URL + "/restart/{{.instance}}/now"
	a = newAction(t, c)
	for _, v := range []string{"..", "."} {
		if _, err := a.Run(context.Background(), map[string]string{"instance": v}); err == nil || !strings.Contains(err.Error(), "is a dot segment") {
			t.Errorf("%q: %v", v, err)
		}
	}
	if rec.count() != n {
		t.Errorf("a refused run reached the server")
	}
}

func TestHTTPTimeout(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(block) })
	c := base(TypeHTTP)
	c.URL = srv.URL + "/slow"
	c.Timeout = model.Duration(300 * time.Millisecond)
	a := newAction(t, c)
	start := time.Now()
	_, err := a.Run(context.Background(), nil)
	if err == nil {
		t.Fatal("a server that never answers succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s with a 300ms timeout", d)
	}
}

func TestNewReadsSecrets(t *testing.T) {
	c := base(TypeHTTP)
	c.BearerTokenFile = filepath.Join(t.TempDir(), "missing")
	_, err := New("hook", c)
	if err == nil || !strings.Contains(err.Error(), "action hook: bearer token: reading secret") {
		t.Errorf("missing token file: %v", err)
	}
	c = base(TypePostgresPoolReset)
	c.DSNFile = writeFile(t, "dsn", "postgres://u:hunter2@[::1/db\n")
	_, err = New("pg", c)
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "not a valid PostgreSQL connection string") {
		t.Errorf("bad DSN: %v", err)
	}
	c = base(TypeExec)
	c.Rollback = ""
	if _, err := New("x", c); err == nil || !strings.Contains(err.Error(), "actions.x.rollback: required") {
		t.Errorf("New does not validate: %v", err)
	}
}
