// Package escalate runs escalator: it records deliveries, takes due
// escalation steps and sends the queued notifications, all through the
// durable store so a restart loses nothing.
package escalate

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/hotel-ops/hotel-ops/webhook/notify"
	"github.com/hotel-ops/hotel-ops/webhook/payload"
	"github.com/hotel-ops/hotel-ops/webhook/policy"
	"github.com/hotel-ops/hotel-ops/webhook/store"
)

// Engine is escalator's core.
type Engine struct {
	Store    store.Store
	Policies *policy.File
	// Notifiers by channel name.
	Notifiers map[string]notify.Notifier
	// Actions by name: the auto-recovery actions policy steps run
	// (actions.go). OnActionStart, when set, sees each run as it begins.
	Actions       map[string]Action
	OnActionStart func(store.Notification)
	// Prometheus answers actions' preconditions and post-checks.
	Prometheus Querier
	// Diagnose, when set, runs the health checks that apply to an
	// incident before its trigger notifications go out: their summary
	// goes with them and into the audit log (diagnostics.go).
	Diagnose Diagnoser
	// Daily, when set with Diagnose, is the daily health check (daily.go).
	Daily *DailyHealth
	// DiagnoseTimeout bounds how long a trigger notification waits for
	// its diagnosis (default 5s, at most a third of Lease).
	DiagnoseTimeout time.Duration
	Links           *Links // signed acknowledgement links; nil: none
	Metrics         *Metrics
	Logger          *slog.Logger
	// Now is the clock; tests inject one so steps an hour apart take no time.
	Now func() time.Time
	// Tick bounds how long a due step waits when nothing wakes the
	// scheduler.
	Tick time.Duration
	// Retry settles how sends are retried: for how long after the
	// notification was queued (default a day: a page must outlast a
	// Slack or PagerDuty outage), and the backoff between attempts
	// (doubling from Backoff up to MaxGap, or the receiver's Retry-After).
	RetryFor        time.Duration
	Backoff, MaxGap time.Duration
	// PerChannel is how many sends to one channel may be in flight at
	// once (default 256: a slot is held until the send's outcome is
	// committed, so the slots bound a channel's rate under load). Each
	// channel has its own sender: a receiver that stalls or fails holds
	// only its own queue.
	PerChannel int
	// Lease bounds one send (default 15s: a channel's default timeout
	// and a margin). A claimed notification is another sender's only
	// after it, so a send never outlives it.
	Lease time.Duration
	// OnFired, when set, sees every step taken; OnSent every step's
	// notification sent, with its escalation lag (due time to sent).
	// Several workers may call them at once; benchmarks measure with them.
	OnFired func(store.Fired)
	OnSent  func(n store.Notification, lag time.Duration)
	// Retention is how long delivery hashes are kept to recognise copies
	// (default 7 days; pruned hourly).
	Retention time.Duration
	// History is how long resolved incidents and audit entries are kept
	// (default 90 days, as the operations spec keeps logs; pruned hourly).
	History time.Duration
	// OnAck, when set, is told of each acknowledgement (to silence the
	// alert in Alertmanager without waiting for the next pass).
	OnAck func()

	wake chan struct{}
	// queued wakes the senders when notifications were queued, so that a
	// step's notification goes out at once rather than at the next Tick:
	// one channel per sender, all signalled.
	mu     sync.Mutex
	queued map[string]chan struct{}
	once   sync.Once
	diag   diagnoses
}

