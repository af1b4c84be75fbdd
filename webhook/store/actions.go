package store

import (
	"fmt"
	"strings"
	"time"
)

// Auto-recovery actions. A policy step may name actions beside (or
// instead of) channels; the state machine queues one run of each, as it
// queues a notification, under the queue ActionQueue(name) and the key
// incident/step/queue, so that two Alertmanager peers or two replicas
// queue it once. What differs from a notification is what happens after
// the claim: a notification is retried until it is sent, an action runs
// at most once. Before running, BeginAction records in one transaction
// that it started (and counts it for its cooldown and budget); a run
// found started is one whose outcome nobody knows (the process died
// mid-action), and it is never run again: it is recorded as unknown for
// the next person to see.

// actionPrefix marks an action's queue among the channels' queues.
const actionPrefix = "action:"

// ActionQueue is the queue of the named action's runs.
func ActionQueue(name string) string { return actionPrefix + name }

// ActionName is the action a queue runs, "" when the queue is a channel's.
func ActionName(queue string) string {
	name, ok := strings.CutPrefix(queue, actionPrefix)
	if !ok {
		return ""
	}
	return name
}

// ActionLimits are what BeginAction holds a run to.
type ActionLimits struct {
	// Target is what the cooldown counts per (say "instance=db-1"): two
	// incidents of the same target share it.
	Target   string
	Cooldown time.Duration
	// At most BudgetMax runs of the action in any BudgetWindow.
	BudgetMax    int
	BudgetWindow time.Duration
	// BreakerFailures: after this many runs of the action in a row
	// failed (or were cut off, or did not hold), it runs no more until a
	// person resets it (0: no breaker).
	BreakerFailures int
	// RefireWithin: the target's last run succeeded less than this
	// before, and its alert fires again: the fix did not hold, and it is
	// not run again (counted as a failure for the breaker; 0: no check).
	RefireWithin time.Duration
	// DryRun: decide as for a real run, record what would run, run nothing.
	DryRun bool
	// Approval, when set, is how long a run waits for a person's
	// approval (the spec's standard and major changes) before the next
	// step is taken instead.
	Approval time.Duration
	// Describe is what the run would do, for the audit.
	Describe string
}

// Verdicts of BeginAction and FinishAction, as the audit and the metrics
// name them.
const (
	ActionStarted  = "started"  // run it now
	ActionDryRun   = "dry_run"  // would have run
	ActionCooldown = "cooldown" // the target had a run within the cooldown
	ActionBudget   = "budget"   // the action's budget for the window is spent
	ActionNotOpen  = "not_open" // the incident was resolved or acknowledged first
	ActionUnknown  = "unknown"  // started before and never finished: not run again
	ActionGone     = "gone"     // no longer queued (finished by another replica)
	ActionRefused  = "refused"  // its labels are not what the action accepts, or its precondition could not be asked
	// ActionPrecondition: its precondition (a PromQL query) returned nothing: not needed now.
	ActionPrecondition = "precondition"
	ActionBreaker      = "breaker" // the action's breaker is open: its last runs failed
	ActionRefired      = "refired" // the target's last fix succeeded and did not hold
	// ActionApprovalTimeout: an action that needs approval did not get it in time.
	ActionApprovalTimeout = "approval_timeout"
	// ActionAwaiting: waits for a person's approval (the run stays queued).
	ActionAwaiting  = "awaiting_approval"
	ActionSucceeded = "succeeded" // ran, and reported success
	ActionFailed    = "failed"    // ran, and failed (not retried)
)

// ActionStart is BeginAction's verdict.
type ActionStart struct {
	Verdict string
	Detail  string
}

// Run reports whether the action is to run now.
func (a ActionStart) Run() bool { return a.Verdict == ActionStarted }

// actionFacts are what a store reads, in the transaction that begins a
// run, for decideAction.
type actionFacts struct {
	Queued  bool      // the run is still queued
	Started time.Time // when it began before (zero: never)
	// Asked is when it asked for approval; ApprovedBy who gave it.
	Asked      time.Time
	ApprovedBy string
	Status     string // its incident's status ("" when the incident is gone)
	// Last is the target's latest run (zero Started: none).
	Last runRecord
	// RunsInWindow: the action's runs within the budget window.
	RunsInWindow int
	// Recent are the outcomes of the action's latest finished runs and
	// resets, newest first, at most BreakerFailures of them.
	Recent []string
}

// runRecord is one row of a store's record of runs: a run begun (its
// outcome empty until it ends), or a marker that is not a run (a refire
// seen, a person's reset of the breaker).
type runRecord struct {
	Incident string    `json:"incident"`
	Key      string    `json:"key"`
	Started  time.Time `json:"-"`
	Outcome  string    `json:"outcome,omitempty"`
	Finished time.Time `json:"finished,omitzero"`
}

