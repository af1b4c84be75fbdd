package diagnose

import (
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// sleepHandler answers code after delay (or when the client gives up).
func sleepHandler(delay time.Duration, code int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
		w.WriteHeader(code)
		_, _ = w.Write([]byte("secret-body-content"))
	}
}

func TestHTTPOK(t *testing.T) {
	var got *http.Request
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = r.Clone(r.Context())
		mu.Unlock()
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	res, _ := runCheck(t, Check{Name: "api", Type: "http", URL: srv.URL + "/health?probe=1",
		BearerTokenFile: writeSecret(t, "tok-123"), MaxLatency: model.Duration(time.Second)})
	wantStatus(t, res, StatusOK)
	if !regexp.MustCompile(`^HTTP 200 in (<1|\d+) ms$`).MatchString(res.Detail) {
		t.Errorf("detail %q, want like %q", res.Detail, "HTTP 200 in 12 ms")
	}
	if res.Name != "api" || res.Type != "http" || res.At.IsZero() || res.Latency <= 0 {
		t.Errorf("result %+v lacks its name, type, start or latency", res)
	}
	mu.Lock()
	defer mu.Unlock()
	if got == nil {
		t.Fatal("the server saw no request")
	}
	if got.Method != "GET" || got.URL.Path != "/health" || got.URL.Query().Get("probe") != "1" {
		t.Errorf("request %s %s, want GET /health?probe=1", got.Method, got.URL)
	}
	if a := got.Header.Get("Authorization"); a != "Bearer tok-123" {
		t.Errorf("Authorization %q, want the token from the file", a)
	}
	if ua := got.Header.Get("User-Agent"); ua != userAgent {
		t.Errorf("User-Agent %q, want %q", ua, userAgent)
	}
}

func TestHTTPStatus(t *testing.T) {
	srv := httptest.NewServer(sleepHandler(0, http.StatusServiceUnavailable))
	defer srv.Close()
	redirect := httptest.NewServer(http.RedirectHandler(srv.URL, http.StatusFound))
	defer redirect.Close()

	res, _ := runCheck(t, Check{Name: "api", Type: "http", URL: srv.URL})
	wantStatus(t, res, StatusFailed)
	if !regexp.MustCompile(`^HTTP 503 in (<1|\d+) ms, expected 200-399$`).MatchString(res.Detail) {
		t.Errorf("detail %q", res.Detail)
	}
	if strings.Contains(res.Detail, "secret-body") {
		t.Errorf("detail %q carries the body", res.Detail)
	}

	// 503 expected (a standby that says so): ok.
	res, _ = runCheck(t, Check{Name: "standby", Type: "http", URL: srv.URL, ExpectStatus: []int{503}})
	wantStatus(t, res, StatusOK)

	res, _ = runCheck(t, Check{Name: "api", Type: "http", URL: srv.URL, ExpectStatus: []int{200, 204}})
	wantStatus(t, res, StatusFailed)
	if !strings.HasSuffix(res.Detail, "expected 200, 204") {
		t.Errorf("detail %q does not list the expected statuses", res.Detail)
	}

	// The redirect is the answer: 302 is within 200-399, and the 503
	// behind it is not probed.
	res, _ = runCheck(t, Check{Name: "web", Type: "http", URL: redirect.URL})
	wantStatus(t, res, StatusOK)
	if !strings.HasPrefix(res.Detail, "HTTP 302 ") {
		t.Errorf("detail %q, want the redirect's 302", res.Detail)
	}
}

func TestHTTPDegraded(t *testing.T) {
	srv := httptest.NewServer(sleepHandler(200*time.Millisecond, http.StatusOK))
	defer srv.Close()
	res, _ := runCheck(t, Check{Name: "api", Type: "http", URL: srv.URL, MaxLatency: model.Duration(50 * time.Millisecond)})
	wantStatus(t, res, StatusDegraded)
	if !regexp.MustCompile(`^HTTP 200 in \d+ ms, slower than 50ms$`).MatchString(res.Detail) {
		t.Errorf("detail %q", res.Detail)
	}
	if res.Latency < 200*time.Millisecond {
		t.Errorf("latency %v, want at least the server's 200ms", res.Latency)
	}
	// Without max_latency slow is still ok.
	res, _ = runCheck(t, Check{Name: "api", Type: "http", URL: srv.URL})
	wantStatus(t, res, StatusOK)
}

func TestHTTPTimeout(t *testing.T) {
	srv := httptest.NewServer(sleepHandler(5*time.Second, http.StatusOK))
	defer srv.Close()
	res, took := runCheck(t, Check{Name: "api", Type: "http", URL: srv.URL, Timeout: model.Duration(300 * time.Millisecond)})
	wantStatus(t, res, StatusFailed)
	if res.Detail != "timed out after 300ms" {
		t.Errorf("detail %q, want %q", res.Detail, "timed out after 300ms")
	}
	if took > 2*time.Second {
		t.Errorf("Run took %v with a 300ms timeout", took)
	}
}

// A refused connection says so, and not the URL, whose query may hold a
// token.
func TestHTTPRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	res, _ := runCheck(t, Check{Name: "api", Type: "http", URL: "http://" + addr + "/h?token=hunter2"})
	wantStatus(t, res, StatusFailed)
	if res.Detail != "connection refused" {
		t.Errorf("detail %q, want %q", res.Detail, "connection refused")
	}
}

func TestHTTPMissingToken(t *testing.T) {
	srv := httptest.NewServer(sleepHandler(0, http.StatusOK))
	defer srv.Close()
	res, _ := runCheck(t, Check{Name: "api", Type: "http", URL: srv.URL, BearerTokenEnv: "DIAGNOSE_TEST_UNSET_TOKEN"})
	wantStatus(t, res, StatusFailed)
	if !strings.Contains(res.Detail, "DIAGNOSE_TEST_UNSET_TOKEN") {
		t.Errorf("detail %q does not say which secret is missing", res.Detail)
	}
}