func (e *Engine) init() {
	e.once.Do(func() {
		e.wake = make(chan struct{}, 1)
		e.queued = map[string]chan struct{}{}
		if e.Now == nil {
			e.Now = time.Now
		}
		if e.Tick == 0 {
			e.Tick = 100 * time.Millisecond
		}
		if e.RetryFor == 0 {
			e.RetryFor = 24 * time.Hour
		}
		if e.Backoff == 0 {
			e.Backoff = time.Second
		}
		if e.MaxGap == 0 {
			e.MaxGap = 5 * time.Minute
		}
		if e.PerChannel == 0 {
			e.PerChannel = 256
		}
		if e.Lease == 0 {
			e.Lease = notify.DefaultTimeout + 5*time.Second
		}
		if e.DiagnoseTimeout == 0 {
			e.DiagnoseTimeout = 5 * time.Second
		}
		if e.Retention == 0 {
			e.Retention = 7 * 24 * time.Hour
		}
		if e.History == 0 {
			e.History = 90 * 24 * time.Hour
		}
		if e.Logger == nil {
			e.Logger = slog.New(slog.DiscardHandler)
		}
		if e.Metrics != nil {
			e.Metrics.storeFn = func() (int, map[string]int, error) {
				ctx := context.Background()
				p, err := e.Store.Pending(ctx)
				if err != nil {
					return 0, nil, err
				}
				o, err := e.Store.OpenBySeverity(ctx)
				return p, o, err
			}
		}
	})
}

// Receive stores a delivery; it returns once the delivery is durable.
func (e *Engine) Receive(ctx context.Context, d *payload.Delivery) (store.Received, error) {
	e.init()
	res, err := e.Store.Receive(ctx, d, e.Policies, e.Now())
	if err != nil {
		return res, err
	}
	if m := e.Metrics; m != nil {
		if res.Duplicate {
			m.Duplicates.Inc()
		} else {
			for _, a := range d.Alerts {
				m.AlertsReceived.WithLabelValues(a.Status).Inc()
			}
			m.Truncated.Add(float64(d.Truncated))
			m.EarlyResolves.Add(float64(res.EarlyResolves))
			for _, r := range res.Resolutions {
				m.Resolution.WithLabelValues(r.Severity).Observe(r.Duration.Seconds())
				m.Resolved.WithLabelValues(r.Severity, strconv.FormatBool(r.Automated)).Inc()
			}
		}
	}
	if res.Opened > 0 || res.Resolved > 0 || res.Reopened > 0 {
		e.poke()
	}
	return res, nil
}

// Ack acknowledges an incident: its escalation stops.
func (e *Engine) Ack(ctx context.Context, id, by string) (*store.Incident, error) {
	e.init()
	inc, err := e.Store.Ack(ctx, id, by, e.Now())
	if err == nil {
		e.poke()
		if e.OnAck != nil {
			e.OnAck()
		}
	}
	return inc, err
}

// Resolve closes an incident by hand (a person resolved it where the
// page was read): its escalation stops and its channels hear it.
func (e *Engine) Resolve(ctx context.Context, id, by string) (*store.Incident, error) {
	e.init()
	inc, err := e.Store.Resolve(ctx, id, by, e.Now())
	if err == nil {
		e.poke()
		if e.OnAck != nil {
			e.OnAck() // its silence, if any, is expired at the next pass
		}
	}
	return inc, err
}

func (e *Engine) poke() {
	signal(e.wake)
	e.wakeSenders() // a resolve or an acknowledgement queued notifications
}

// wakeSenders signals every channel's sender.
func (e *Engine) wakeSenders() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ch := range e.queued {
		signal(ch)
	}
}

// senderWake is the channel that wakes the sender of channel.
func (e *Engine) senderWake(channel string) chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	ch, ok := e.queued[channel]
	if !ok {
		ch = make(chan struct{}, 1)
		e.queued[channel] = ch
	}
	return ch
}

// signal wakes one waiter on ch, if none is already due to wake.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Run takes due steps and sends notifications until ctx ends.
func (e *Engine) Run(ctx context.Context) {
	e.init()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); e.schedule(ctx) }()
	go func() { defer wg.Done(); e.prune(ctx) }()
	for name := range e.Notifiers {
		wg.Add(1)
		go func() { defer wg.Done(); e.sendChannel(ctx, name) }()
	}
	for name := range e.Actions {
		wg.Add(1)
		go func() { defer wg.Done(); e.runActions(ctx, name) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); e.sweepUnknown(ctx) }()
	if e.Daily != nil && e.Diagnose != nil {
		wg.Add(1)
		go func() { defer wg.Done(); e.dailyHealth(ctx) }()
	}
	wg.Wait()
}

