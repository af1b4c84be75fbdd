package runbooks

import (
	"bytes"
	"fmt"
	"net/url"
	"strings"

	"github.com/hotel-ops/hotel-ops/mixin/rules"
	"github.com/hotel-ops/hotel-ops/mixin/spec"
)

// Defaults of escalator's action limits (webhook/action), which the
// runbooks state when the spec leaves a limit unset.
const (
	defaultCooldown        = "10m"
	defaultBudget          = "3 runs per 1h"
	defaultBreakerFailures = 3
	defaultRefire          = "30m"
	defaultApproval        = "15m"
)

// recoveryIndex lists the automatic recoveries (トラブルシューティング自動化)
// and the alerts each answers.
func recoveryIndex(b *bytes.Buffer, s *spec.Spec) {
	if len(s.Recovery.Actions) == 0 {
		return
	}
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("<a id=\"automatic-recovery\"></a>\n\n## Automatic recovery\n\n")
	p("Spec: %s. escalator runs each action in the first step of the incidents of the alerts it answers, and of no other; ", s.Recovery.Section)
	p("people are paged at the same time as without it, and the escalation follows at the spec's times. ")
	p("Each alert's section below says what its action does and how to enable it or reset it.\n\n")
	p("| action | type | category | answers | state |\n|---|---|---|---|---|\n")
	for _, name := range spec.SortedKeys(s.Recovery.Actions) {
		r := s.Recovery.Actions[name]
		var links []string
		for _, a := range r.Answers {
			links = append(links, fmt.Sprintf("[%s](#%s)", a, rules.Anchor(a)))
		}
		p("| `%s` | %s | %s | %s | %s |\n", name, r.Action.Type, r.Action.Category, strings.Join(links, ", "), state(r.Action))
	}
	p("\n")
}

func state(d spec.ActionDef) string {
	var parts []string
	if d.DryRunOn() {
		parts = append(parts, "dry run")
	} else {
		parts = append(parts, "enabled")
	}
	if d.NeedsApproval() {
		parts = append(parts, "each run approved by a person")
	}
	return strings.Join(parts, ", ")
}

// recovery writes, in an alert's runbook, what escalator does about it by
// itself, within which limits, and how a person enables or resets it.
func recovery(b *bytes.Buffer, s *spec.Spec, alert string) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	for _, name := range s.ActionsAnswering(alert) {
		r := s.Recovery.Actions[name]
		d := r.Action
		p("\n#### Automatic recovery: `%s`\n\n", name)
		p("Spec: %s. In the first step of this alert's incidents, escalator %s. ", r.Section, does(d))
		p("The first page goes out at once all the same, and the escalation follows as above unless the incident is acknowledged or resolved. ")
		p("The action's result (or what it would have done) is in the incident's timeline and the audit log.\n\n")
		if len(d.Labels) > 0 {
			var ls []string
			for _, k := range spec.SortedKeys(d.Labels) {
				ls = append(ls, fmt.Sprintf("`%s=~\"%s\"`", k, d.Labels[k]))
			}
			p("- **Runs only for** alerts labelled %s; any other is refused\n", strings.Join(ls, ", "))
		}
		if d.DryRunOn() {
			p("- **Dry run** (until enabled): escalator records what it would do and does nothing\n")
		} else {
			p("- **Not a dry run**: an approved run acts\n")
		}
		if d.NeedsApproval() {
			p("- **Approval** needed (%s change, 変更管理プロセス): the incident's console page shows *Approve action %s*, or `POST /api/v1/incidents/<id>/actions/%s/approve`; without an approval within %s it does not run\n",
				d.Category, name, name, or(d.ApprovalTimeout, defaultApproval))
		} else {
			p("- **No approval** (%s change): it runs as soon as the incident opens\n", d.Category)
		}
		p("- **Cooldown** %s per target", or(d.Cooldown, defaultCooldown))
		if len(d.TargetLabels) > 0 {
			p(" (%s)", strings.Join(d.TargetLabels, ", "))
		}
		bud := defaultBudget
		if d.Budget != nil {
			bud = fmt.Sprintf("%s per %s", plural(d.Budget.Max.Int(), "run"), d.Budget.Window.String())
		}
		p("; **budget** %s, whatever the target\n", bud)
		fails, refire := defaultBreakerFailures, defaultRefire
		if d.Breaker != nil {
			fails, refire = d.Breaker.Failures.Int(), d.Breaker.RefireWithin.String()
		}
		p("- **Breaker**: after %s in a row, or a run followed by the alert firing again within %s, the action stops until a person resets it, and people are paged at once\n", plural(fails, "failed run"), refire)
		if d.Timeout.D() > 0 {
			p("- **Timeout** %s a run\n", d.Timeout.String())
		}
		p("- **Rollback** %s\n\n", d.Rollback)
		if d.DryRunOn() {
			p("To enable it, once its dry runs in the audit show it would have done the right thing: in your spec file, `recovery: {%s: {action: {dry_run: false}}}`, then `make generate SPEC_FILES=<your file>` and deploy escalator.yml. ", name)
		}
		p("To reset its breaker once the cause is fixed: the *Reset the breaker of %s* button on the console page of an incident it stopped on, or\n\n", name)
		p("```sh\ncurl -X POST -H \"Authorization: Bearer $(cat %s)\" %s/api/v1/actions/%s/reset\n```\n\n",
			tokenFile(s), escalatorBase(s), name)
		p("(the bearer token is the one escalator reads with `--api.token-file`).\n")
	}
}

