package escalate

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/hotel-ops/hotel-ops/webhook/action"
	"github.com/hotel-ops/hotel-ops/webhook/notify"
	"github.com/hotel-ops/hotel-ops/webhook/store"
)

// Action is a configured auto-recovery action as the engine runs it.
type Action struct {
	Config *action.Config
	Run    action.Action
}

// actionsAtOnce bounds the runs of one action in flight at once, on
// each replica: a storm of incidents must not become a storm of restarts
// (the budget bounds them over time, this at any moment).
const actionsAtOnce = 4

// leaseMargin is how much longer than an action's timeout its claim is
// held: a run never outlives its claim, so no other sender takes it
// while it runs (and one that does finds it begun: unknown, not run).
const leaseMargin = 15 * time.Second

// runActions runs the named action's queued runs until ctx ends, each
// once: begun (or refused) in the store before anything is done.
func (e *Engine) runActions(ctx context.Context, name string) {
	queue := store.ActionQueue(name)
	a := e.Actions[name]
	lease := actionLease(a)
	wake := e.senderWake(queue)
	slots := make(chan struct{}, actionsAtOnce)
	var running sync.WaitGroup
	defer running.Wait()
	for ctx.Err() == nil {
		if free := cap(slots) - len(slots); free > 0 {
			claimed, err := e.Store.Claim(ctx, queue, e.Now(), lease, free)
			if err != nil && ctx.Err() == nil {
				e.Logger.Error("claiming action runs", "action", name, "err", err)
			}
			for _, n := range claimed {
				slots <- struct{}{}
				running.Add(1)
				go func() {
					defer running.Done()
					defer func() { <-slots }()
					e.runAction(ctx, name, a, n)
				}()
			}
		}
		select {
		case <-ctx.Done():
		case <-wake:
		case <-time.After(e.Tick):
		}
	}
}

// RunActionsDue runs the named action's due runs once each and returns
// how many it took; tests with an injected clock call it, as SendDue.
func (e *Engine) RunActionsDue(ctx context.Context, name string) (int, error) {
	e.init()
	a, ok := e.Actions[name]
	if !ok {
		return 0, errors.New("no action " + name)
	}
	claimed, err := e.Store.Claim(ctx, store.ActionQueue(name), e.Now(), actionLease(a), actionsAtOnce)
	if err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	for _, n := range claimed {
		wg.Add(1)
		go func() { defer wg.Done(); e.runAction(ctx, name, a, n) }()
	}
	wg.Wait()
	return len(claimed), nil
}

// runAction takes one run: the incident's labels, filtered by what the
// action accepts, decide its target; the store decides whether it runs
// (actions.go of the store: cooldown, budget, dry run, still open, not
// begun before); then it runs within its timeout and its outcome is
// recorded. It is never retried: a failed fix escalates to people, who
// see what was tried in the incident's timeline.
func (e *Engine) runAction(ctx context.Context, name string, a Action, n store.Notification) {
	log := e.Logger.With("action", name, "incident", n.Incident)
	finish := func(verdict, detail string) {
		// Recorded even while shutting down: a run that happened is
		// never taken again for one that did not.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := e.Store.FinishAction(fctx, n, store.ActionOutcome{Verdict: verdict, Detail: detail, Now: e.Now()}); err != nil {
			log.Error("recording an action's outcome", "verdict", verdict, "err", err)
		}
		e.countAction(name, verdict)
	}
	inc, err := e.Store.Incident(ctx, n.Incident)
	if errors.Is(err, store.ErrNotFound) {
		finish(store.ActionRefused, "the incident is gone")
		return
	}
	if err != nil {
		log.Error("reading the incident of an action", "err", err)
		return // claimed again after its lease
	}
	allowed, err := a.Config.Allowed(inc.Labels)
	if err != nil {
		finish(store.ActionRefused, err.Error())
		return
	}
	what, err := a.Run.Describe(allowed)
	if err != nil {
		finish(store.ActionRefused, err.Error())
		return
	}
	pre, post, within, err := a.Config.Checks(allowed)
	if err != nil {
		finish(store.ActionRefused, err.Error())
		return
	}
	if pre != "" {
		holds, err := e.promHolds(ctx, pre)
		switch {
		case err != nil:
			finish(store.ActionRefused, "precondition "+pre+" could not be asked: "+err.Error())
			return
		case !holds:
			finish(store.ActionPrecondition, "precondition "+pre+" returned nothing: "+what+" not run")
			return
		}
	}
	lim := a.Config.Limits()
	start, err := e.Store.BeginAction(ctx, n, store.ActionLimits{
		Target: a.Config.Target(allowed), Cooldown: lim.Cooldown, BudgetMax: lim.BudgetMax,
		BudgetWindow: lim.BudgetWindow, DryRun: lim.DryRun, Describe: what,
		BreakerFailures: lim.BreakerFailures, RefireWithin: lim.RefireWithin, Approval: lim.Approval,
	}, e.Now())
	if err != nil {
		log.Error("beginning an action", "err", err)
		return
	}
	if !start.Run() {
		if start.Verdict != store.ActionGone {
			e.countAction(name, start.Verdict)
		}
		log.Info("action not run", "verdict", start.Verdict, "detail", start.Detail)
		return
	}
	if e.OnActionStart != nil {
		e.OnActionStart(n)
	}
	// Its own deadline, not the process's: a shutdown waits for the run
	// (up to its timeout) so that its outcome is known.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lim.Timeout)
	began := time.Now()
	detail, runErr := a.Run.Run(rctx, allowed)
	cancel()
	if e.Metrics != nil {
		e.Metrics.ActionDuration.WithLabelValues(name).Observe(time.Since(began).Seconds())
	}
	if runErr != nil && errors.Is(rctx.Err(), context.DeadlineExceeded) {
		// Cut off mid-way: it may have done part of its work.
		log.Warn("action timed out", "err", runErr)
		finish(store.ActionUnknown, "timed out after "+lim.Timeout.String()+": outcome unknown, not run again; check by hand ("+runErr.Error()+")")
		return
	}
	if runErr != nil {
		log.Warn("action failed", "err", runErr)
		finish(store.ActionFailed, runErr.Error())
		return
	}
	if post != "" {
		// The run is still begun, not finished, while its post-check
		// waits: a kill now leaves it unknown, as it should.
		ok, after, err := e.recovered(ctx, post, within)
		if !ok {
			why := "returned nothing within " + within.String() + ": not recovered"
			if err != nil {
				why = "could not be asked: " + err.Error()
			}
			log.Warn("action did not recover", "postcheck", post, "why", why)
			finish(store.ActionFailed, detail+"; post-check "+post+" "+why)
			return
		}
		detail += "; recovered: " + post + " held after " + after.Round(time.Second).String()
	}
	log.Info("action succeeded", "detail", detail)
	finish(store.ActionSucceeded, detail)
}