// stepBatch is how many due steps one transaction takes: large enough that
// a backlog after a restart costs few commits, small enough that one
// transaction stays well under a second.
const stepBatch = 5000

// Step runs the scheduler once: every step due now, in batches. Tests
// with an injected clock call it directly. A batch that comes back full
// is a backlog (after a restart, or a storm's steps all due at once): a
// store that lets several callers take different due steps at once
// (store.Parallel) then gets that many workers, so that it drains on
// every core. The common pass, a few steps come due, costs one query.
func (e *Engine) Step(ctx context.Context) (int, error) {
	e.init()
	total, full, err := e.fireBatch(ctx)
	if err != nil || !full {
		return total, err
	}
	workers := 1
	if p, ok := e.Store.(store.Parallel); ok {
		workers = max(1, p.FireWorkers())
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := e.drain(ctx)
			mu.Lock()
			defer mu.Unlock()
			total += n
			if first == nil {
				first = err
			}
		}()
	}
	wg.Wait()
	return total, first
}

// fireBatch takes one batch of due steps; full: it may have left more.
func (e *Engine) fireBatch(ctx context.Context) (n int, full bool, err error) {
	fired, err := e.Store.FireDue(ctx, e.Policies, e.Now(), stepBatch)
	if err != nil {
		return 0, false, err
	}
	for _, f := range fired {
		if e.OnFired != nil {
			e.OnFired(f)
		}
		if e.Metrics != nil {
			e.Metrics.Steps.WithLabelValues(f.Policy).Inc()
		}
	}
	if len(fired) > 0 {
		e.wakeSenders()
	}
	return len(fired), len(fired) == stepBatch, nil
}

// drain takes due steps in batches until a batch comes back short.
func (e *Engine) drain(ctx context.Context) (int, error) {
	total := 0
	for {
		n, full, err := e.fireBatch(ctx)
		total += n
		if err != nil || !full {
			return total, err
		}
	}
}

// stepGap is the least time between two passes of the scheduler for a
// step that comes due: a step is at most this late, and in a storm,
// where every incident's step is due at its own millisecond, the store
// is asked at most 1/stepGap times a second, not once a step, and the
// senders the scheduler wakes claim as seldom.
const stepGap = 10 * time.Millisecond