// does says in words what the action does.
func does(d spec.ActionDef) string {
	switch d.Type {
	case "exec":
		return fmt.Sprintf("runs `%s` (as arguments, never through a shell)", strings.Join(d.Command, " "))
	case "http":
		m := d.Method
		if m == "" {
			m = "POST"
		}
		return fmt.Sprintf("sends `%s %s`", m, d.URL)
	case "redis_cache_clear":
		if d.FlushDB {
			return fmt.Sprintf("empties Redis database %d on %s (FLUSHDB)", d.RedisDB.Int(), d.RedisAddr)
		}
		max := "100000"
		if !d.MaxKeys.IsZero() {
			max = d.MaxKeys.Raw
		}
		return fmt.Sprintf("clears the cache: UNLINKs at most %s keys matching `%s` in Redis %s db %d", max, d.Pattern, d.RedisAddr, d.RedisDB.Int())
	case "postgres_pool_reset":
		what := "client backends"
		if d.State != "" {
			what = d.State + " " + what
		}
		if d.IdleFor.D() > 0 {
			what += " unchanged for " + d.IdleFor.String()
		}
		if d.Database != "" {
			what += " of database `" + d.Database + "`"
		}
		if d.ApplicationName != "" {
			what += " of application `" + d.ApplicationName + "`"
		}
		max := "50"
		if !d.Max.IsZero() {
			max = d.Max.Raw
		}
		return fmt.Sprintf("resets the connection pool: terminates at most %s %s, the longest idle first", max, what)
	case "postgres_failover":
		lag := []string{}
		if d.MaxLag.D() > 0 {
			lag = append(lag, d.MaxLag.String())
		}
		if !d.MaxLagBytes.IsZero() {
			lag = append(lag, d.MaxLagBytes.Raw+" bytes of WAL")
		}
		cond := ""
		if len(lag) > 0 {
			cond = ", and only if the standby is at most " + strings.Join(lag, " and ") + " behind"
		}
		wait := "30s" // webhook/action's default
		if d.UnreachableFor.D() > 0 {
			wait = d.UnreachableFor.String()
		}
		return fmt.Sprintf("executes a failover: watches the primary itself and promotes the standby to primary only if every check of the primary fails for %s and no other node is a primary%s", wait, cond)
	}
	return "runs its " + d.Type + " action"
}

func or(d spec.Dur, def string) string {
	if d.D() > 0 {
		return d.String()
	}
	return def
}

func escalatorBase(s *spec.Spec) string {
	if u, err := url.Parse(s.Delivery.EscalatorURL); err == nil && u.Host != "" {
		return u.Scheme + "://" + u.Host
	}
	return "https://<escalator>"
}

func tokenFile(s *spec.Spec) string {
	if f := s.Delivery.EscalatorTokenFile; f != "" {
		return f
	}
	return "<token file>"
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
