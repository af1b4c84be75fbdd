package incidents

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A real escalator answers 200 and 401 (escalator_test.go); these are the
// answers it gives only when something is wrong, served by a loopback
// server: a store failure, a proxy's error page, an endless body.

func TestClientNon200NamesStatusAndReason(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/incidents" || r.URL.Query().Get("limit") != "10000" || r.Header.Get("Authorization") != "Bearer tok" {
			t.Errorf("request %s %s with Authorization %q", r.Method, r.URL, r.Header.Get("Authorization"))
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "{\"error\":\"store unavailable\"}\n"+strings.Repeat("x", 10000))
	}))
	defer srv.Close()
	_, err := (&Client{URL: srv.URL, Token: "tok"}).Incidents(context.Background())
	if err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), `"store unavailable"`) {
		t.Fatalf("error %v, want the status and escalator's reason", err)
	}
	if len(err.Error()) > 500 || strings.Contains(err.Error(), "tok\"") || strings.Contains(err.Error(), "Bearer") {
		t.Errorf("error too long or carrying the token: %q", err)
	}
}

// An answer past MaxBody is an error, not a truncated list; it is read no
// further than the limit. So is one with more incidents than asked for.
func TestClientBodyLimit(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, "[")
		// Incidents with long annotations: 10,000 of them exceed the limit.
		item := []byte(`{"id":"x","annotations":{"description":"` + strings.Repeat("d", 16<<10) + `"},"openedAt":"2026-11-28T00:00:00Z"},`)
		var n int64
		for n < 2*MaxBody {
			m, err := w.Write(item)
			n += int64(m)
			if err != nil {
				break
			}
		}
	}))
	defer srv.Close()
	start := time.Now()
	_, err := (&Client{URL: srv.URL, Token: "tok"}).Incidents(context.Background())
	if !errors.Is(err, errTooLarge) {
		t.Fatalf("error %v, want errTooLarge", err)
	}
	t.Logf("refused after %s", time.Since(start).Round(time.Millisecond))

	many := "[" + strings.Repeat(`{"id":"x"},`, MaxIncidents) + `{"id":"one too many"}]`
	if _, err := decode(strings.NewReader(many)); err == nil || !strings.Contains(err.Error(), "more than the 10000") {
		t.Errorf("%d incidents: %v, want refused", MaxIncidents+1, err)
	}
	if list, err := decode(strings.NewReader("[" + strings.Repeat(`{"id":"x"},`, MaxIncidents-1) + `{"id":"x"}]`)); err != nil || len(list) != MaxIncidents {
		t.Errorf("exactly %d incidents: %d, %v", MaxIncidents, len(list), err)
	}
}

// A server that accepts the request and never answers is cut off by the
// caller's deadline.
func TestClientHonoursDeadline(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := (&Client{URL: srv.URL}).Incidents(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want the deadline", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %s past a 200ms deadline", took)
	}
}
