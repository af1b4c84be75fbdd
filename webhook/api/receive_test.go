package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hotel-ops/hotel-ops/internal/testenv"
	"github.com/hotel-ops/hotel-ops/webhook/escalate"
	"github.com/hotel-ops/hotel-ops/webhook/store"
)

// A stalled store (PostgreSQL stopped with SIGSTOP) gets a 503 at the
// store deadline, not an answer held until Alertmanager gives up; the
// delivery sent again once the store is back is stored once.
func TestStalledStoreAnswers503(t *testing.T) {
	pg := testenv.StartPrimary(t, "escalator-stall", testenv.PrimaryOptions{})
	st, err := store.OpenPostgres(context.Background(), pg.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	mux := http.NewServeMux()
	serve(&escalate.Engine{Store: st, Policies: benchPolicies(t, "1h")}, st, &Server{Token: []byte("t"), MaxBody: 1 << 20,
		StoreTimeout: 300 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	client := &http.Client{Timeout: time.Minute} // a hang fails the test instead of blocking it
	send := func() (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/alerts", strings.NewReader(delivery10(1)))
		req.Header.Set("Authorization", "Bearer t")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("posting while the store is stalled: %v", err)
		}
		defer resp.Body.Close()
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}

	pg.Freeze()
	code, body := send()
	pg.Resume()
	if code != http.StatusServiceUnavailable {
		t.Fatalf("stalled store: %d %v, want 503 so that Alertmanager retries", code, body)
	}
	// Alertmanager sends it again: stored now, or found stored already
	// (the first attempt's commit may land after its 503).
	code, body = send()
	if code != http.StatusOK {
		t.Fatalf("after the store is back: %d %v", code, body)
	}
	list, err := st.Incidents(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 10 {
		t.Errorf("%d incidents from one delivery of ten alerts sent twice, want 10", len(list))
	}
}
