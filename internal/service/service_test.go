package service

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

// TestMuxHandler: the handler given serves the metrics path, per request,
// beside the landing page; Mux still serves a Gatherer there.
func TestMuxHandler(t *testing.T) {
	s := New("svc_test", "A test service.", ":0")
	if _, err := s.Parse(nil); err != nil {
		t.Fatal(err)
	}
	var seen []string
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds"))
		_, _ = io.WriteString(w, "per_request 1\n")
	})
	mux, err := s.MuxHandler(metrics, "/m", Link{Path: "/probe?target=", Text: "Probe"})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/m", nil)
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "3")
	mux.ServeHTTP(rec, req)
	if rec.Code != 200 || rec.Body.String() != "per_request 1\n" || len(seen) != 1 || seen[0] != "3" {
		t.Errorf("/m: %d %q, handler saw %q", rec.Code, rec.Body.String(), seen)
	}
	if code, body := get(t, mux, "/"); code != 200 || !strings.Contains(body, `href="/m"`) || !strings.Contains(body, "/probe?target=") {
		t.Errorf("landing page: %d\n%s", code, body)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "svc_test_gauge", Help: "A gauge."}))
	mux, err = s.Mux(reg, "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, mux, "/metrics"); code != 200 || !strings.Contains(body, "\nsvc_test_gauge 0\n") {
		t.Errorf("Mux /metrics: %d\n%s", code, body)
	}
}