func (e *Engine) schedule(ctx context.Context) {
	for {
		if _, err := e.Step(ctx); err != nil && ctx.Err() == nil {
			e.Logger.Error("taking due escalation steps", "err", err)
		}
		wait := e.Tick
		if next, err := e.Store.NextDue(ctx); err == nil && !next.IsZero() {
			if d := next.Sub(e.Now()); d < wait {
				wait = max(d, stepGap)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-e.wake:
		case <-time.After(wait):
		}
	}
}

func (e *Engine) prune(ctx context.Context) {
	// The first pass waits a minute: after a restart, the backlog of due
	// steps goes first.
	for wait := time.Minute; ; wait = time.Hour {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if n, err := e.Store.Prune(ctx, e.Now().Add(-e.Retention)); err != nil && ctx.Err() == nil {
			e.Logger.Warn("pruning delivery hashes", "err", err)
		} else if n > 0 {
			e.Logger.Debug("pruned delivery hashes", "count", n)
		}
		if inc, ent, err := e.Store.PruneHistory(ctx, e.Now().Add(-e.History)); err != nil && ctx.Err() == nil {
			e.Logger.Warn("pruning the history", "err", err)
		} else if inc+ent > 0 {
			e.Logger.Info("pruned the history", "incidents", inc, "audit_entries", ent, "older_than", e.History)
		}
	}
}

// sendChannel sends the channel's notifications until ctx ends: up to
// PerChannel at once, each settled as soon as it is done, so a send that
// stalls holds only its own slot, and what was sent beside it is never
// sent again because of it.
func (e *Engine) sendChannel(ctx context.Context, channel string) {
	wake := e.senderWake(channel)
	slots := make(chan struct{}, e.PerChannel)
	done := make(chan store.Outcome, e.PerChannel)
	freed := make(chan struct{}, 1)
	var settling sync.WaitGroup
	settling.Add(1)
	go func() { defer settling.Done(); e.settle(done, slots, freed) }()
	var sending sync.WaitGroup
	defer func() {
		sending.Wait()
		close(done)
		settling.Wait()
	}()
	for ctx.Err() == nil {
		free := cap(slots) - len(slots)
		var claimed []store.Notification
		if free > 0 {
			var err error
			claimed, err = e.Store.Claim(ctx, channel, e.Now(), e.Lease, free)
			if err != nil && ctx.Err() == nil {
				e.Logger.Error("claiming notifications", "channel", channel, "err", err)
			}
		}
		for _, n := range claimed {
			slots <- struct{}{}
			sending.Add(1)
			go func() {
				defer sending.Done()
				done <- e.sendOne(ctx, n)
			}()
		}
		// Claim again when a notification is queued, at the tick (a
		// retry come due, another replica's lease ended), or when a slot
		// is freed: at once if slots were what held notifications back,
		// else (only a notification queued behind a settled one, of the
		// same incident, can have become due) at most every
		// freedClaimGap. A claim after every settled send would cost the
		// store a query for each, in a storm most of them finding nothing.
		limited := free == 0 || len(claimed) == free
		claimedAt := time.Now()
		select {
		case <-ctx.Done():
		case <-wake:
			// Notifications queued together are claimed together: in a
			// storm they are queued hundreds a second, and a claim for
			// each was most of the store's claims, each taking one or two.
			// A quiet channel's claim (the last one long ago) waits not at all.
			select {
			case <-ctx.Done():
			case <-time.After(time.Until(claimedAt.Add(queuedClaimGap))):
			}
		case <-freed:
			if !limited {
				select {
				case <-ctx.Done():
				case <-wake:
				case <-time.After(time.Until(claimedAt.Add(freedClaimGap))):
				}
			}
		case <-time.After(e.Tick):
		}
	}
}

// freedClaimGap is the least time between a sender's claims that only a
// settled send prompts: how late a notification queued behind another of
// its incident (a resolve behind its trigger) may go out.
const freedClaimGap = 20 * time.Millisecond

// queuedClaimGap is the least time between a sender's claims that newly
// queued notifications prompt: how much later than at once a page may go
// out in a storm.
const queuedClaimGap = 10 * time.Millisecond

// settle records outcomes as they come, those ready together in one
// write, and frees their slots once written.
func (e *Engine) settle(done chan store.Outcome, slots chan struct{}, freed chan struct{}) {
	for o := range done {
		batch := []store.Outcome{o}
	more:
		for len(batch) < cap(slots) {
			select {
			case o, ok := <-done:
				if !ok {
					break more
				}
				batch = append(batch, o)
			default:
				break more
			}
		}
		// Settled even while shutting down: a send that went out is
		// recorded, or it would go out again at the next start.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := e.Store.Settle(ctx, batch); err != nil {
			e.Logger.Error("settling notifications", "count", len(batch), "err", err)
		}
		cancel()
		for range batch {
			<-slots
		}
		signal(freed)
	}
}

// sweepUnknown fails, once each, the notifications queued for a channel
// the configuration no longer has: they would otherwise wait for ever.
func (e *Engine) sweepUnknown(ctx context.Context) {
	for {
		chs, err := e.Store.Channels(ctx)
		if err != nil && ctx.Err() == nil {
			e.Logger.Warn("listing queued channels", "err", err)
		}
		for _, ch := range chs {
			if _, ok := e.Notifiers[ch]; ok {
				continue
			}
			if name := store.ActionName(ch); name != "" {
				if _, ok := e.Actions[name]; !ok {
					e.refuseUnknownAction(ctx, name)
				}
				continue
			}
			if _, err := e.SendDue(ctx, ch, 100); err != nil && ctx.Err() == nil {
				e.Logger.Warn("failing notifications of an unknown channel", "channel", ch, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Minute):
		}
	}
}

// SendDue sends up to limit queued notifications of the channel ("":
// every channel) once each, and settles them; it returns how many it
// tried. Tests with an injected clock call it; Run's senders do the
// same, continuously.
func (e *Engine) SendDue(ctx context.Context, channel string, limit int) (int, error) {
	e.init()
	claimed, err := e.Store.Claim(ctx, channel, e.Now(), e.Lease, limit)
	if err != nil || len(claimed) == 0 {
		return 0, err
	}
	outcomes := make([]store.Outcome, len(claimed))
	var wg sync.WaitGroup
	for i, n := range claimed {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outcomes[i] = e.sendOne(ctx, n)
		}()
	}
	wg.Wait()
	return len(claimed), e.Store.Settle(ctx, outcomes)
}

