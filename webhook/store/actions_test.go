package store

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hotel-ops/hotel-ops/webhook/policy"
)

// actionPolicies run the action fix at the opening of a DatabaseDown
// incident, and page slack five minutes later.
func actionPolicies(t testing.TB) *policy.File {
	var f policy.File
	doc := `
policies:
  - name: db
    matchers: ['alertname="DatabaseDown"']
    steps: [{after: 0s, actions: [fix]}, {after: 5m, notify: [slack]}]
`
	if err := yaml.Unmarshal([]byte(doc), &f); err != nil {
		t.Fatal(err)
	}
	if err := f.Validate(map[string]bool{"slack": true}, map[string]bool{"fix": true}); err != nil {
		t.Fatal(err)
	}
	return &f
}

func TestActionStepNeedsKnownAction(t *testing.T) {
	var f policy.File
	doc := `policies: [{name: p, matchers: ['a="b"'], steps: [{after: 0s, actions: [nope]}]}]`
	if err := yaml.Unmarshal([]byte(doc), &f); err != nil {
		t.Fatal(err)
	}
	err := f.Validate(map[string]bool{}, map[string]bool{"fix": true})
	if err == nil || !strings.Contains(err.Error(), `unknown action "nope"`) {
		t.Fatalf("got %v, want the unknown action named", err)
	}
}