// Outcomes of rows that are markers, not runs.
const (
	markRefired = ActionRefired
	markReset   = "reset"
)

func (f actionFacts) askedOr(now time.Time) time.Time {
	if f.Asked.IsZero() {
		return now
	}
	return f.Asked
}

// isRun reports whether a recorded outcome is a run's (or a run still
// under way), as cooldowns and budgets count them.
func isRun(outcome string) bool { return outcome != markRefired && outcome != markReset }

// breakerOpen: the last runs, as many as the breaker counts, all failed,
// with no reset after them.
func breakerOpen(recent []string, failures int) bool {
	if failures <= 0 || len(recent) < failures {
		return false
	}
	for _, o := range recent[:failures] {
		if o != ActionFailed && o != ActionUnknown && o != markRefired {
			return false
		}
	}
	return true
}

// decideAction is the one place where a claimed run is allowed or not;
// both stores gather the facts and apply the verdict.
func decideAction(f actionFacts, lim ActionLimits, now time.Time) ActionStart {
	switch {
	case !f.Queued:
		return ActionStart{Verdict: ActionGone}
	case !f.Started.IsZero():
		return ActionStart{Verdict: ActionUnknown, Detail: fmt.Sprintf(
			"started %s and never finished (escalator stopped mid-action): outcome unknown, not run again; check by hand",
			f.Started.UTC().Format(time.RFC3339))}
	case f.Status != Open:
		what := "resolved"
		if f.Status == Acknowledged {
			what = "acknowledged: left to the person who took it"
		}
		return ActionStart{Verdict: ActionNotOpen, Detail: "the incident is " + what + "; " + lim.Describe + " not run"}
	case breakerOpen(f.Recent, lim.BreakerFailures):
		return ActionStart{Verdict: ActionBreaker, Detail: fmt.Sprintf("its last %d runs failed: breaker open until a person resets it; %s not run",
			lim.BreakerFailures, lim.Describe)}
	case lim.RefireWithin > 0 && f.Last.Outcome == ActionSucceeded && now.Sub(f.Last.Finished) < lim.RefireWithin:
		return ActionStart{Verdict: ActionRefired, Detail: fmt.Sprintf("the last run for %s succeeded at %s and the alert fires again within %s: the fix did not hold; %s not run",
			lim.Target, f.Last.Finished.UTC().Format(time.RFC3339), lim.RefireWithin, lim.Describe)}
	case lim.Cooldown > 0 && !f.Last.Started.IsZero() && now.Sub(f.Last.Started) < lim.Cooldown:
		return ActionStart{Verdict: ActionCooldown, Detail: fmt.Sprintf("%s ran for %s at %s, within its cooldown of %s; not run",
			lim.Describe, lim.Target, f.Last.Started.UTC().Format(time.RFC3339), lim.Cooldown)}
	case lim.BudgetMax > 0 && f.RunsInWindow >= lim.BudgetMax:
		return ActionStart{Verdict: ActionBudget, Detail: fmt.Sprintf("%d runs in the last %s, its budget; %s not run",
			f.RunsInWindow, lim.BudgetWindow, lim.Describe)}
	case lim.DryRun:
		return ActionStart{Verdict: ActionDryRun, Detail: "would " + lim.Describe}
	case lim.Approval > 0 && f.ApprovedBy == "" && !f.Asked.IsZero() && !now.Before(f.Asked.Add(lim.Approval)):
		return ActionStart{Verdict: ActionApprovalTimeout, Detail: fmt.Sprintf("no approval within %s; %s not run", lim.Approval, lim.Describe)}
	case lim.Approval > 0 && f.ApprovedBy == "":
		return ActionStart{Verdict: ActionAwaiting, Detail: fmt.Sprintf("%s waits for approval until %s",
			lim.Describe, f.askedOr(now).Add(lim.Approval).UTC().Format(time.RFC3339))}
	case f.ApprovedBy != "":
		return ActionStart{Verdict: ActionStarted, Detail: lim.Describe + ", approved by " + f.ApprovedBy}
	}
	return ActionStart{Verdict: ActionStarted, Detail: lim.Describe}
}

// ActionOutcome is how a started (or refused) run ended.
type ActionOutcome struct {
	Verdict string // ActionSucceeded, ActionFailed or ActionRefused
	Detail  string
	Now     time.Time
}

// actionAuditName is the audit action of a verdict.
func actionAuditName(verdict string) string { return "action_" + verdict }

func actionDetail(n Notification, detail string) string {
	return ActionName(n.Channel) + " (" + n.Key + "): " + detail
}

// ended is the event a verdict gives the incident (actionEnded).
func ended(n Notification, verdict string, now time.Time) Event {
	return Event{Kind: ActionEnded, Now: now, Action: ActionName(n.Channel), Verdict: verdict}
}
