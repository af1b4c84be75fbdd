package escalate

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hotel-ops/hotel-ops/internal/testenv"
	"github.com/hotel-ops/hotel-ops/webhook/notify"
	"github.com/hotel-ops/hotel-ops/webhook/payload"
	"github.com/hotel-ops/hotel-ops/webhook/policy"
	"github.com/hotel-ops/hotel-ops/webhook/store"
)

// Every channel has its own sender, and each send is settled when it is
// done. With one receiver stalling, the other channel hears of each
// incident's trigger and then its resolve (which waits for the trigger
// to be settled) before the stalled receiver has answered even once; and
// the stalled channel's sends, each answered within the lease, reach it
// once each.
func TestStalledChannelHoldsOnlyItsOwn(t *testing.T) {
	stalled, healthy := testenv.StartHTTPRecorder(t), testenv.StartHTTPRecorder(t)
	const stall = 3 * time.Second
	stalled.Stall(stall)
	notifiers := map[string]notify.Notifier{}
	for name, rec := range map[string]*testenv.HTTPRecorder{"stalled": stalled, "healthy": healthy} {
		n, err := notify.New(name, notify.ChannelConfig{Type: "webhook", URL: rec.URL + "/hook"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		notifiers[name] = n
	}
	st, err := store.OpenEmbedded(filepath.Join(t.TempDir(), "e.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var pol policy.File
	yaml.Unmarshal([]byte("policies:\n  - {name: p, matchers: ['severity=\"critical\"'], steps: [{after: 0s, notify: [stalled, healthy]}]}\n"), &pol)
	if err := pol.Validate(map[string]bool{"stalled": true, "healthy": true}, nil); err != nil {
		t.Fatal(err)
	}
	e := &Engine{Store: st, Policies: &pol, Notifiers: notifiers, PerChannel: 8}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); e.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })

	const incidents = 24 // three times the stalled channel's slots
	var alerts []string
	for i := 0; i < incidents; i++ {
		alerts = append(alerts, fmt.Sprintf(`{"status":"firing","labels":{"alertname":"A%d","severity":"critical"},"startsAt":"2026-11-28T08:58:00Z","fingerprint":"s%d"}`, i, i))
	}
	receive := func(status string) {
		t.Helper()
		body := strings.ReplaceAll(strings.Join(alerts, ","), `"firing"`, `"`+status+`"`)
		d, err := payload.Parse(strings.NewReader(`{"version":"4","groupKey":"g","alerts":[` + body + `]}`))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Receive(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	receive("firing")
	waitCount := func(rec *testenv.HTTPRecorder, n int, within time.Duration) []testenv.Request {
		t.Helper()
		deadline := time.Now().Add(within)
		for time.Now().Before(deadline) {
			if reqs := rec.Requests(); len(reqs) >= n {
				return reqs
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("%s: %d requests, want %d", rec.URL, len(rec.Requests()), n)
		return nil
	}
	waitCount(healthy, incidents, stall)
	receive("resolved")
	got := waitCount(healthy, 2*incidents, stall)
	firstAnswer := start.Add(stall) // no stalled request is answered before this
	var last time.Duration
	for _, r := range got {
		if !r.Time.Before(firstAnswer) {
			t.Fatalf("a healthy channel's notification arrived at +%s, after the stalled channel's first answer", r.Time.Sub(start))
		}
		last = max(last, r.Time.Sub(start))
	}
	t.Logf("the healthy channel's %d notifications all arrived by +%s; the stalled one answers from +%s", len(got), last.Round(time.Millisecond), stall)
	// Its triggers, then its resolves: 2 per incident, each key once.
	waitCount(stalled, 2*incidents, 8*stall)
	time.Sleep(time.Second) // anything sent twice would arrive by now
	keys := map[string]int{}
	for _, r := range stalled.Requests() {
		keys[r.Header.Get("Idempotency-Key")]++
	}
	for k, n := range keys {
		if n != 1 {
			t.Errorf("%s sent %d times", k, n)
		}
	}
	if len(keys) != 2*incidents {
		t.Errorf("stalled channel: %d keys, want %d", len(keys), 2*incidents)
	}
}