// actionLease is how long a claimed run is held: its timeout, its
// post-check's wait, and a margin.
func actionLease(a Action) time.Duration {
	return a.Config.Limits().Timeout + a.Config.PostcheckWithin() + leaseMargin
}

func (e *Engine) countAction(name, verdict string) {
	if e.Metrics != nil {
		e.Metrics.Actions.WithLabelValues(name, verdict).Inc()
	}
}

// refuseUnknownAction ends the runs queued for an action the
// configuration no longer has: they would otherwise wait for ever.
func (e *Engine) refuseUnknownAction(ctx context.Context, name string) {
	claimed, err := e.Store.Claim(ctx, store.ActionQueue(name), e.Now(), time.Minute, 100)
	if err != nil {
		e.Logger.Warn("claiming runs of an unknown action", "action", name, "err", err)
		return
	}
	for _, n := range claimed {
		o := store.ActionOutcome{Verdict: store.ActionRefused, Detail: "action " + name + " is not configured any more", Now: e.Now()}
		if err := e.Store.FinishAction(ctx, n, o); err != nil {
			e.Logger.Warn("refusing a run of an unknown action", "action", name, "err", err)
		}
	}
}

// ApproveAction gives a run of the action for the incident the approval
// it waits for, and wakes the action's runner to take it at once.
func (e *Engine) ApproveAction(ctx context.Context, incident, action, by string) error {
	e.init()
	if _, ok := e.Actions[action]; !ok {
		return store.ErrNotFound
	}
	if err := e.Store.ApproveAction(ctx, incident, action, by, e.Now()); err != nil {
		return err
	}
	signal(e.senderWake(store.ActionQueue(action)))
	return nil
}

// ResetAction closes the action's breaker.
func (e *Engine) ResetAction(ctx context.Context, action, by string) error {
	e.init()
	if _, ok := e.Actions[action]; !ok {
		return store.ErrNotFound
	}
	return e.Store.ResetAction(ctx, action, by, e.Now())
}

// approvals are the signed links that approve the actions of the
// incident's step that need approval (and are not dry runs), for its
// trigger notifications: whoever is paged can approve from the page.
func (e *Engine) approvals(inc *store.Incident, step int) []notify.Approval {
	p := e.Policies.Byname(inc.Policy)
	if p == nil || step < 0 {
		return nil
	}
	st, _, ok := p.StepAt(step)
	if !ok {
		return nil
	}
	var out []notify.Approval
	for _, name := range st.Actions {
		a, ok := e.Actions[name]
		if !ok {
			continue
		}
		if lim := a.Config.Limits(); lim.Approval > 0 && !lim.DryRun {
			out = append(out, notify.Approval{Action: name, URL: e.Links.ApproveURL(inc.ID, name, e.Now())})
		}
	}
	return out
}