// sendOne sends n: sent, to be retried after its backoff, or given up.
func (e *Engine) sendOne(ctx context.Context, n store.Notification) store.Outcome {
	sendErr := e.deliver(ctx, n)
	var retryAt time.Time
	result := "success"
	if sendErr != nil {
		var perm *notify.PermanentError
		if !errors.As(sendErr, &perm) && e.Now().Sub(n.Created) < e.RetryFor {
			retryAt = e.Now().Add(notify.Backoff(n.Attempts+1, e.Backoff, e.MaxGap, sendErr))
			result = "retry"
		} else {
			result = "failure"
		}
		e.Logger.Warn("notification failed", "channel", n.Channel, "incident", n.Incident, "attempt", n.Attempts+1, "err", sendErr)
	}
	now := e.Now()
	if sendErr == nil && !n.Due.IsZero() {
		if e.OnSent != nil {
			e.OnSent(n, now.Sub(n.Due))
		}
		if e.Metrics != nil {
			e.Metrics.EscalationLag.Observe(now.Sub(n.Due).Seconds())
		}
	}
	if e.Metrics != nil {
		e.Metrics.Notifications.WithLabelValues(n.Channel, result).Inc()
	}
	return store.Outcome{N: n, Err: sendErr, RetryAt: retryAt, Now: now}
}

func (e *Engine) deliver(ctx context.Context, n store.Notification) error {
	nt, ok := e.Notifiers[n.Channel]
	if !ok {
		return &notify.PermanentError{Err: errors.New("channel " + n.Channel + " is not configured")}
	}
	// Never longer than the lease, diagnostics included: past it another
	// sender may take the notification, and a receiver would hear it twice.
	ctx, cancel := context.WithTimeout(ctx, e.Lease-time.Second)
	defer cancel()
	inc := n.Subject // read with the claim, by the stores that can
	if inc == nil {
		var err error
		if inc, err = e.Store.Incident(ctx, n.Incident); err != nil {
			return err
		}
	}
	m := notify.Message{
		Key: n.Key, Incident: inc.ID, Event: notify.Event(n.Event), Severity: inc.Labels["severity"],
		Summary: inc.Annotations["summary"], Description: inc.Annotations["description"], Labels: inc.Labels,
		StartsAt: inc.StartsAt, Step: n.Step, Policy: inc.Policy, Truncated: inc.Truncated,
	}
	if m.Summary == "" {
		m.Summary = inc.Labels["alertname"]
	}
	if n.Event == "trigger" {
		// At most a third of the lease: the page goes out with what the
		// checks found by then, the rest marked timed out.
		dctx, cancel := context.WithTimeout(ctx, min(e.DiagnoseTimeout, e.Lease/3))
		m.Diagnostics = e.diagnose(dctx, inc)
		cancel()
	}
	m.Automation = e.automation(ctx, inc)
	if e.Links != nil && n.Event == "trigger" {
		m.Approvals = e.approvals(inc, n.Step)
		m.AckURL = e.Links.AckURL(inc.ID, e.Now())
		m.ConsoleURL = e.Links.Base + "/console/incidents/" + url.PathEscape(inc.ID) // its timeline, with an acknowledge button
	}
	return nt.Send(ctx, m)
}
