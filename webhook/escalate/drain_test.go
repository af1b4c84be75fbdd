package escalate

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hotel-ops/hotel-ops/internal/testenv"
	"github.com/hotel-ops/hotel-ops/webhook/payload"
	"github.com/hotel-ops/hotel-ops/webhook/policy"
	"github.com/hotel-ops/hotel-ops/webhook/store"
)

// A backlog of several batches on the PostgreSQL store, drained by the
// store's parallel workers: every step is taken, each once.
func TestParallelDrainTakesEachStepOnce(t *testing.T) {
	pg := testenv.StartPrimary(t, "escalate-drain", testenv.PrimaryOptions{})
	pg.Exec("CREATE DATABASE escalator")
	st, err := store.OpenPostgres(ctx, pg.DSN("escalator"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if st.FireWorkers() < 2 {
		t.Fatalf("the PostgreSQL store asks for %d workers: this test needs at least 2", st.FireWorkers())
	}
	var pol policy.File
	yaml.Unmarshal([]byte("policies:\n  - {name: p, matchers: ['severity=\"critical\"'], steps: [{after: 1m, notify: [x]}]}\n"), &pol)
	if err := pol.Validate(map[string]bool{"x": true}, nil); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	const deliveries, perDelivery = 60, 200 // 12,000 steps: more than two batches per worker
	for d := 0; d < deliveries; d++ {
		var alerts []string
		for a := 0; a < perDelivery; a++ {
			alerts = append(alerts, fmt.Sprintf(`{"status":"firing","labels":{"alertname":"A","severity":"critical"},"startsAt":"2026-11-28T08:00:00Z","fingerprint":"f%d-%d"}`, d, a))
		}
		p, err := payload.Parse(strings.NewReader(fmt.Sprintf(`{"version":"4","groupKey":"g%d","status":"firing","alerts":[%s]}`, d, strings.Join(alerts, ","))))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Receive(ctx, p, &pol, t0); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	taken := map[string]int{}
	e := &Engine{Store: st, Policies: &pol, Now: func() time.Time { return t0.Add(time.Hour) },
		OnFired: func(f store.Fired) { mu.Lock(); taken[f.Incident]++; mu.Unlock() }}
	n, err := e.Step(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := deliveries * perDelivery; n != want || len(taken) != want {
		t.Errorf("Step took %d steps of %d incidents, want %d", n, len(taken), want)
	}
	for id, c := range taken {
		if c != 1 {
			t.Errorf("step of %s taken %d times", id, c)
		}
	}
	if n, err := e.Step(ctx); n != 0 || err != nil {
		t.Errorf("a second Step took %d: %v", n, err)
	}
}