// openAction opens an incident of DatabaseDown/fp, takes its first step
// and claims the action's run.
func openAction(t *testing.T, s Store, fp string, now time.Time) Notification {
	t.Helper()
	pol := actionPolicies(t)
	d := delivery(t, "g-"+fp, "firing", "DatabaseDown/"+fp)
	if _, err := s.Receive(ctx, d, pol, now); err != nil {
		t.Fatal(err)
	}
	// The other Alertmanager's copy: still one run.
	if _, err := s.Receive(ctx, delivery(t, "g-"+fp, "firing", "DatabaseDown/"+fp), pol, now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FireDue(ctx, pol, now, 100); err != nil {
		t.Fatal(err)
	}
	runs, err := s.Claim(ctx, ActionQueue("fix"), now, time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].Event != "run" || runs[0].Incident == "" {
		t.Fatalf("claimed %+v, want one run of fix", runs)
	}
	return runs[0]
}

func begin(t *testing.T, s Store, n Notification, lim ActionLimits, now time.Time, want string) ActionStart {
	t.Helper()
	got, err := s.BeginAction(ctx, n, lim, now)
	if err != nil {
		t.Fatal(err)
	}
	if got.Verdict != want {
		t.Fatalf("%s: verdict %q (%s), want %q", n.Key, got.Verdict, got.Detail, want)
	}
	return got
}

func auditActions(t *testing.T, s Store, incident string) string {
	t.Helper()
	entries, err := s.Audit(ctx, incident, 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(entries) - 1; i >= 0; i-- {
		if strings.HasPrefix(entries[i].Action, "action_") {
			out = append(out, entries[i].Action)
		}
	}
	return strings.Join(out, " ")
}

func queued(t *testing.T, s Store, now time.Time) int {
	t.Helper()
	left, err := s.Claim(ctx, ActionQueue("fix"), now, time.Minute, 100)
	if err != nil {
		t.Fatal(err)
	}
	return len(left)
}

// testActions: a run begins once, is counted for its target's cooldown
// and the action's budget, and ends off its queue; one found begun after
// a restart is recorded unknown and never run again; a dry run records
// and counts nothing; an incident closed first runs nothing.
func testActions(t *testing.T, s Store, reopen func() Store) {
	t0 := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	lim := func(target string) ActionLimits {
		return ActionLimits{Target: target, Cooldown: 10 * time.Minute, BudgetMax: 2, BudgetWindow: time.Hour, Describe: "fix " + target}
	}

	a := openAction(t, s, "a1", t0)
	begin(t, s, a, lim("instance=db-1"), t0, ActionStarted)
	if err := s.FinishAction(ctx, a, ActionOutcome{Verdict: ActionSucceeded, Detail: "fixed", Now: t0.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	if got := auditActions(t, s, a.Incident); got != "action_started action_succeeded" {
		t.Errorf("audit of a run: %q", got)
	}
	if n := queued(t, s, t0.Add(time.Minute)); n != 0 {
		t.Errorf("%d runs still queued after finishing", n)
	}
	// Finished twice (a replica's late settle): nothing more is written.
	if err := s.FinishAction(ctx, a, ActionOutcome{Verdict: ActionFailed, Detail: "late", Now: t0.Add(2 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	if got := auditActions(t, s, a.Incident); got != "action_started action_succeeded" {
		t.Errorf("audit after a second finish: %q", got)
	}

	// The same target within the cooldown: not run.
	b := openAction(t, s, "b1", t0.Add(5*time.Minute))
	begin(t, s, b, lim("instance=db-1"), t0.Add(5*time.Minute), ActionCooldown)
	if n := queued(t, s, t0.Add(6*time.Minute)); n != 0 {
		t.Errorf("a run refused for its cooldown is still queued (%d)", n)
	}
	// A dry run of another target: recorded, not counted.
	c := openAction(t, s, "c1", t0.Add(6*time.Minute))
	dry := lim("instance=db-2")
	dry.DryRun = true
	if got := begin(t, s, c, dry, t0.Add(6*time.Minute), ActionDryRun); !strings.Contains(got.Detail, "would fix instance=db-2") {
		t.Errorf("dry run detail %q", got.Detail)
	}
	// Another target: runs (the budget's second run of the hour) even
	// though db-2 had a dry run a minute ago.
	d := openAction(t, s, "d1", t0.Add(7*time.Minute))
	begin(t, s, d, lim("instance=db-2"), t0.Add(7*time.Minute), ActionStarted)

	// A restart (or, on PostgreSQL, another replica after the lease)
	// finds d begun and never finished: unknown, not run again.
	s2 := reopen()
	later := t0.Add(9 * time.Minute)
	again, err := s2.Claim(ctx, ActionQueue("fix"), later, time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != 1 || again[0].Key != d.Key || again[0].Started.IsZero() {
		t.Fatalf("after a restart claimed %+v, want %s, begun", again, d.Key)
	}
	if got := begin(t, s2, again[0], lim("instance=db-2"), later, ActionUnknown); !strings.Contains(got.Detail, "outcome unknown") {
		t.Errorf("unknown detail %q", got.Detail)
	}
	if got := auditActions(t, s2, d.Incident); got != "action_started action_unknown" {
		t.Errorf("audit of a run cut short: %q", got)
	}

	// A third target: the budget (2 an hour) is spent.
	e := openAction(t, s2, "e1", t0.Add(10*time.Minute))
	begin(t, s2, e, lim("instance=db-3"), t0.Add(10*time.Minute), ActionBudget)
	// An hour after the first run the budget has room again.
	f := openAction(t, s2, "f1", t0.Add(61*time.Minute))
	begin(t, s2, f, lim("instance=db-3"), t0.Add(61*time.Minute), ActionStarted)
	if err := s2.FinishAction(ctx, f, ActionOutcome{Verdict: ActionFailed, Detail: "exit 1", Now: t0.Add(62 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if n := queued(t, s2, t0.Add(70*time.Minute)); n != 0 {
		t.Errorf("a failed run is queued again (%d): actions are never retried", n)
	}

	// Resolved before its run begins: nothing runs.
	g := openAction(t, s2, "g1", t0.Add(90*time.Minute))
	if _, err := s2.Receive(ctx, delivery(t, "g-g1", "resolved", "DatabaseDown/g1"), actionPolicies(t), t0.Add(90*time.Minute)); err != nil {
		t.Fatal(err)
	}
	begin(t, s2, g, lim("instance=db-4"), t0.Add(91*time.Minute), ActionNotOpen)
	// Begun twice (a claim that outlived its lease): the second is gone.
	begin(t, s2, g, lim("instance=db-4"), t0.Add(91*time.Minute), ActionGone)

	// Pruning history forgets runs older than its time.
	if _, _, err := s2.PruneHistory(ctx, t0.Add(100*time.Minute)); err != nil {
		t.Fatal(err)
	}
	h := openAction(t, s2, "h1", t0.Add(100*time.Minute))
	begin(t, s2, h, ActionLimits{Target: "instance=db-3", Cooldown: 24 * time.Hour, Describe: "fix"}, t0.Add(100*time.Minute), ActionStarted)
}

// testActionBreaker: a failed run pages the next step at once; a run
// that succeeded marks its incident automated, and its resolve counts
// so; the same alert firing again soon after is a fix that did not hold
// (not run, paged at once); after BreakerFailures failures in a row the
// action runs no more until a person resets it.
func testActionBreaker(t *testing.T, s Store) {
	t0 := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	pol := actionPolicies(t)
	lim := func(target string) ActionLimits {
		return ActionLimits{Target: target, BreakerFailures: 2, RefireWithin: 30 * time.Minute, Describe: "fix " + target}
	}
	dueOf := func(id string) time.Time {
		t.Helper()
		inc, err := s.Incident(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return inc.NextDue
	}

	// Succeeded: automated, and the next step keeps its time.
	a := openAction(t, s, "a1", t0)
	begin(t, s, a, lim("instance=db-1"), t0, ActionStarted)
	if err := s.FinishAction(ctx, a, ActionOutcome{Verdict: ActionSucceeded, Detail: "ok", Now: t0.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	if got := dueOf(a.Incident); !got.Equal(t0.Add(5 * time.Minute)) {
		t.Errorf("after a success the next step is due %s, want at 5m", got)
	}
	res, err := s.Receive(ctx, delivery(t, "g-a1", "resolved", "DatabaseDown/a1"), pol, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Resolutions) != 1 || !res.Resolutions[0].Automated {
		t.Errorf("resolve after a successful action: %+v, want automated", res.Resolutions)
	}

	// The same target fires again 10 minutes later: the fix did not hold.
	b := openAction(t, s, "b1", t0.Add(10*time.Minute))
	begin(t, s, b, lim("instance=db-1"), t0.Add(10*time.Minute), ActionRefired)
	if got := dueOf(b.Incident); !got.Equal(t0.Add(10 * time.Minute)) {
		t.Errorf("after a refire the next step is due %s, want now (10m)", got)
	}
	fired, err := s.FireDue(ctx, pol, t0.Add(10*time.Minute), 100)
	if err != nil || len(fired) != 1 || fired[0].Incident != b.Incident || fired[0].Step != 1 {
		t.Fatalf("after a refire, steps taken: %+v %v; want step 1 of %s", fired, err, b.Incident)
	}

	// The refire counted as a failure; one more failure opens the breaker.
	c := openAction(t, s, "c1", t0.Add(20*time.Minute))
	begin(t, s, c, lim("instance=db-2"), t0.Add(20*time.Minute), ActionStarted)
	if err := s.FinishAction(ctx, c, ActionOutcome{Verdict: ActionFailed, Detail: "exit 1", Now: t0.Add(21 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if got := dueOf(c.Incident); !got.Equal(t0.Add(21 * time.Minute)) {
		t.Errorf("after a failure the next step is due %s, want at once (21m)", got)
	}
	d := openAction(t, s, "d1", t0.Add(40*time.Minute))
	begin(t, s, d, lim("instance=db-3"), t0.Add(40*time.Minute), ActionBreaker)

	// A person resets it: the action runs again.
	if err := s.ResetAction(ctx, "fix", "alice", t0.Add(50*time.Minute)); err != nil {
		t.Fatal(err)
	}
	e := openAction(t, s, "e1", t0.Add(51*time.Minute))
	begin(t, s, e, lim("instance=db-3"), t0.Add(51*time.Minute), ActionStarted)
	entries, err := s.Audit(ctx, "", 200)
	if err != nil {
		t.Fatal(err)
	}
	var reset bool
	for _, en := range entries {
		reset = reset || (en.Action == "action_reset" && strings.Contains(en.Detail, "alice"))
	}
	if !reset {
		t.Error("the reset is not in the audit log")
	}
}

// testActionApproval: a run that needs approval waits, queued, until a
// person gives it (then runs, once) or its time runs out (then the next
// step is taken at once); a dry run needs none.
func testActionApproval(t *testing.T, s Store) {
	t0 := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	lim := ActionLimits{Target: "instance=db-1", Approval: 2 * time.Minute, Describe: "promote db-2"}

	a := openAction(t, s, "a1", t0)
	begin(t, s, a, lim, t0, ActionAwaiting)
	if n := queued(t, s, t0.Add(time.Minute)); n != 0 {
		t.Fatalf("a run waiting for approval was claimed before its deadline (%d)", n)
	}
	if err := s.ApproveAction(ctx, "nope", "fix", "alice", t0); err != ErrNotFound {
		t.Errorf("approving for an unknown incident: %v, want ErrNotFound", err)
	}
	if err := s.ApproveAction(ctx, a.Incident, "fix", "alice", t0.Add(90*time.Second)); err != nil {
		t.Fatal(err)
	}
	runs, err := s.Claim(ctx, ActionQueue("fix"), t0.Add(90*time.Second), time.Minute, 10)
	if err != nil || len(runs) != 1 || runs[0].ApprovedBy != "alice" {
		t.Fatalf("after approval claimed %+v %v, want the run approved by alice", runs, err)
	}
	if got := begin(t, s, runs[0], lim, t0.Add(90*time.Second), ActionStarted); !strings.Contains(got.Detail, "approved by alice") {
		t.Errorf("detail %q", got.Detail)
	}
	if err := s.FinishAction(ctx, runs[0], ActionOutcome{Verdict: ActionSucceeded, Detail: "promoted", Now: t0.Add(95 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	if err := s.ApproveAction(ctx, a.Incident, "fix", "bob", t0.Add(100*time.Second)); err != ErrNotFound {
		t.Errorf("approving a run already begun: %v, want ErrNotFound", err)
	}
	if got := auditActions(t, s, a.Incident); got != "action_awaiting_approval action_approved action_started action_succeeded" {
		t.Errorf("audit: %q", got)
	}

	// Nobody approves: at the deadline it is claimed, times out, and the
	// next step is due at once.
	b := openAction(t, s, "b1", t0.Add(10*time.Minute))
	begin(t, s, b, lim, t0.Add(10*time.Minute), ActionAwaiting)
	late := t0.Add(12 * time.Minute)
	runs, err = s.Claim(ctx, ActionQueue("fix"), late, time.Minute, 10)
	if err != nil || len(runs) != 1 {
		t.Fatalf("at the approval deadline claimed %+v %v", runs, err)
	}
	begin(t, s, runs[0], lim, late, ActionApprovalTimeout)
	inc, err := s.Incident(ctx, b.Incident)
	if err != nil {
		t.Fatal(err)
	}
	if !inc.NextDue.Equal(late) {
		t.Errorf("after the approval timed out the next step is due %s, want %s", inc.NextDue, late)
	}

	// A dry run asks nobody.
	c := openAction(t, s, "c1", t0.Add(20*time.Minute))
	dry := lim
	dry.DryRun = true
	begin(t, s, c, dry, t0.Add(20*time.Minute), ActionDryRun)
}

// Two replicas on one PostgreSQL begin runs of one action for one target
// at the same moment, for incidents each received (two Alertmanager
// peers, two replicas): the cooldown lets exactly one run, and the
// budget holds across both.
func TestReplicasShareActionLimits(t *testing.T) {
	r := twoReplicas(t, "escalator-action-replicas")
	t0 := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	lim := ActionLimits{Target: "instance=db-1", Cooldown: 10 * time.Minute, BudgetMax: 3, BudgetWindow: time.Hour, Describe: "fix"}
	var ran []time.Time
	for round := range 20 {
		now := t0.Add(time.Duration(round) * 11 * time.Minute) // past the cooldown each round
		var runs [2]Notification
		for i := range r {
			runs[i] = openAction(t, r[i], fmt.Sprintf("r%d-%d", round, i), now)
		}
		var verdicts [2]string
		var wg sync.WaitGroup
		for i := range r {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, err := r[i].BeginAction(ctx, runs[i], lim, now)
				if err != nil {
					t.Error(err)
				}
				verdicts[i] = got.Verdict
			}()
		}
		wg.Wait()
		started := 0
		for _, v := range verdicts {
			if v == ActionStarted {
				started++
			}
		}
		// One run per cooldown while the last hour had fewer than 3.
		inHour := 0
		for _, at := range ran {
			if now.Sub(at) < time.Hour {
				inHour++
			}
		}
		want := 1
		if inHour >= 3 {
			want = 0
		}
		if started != want {
			t.Fatalf("round %d: verdicts %v, want %d started", round, verdicts, want)
		}
		for i := range r {
			if verdicts[i] == ActionStarted {
				ran = append(ran, now)
				if err := r[i].FinishAction(ctx, runs[i], ActionOutcome{Verdict: ActionSucceeded, Now: now}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// testClaimOnce: a key is claimed once, across a restart (or a second
// replica), until pruned with the history.
func testClaimOnce(t *testing.T, s Store, reopen func() Store) {
	t0 := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	for i, want := range []bool{true, false} {
		got, err := s.ClaimOnce(ctx, "health/2026-12-03", t0)
		if err != nil || got != want {
			t.Fatalf("claim %d: %v %v, want %v", i, got, err, want)
		}
	}
	s2 := reopen()
	if got, err := s2.ClaimOnce(ctx, "health/2026-12-03", t0); err != nil || got {
		t.Fatalf("after a restart: %v %v, want false", got, err)
	}
	if got, _ := s2.ClaimOnce(ctx, "health/2026-12-04", t0.Add(24*time.Hour)); !got {
		t.Error("the next day's key was taken")
	}
	if _, _, err := s2.PruneHistory(ctx, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s2.ClaimOnce(ctx, "health/2026-12-03", t0.Add(2*time.Hour)); !got {
		t.Error("a key pruned with the history is still claimed")
	}
	if got, _ := s2.ClaimOnce(ctx, "health/2026-12-04", t0.Add(2*time.Hour)); got {
		t.Error("a key newer than the pruning was forgotten")
	}
}
