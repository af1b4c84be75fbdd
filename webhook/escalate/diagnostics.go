package escalate

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/hotel-ops/hotel-ops/webhook/diagnose"
	"github.com/hotel-ops/hotel-ops/webhook/store"
)

// Diagnoser runs the health checks that apply to an incident's labels
// (nil labels: all of them): *diagnose.Runner.
type Diagnoser interface {
	Run(ctx context.Context, labels map[string]string) []diagnose.Result
}

// diagnosisFresh is how long an incident's diagnosis is reused: the
// channels of one step (PagerDuty and Slack at once) share one run; a
// later step, minutes on, gets a fresh one.
const diagnosisFresh = 2 * time.Minute

// diagnosis is one incident's run of its checks, shared by the sends
// that wait for it.
type diagnosis struct {
	done    chan struct{}
	summary string
	at      time.Time
}

// diagnoses keeps the runs per incident, each for diagnosisFresh.
type diagnoses struct {
	mu   sync.Mutex
	runs map[string]*diagnosis
}

// diagnose runs the incident's checks (once per diagnosisFresh, however
// many channels ask), records their summary in the audit log, for the
// console, and returns it; "" when no check applies.
func (e *Engine) diagnose(ctx context.Context, inc *store.Incident) string {
	if e.Diagnose == nil {
		return ""
	}
	now := time.Now()
	e.diag.mu.Lock()
	if e.diag.runs == nil {
		e.diag.runs = map[string]*diagnosis{}
	}
	for id, d := range e.diag.runs {
		if now.Sub(d.at) > diagnosisFresh {
			delete(e.diag.runs, id)
		}
	}
	d, ok := e.diag.runs[inc.ID]
	if !ok {
		d = &diagnosis{done: make(chan struct{}), at: now}
		e.diag.runs[inc.ID] = d
	}
	e.diag.mu.Unlock()
	if ok {
		select {
		case <-d.done:
		case <-ctx.Done():
			return ""
		}
		return d.summary
	}
	defer close(d.done)
	began := time.Now()
	results := e.Diagnose.Run(ctx, inc.Labels)
	if e.Metrics != nil {
		e.Metrics.Diagnostics.Observe(time.Since(began).Seconds())
	}
	if len(results) == 0 {
		return ""
	}
	d.summary = diagnose.Summary(results)
	entry := store.Entry{Time: e.Now(), Incident: inc.ID, Action: "diagnosed", Detail: strings.ReplaceAll(d.summary, "\n", "; ")}
	if err := e.Store.Record(context.WithoutCancel(ctx), entry); err != nil {
		e.Logger.Warn("recording a diagnosis", "incident", inc.ID, "err", err)
	}
	return d.summary
}

// automation lists what auto-recovery actions did for the incident, from
// its audit log, oldest first, for the people paged. Only incidents
// whose policy runs actions are read.
func (e *Engine) automation(ctx context.Context, inc *store.Incident) []string {
	p := e.Policies.Byname(inc.Policy)
	if p == nil || !p.HasActions() {
		return nil
	}
	entries, err := e.Store.Audit(ctx, inc.ID, 200)
	if err != nil {
		e.Logger.Warn("reading what actions did", "incident", inc.ID, "err", err)
		return nil
	}
	var out []string
	for i := len(entries) - 1; i >= 0; i-- {
		en := entries[i]
		verdict, ok := strings.CutPrefix(en.Action, "action_")
		if !ok {
			continue
		}
		out = append(out, automationLine(en.Time, verdict, en.Detail))
	}
	return out
}

// automationLine is "clear_cache succeeded at 03:12:04Z: unlinked 42
// keys" from an audit entry ("clear_cache (key): unlinked 42 keys").
func automationLine(at time.Time, verdict, detail string) string {
	name, rest, _ := strings.Cut(detail, " (")
	if _, d, ok := strings.Cut(rest, "): "); ok {
		rest = d
	}
	return name + " " + strings.ReplaceAll(verdict, "_", " ") + " at " + at.UTC().Format("15:04:05Z") + ": " + rest
}
