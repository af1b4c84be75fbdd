package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hotel-ops/hotel-ops/internal/testenv"
)

// BenchmarkActionsFromOutside drives the escalator binary over loopback
// HTTP, one incident at a time, each of another target (no cooldown in
// the way), with an exec action (/bin/true) in its first step: how long
// from the delivery's answer to the action's start and its success (the
// audit's times), and to the first page at the receiver, without and
// with diagnostics (an HTTP check answering in 20 ms and a Redis PING):
// what diagnostics add to the first page.
//
//	go test ./webhook/escalator -run '^$' -bench ActionsFromOutside -benchtime 200x
func BenchmarkActionsFromOutside(b *testing.B) {
	rdb := testenv.StartRedis(b)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond)
	}))
	defer slow.Close()
	for _, c := range []struct{ name, diagnostics string }{
		{"diagnostics=none", ""},
		{"diagnostics=http+redis", fmt.Sprintf("diagnostics:\n  - {name: api, type: http, url: %s/healthz}\n  - {name: cache, type: redis, addr: %s}\n", slow.URL, rdb.Addr)},
	} {
		b.Run(c.name, func(b *testing.B) {
			dir := b.TempDir()
			rec := newBodies(b)
			cfg, tok := writeConfig(b, dir, fmt.Sprintf(`
store: {path: %s}
channels:
  oncall: {type: webhook, url: %s/oncall}
actions:
  fix:
    type: exec
    category: emergency
    dry_run: false
    rollback: none
    labels: {instance: '.+'}
    budget: {max: 1000000, window: 1h}
    command: [/bin/true, '{{.instance}}']
%spolicies:
  - name: critical
    matchers: ['severity="critical"']
    steps: [{after: 0s, actions: [fix], notify: [oncall]}]
`, filepath.Join(dir, "escalator.db"), rec.srv.URL, c.diagnostics))
			p := start(b, cfg, tok, testenv.FreePort(b))
			var toStart, toSuccess, toPage []time.Duration
			b.ResetTimer()
			for i := range b.N {
				fp := fmt.Sprint("fp", i)
				sent := time.Now()
				if code, msg := p.post(b, "/api/v1/alerts", delivery(fmt.Sprint("g", i), fp, fmt.Sprint("db-", i), "firing"), p.tok); code != 200 {
					b.Fatalf("delivery: %d %s", code, msg)
				}
				id := incidentID(fp)
				rec.wait(b, id+"/0/oncall", 10*time.Second)
				toPage = append(toPage, rec.arrived(id+"/0/oncall").Sub(sent))
				started := waitAudit(b, p, id, "action_started", 10*time.Second)
				done := waitAudit(b, p, id, "action_succeeded", 10*time.Second)
				toStart = append(toStart, auditLag(b, started["time"], sent))
				toSuccess = append(toSuccess, auditLag(b, done["time"], sent))
			}
			b.StopTimer()
			report(b, "start", toStart)
			report(b, "success", toSuccess)
			report(b, "page", toPage)
		})
	}
}

// report adds the p50 and p99 of ds as metrics named ms-<what>-p50/p99.
func report(b *testing.B, what string, ds []time.Duration) {
	slices.Sort(ds)
	at := func(q float64) float64 { return float64(ds[int(q*float64(len(ds)-1))]) / 1e6 }
	b.ReportMetric(at(0.5), "ms-"+what+"-p50")
	b.ReportMetric(at(0.99), "ms-"+what+"-p99")
}
