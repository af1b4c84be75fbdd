package spec

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Recovery is the spec's automatic recovery (トラブルシューティング自動化 /
// auto_recovery): each action escalator may run, by name, and the alerts
// it answers. escalator runs an action in the first step of the policies
// of the alerts it answers, while people are paged as usual.
type Recovery struct {
	Section string                    `yaml:"section"`
	Actions map[string]RecoveryAction `yaml:",inline"`
}

// RecoveryAction is one automatic recovery: escalator's action definition
// (its actions.<name> in escalator.yml) and the alerts it answers.
type RecoveryAction struct {
	Section string `yaml:"section"`
	// Answers are the alerts whose incidents run the action; no other
	// alert gets it.
	Answers []string  `yaml:"answers"`
	Action  ActionDef `yaml:"action"`
}

// ActionDef is an escalator action (webhook/action), as the spec writes
// it: numbers and durations carry their unit as everywhere in the spec,
// and secrets are files, never values.
type ActionDef struct {
	Type     string `yaml:"type"`
	Category string `yaml:"category"` // emergency | standard | major (変更管理プロセス)
	Rollback string `yaml:"rollback"` // rollback_plan: mandatory
	// DryRun (escalator's default: true) records what would run and runs
	// nothing, until someone enables the action.
	DryRun          *bool             `yaml:"dry_run,omitempty"`
	Timeout         Dur               `yaml:"timeout,omitempty"`
	Cooldown        Dur               `yaml:"cooldown,omitempty"`
	Budget          *ActionBudget     `yaml:"budget,omitempty"`
	Breaker         *ActionBreaker    `yaml:"breaker,omitempty"`
	ApprovalTimeout Dur               `yaml:"approval_timeout,omitempty"`
	Labels          map[string]string `yaml:"labels,omitempty"`
	TargetLabels    []string          `yaml:"target_labels,omitempty"`

	// http
	Method          string            `yaml:"method,omitempty"`
	URL             string            `yaml:"url,omitempty"`
	Body            string            `yaml:"body,omitempty"`
	HeaderFiles     map[string]string `yaml:"header_files,omitempty"`
	BearerTokenFile string            `yaml:"bearer_token_file,omitempty"`
	ExpectStatus    []Value           `yaml:"expect_status,omitempty"`
	// exec
	Command []string          `yaml:"command,omitempty"`
	Env     map[string]string `yaml:"env,omitempty"`
	// redis_cache_clear
	RedisAddr         string `yaml:"redis_addr,omitempty"`
	RedisPasswordFile string `yaml:"redis_password_file,omitempty"`
	RedisDB           Value  `yaml:"redis_db,omitempty"`
	Pattern           string `yaml:"pattern,omitempty"`
	FlushDB           bool   `yaml:"flush_db,omitempty"`
	MaxKeys           Value  `yaml:"max_keys,omitempty"`
	// postgres_pool_reset
	DSNFile         string `yaml:"dsn_file,omitempty"`
	Database        string `yaml:"database,omitempty"`
	ApplicationName string `yaml:"application_name,omitempty"`
	State           string `yaml:"state,omitempty"`
	IdleFor         Dur    `yaml:"idle_for,omitempty"`
	Max             Value  `yaml:"max,omitempty"`
	// postgres_failover
	PrimaryDSNFile string   `yaml:"primary_dsn_file,omitempty"`
	StandbyDSNFile string   `yaml:"standby_dsn_file,omitempty"`
	OtherDSNFiles  []string `yaml:"other_dsn_files,omitempty"`
	UnreachableFor Dur      `yaml:"unreachable_for,omitempty"`
	MaxLag         Dur      `yaml:"max_lag,omitempty"`
	MaxLagBytes    Value    `yaml:"max_lag_bytes,omitempty"`
}

// ActionBudget caps an action's runs: at most Max in any Window.
type ActionBudget struct {
	Max    Value `yaml:"max"`
	Window Dur   `yaml:"window"`
}

// ActionBreaker stops an action after Failures failed runs in a row, or a
// run followed by the alert firing again within RefireWithin.
type ActionBreaker struct {
	Failures     Value `yaml:"failures"`
	RefireWithin Dur   `yaml:"refire_within"`
}

// Int is a whole Value as an int (0 when absent); validateRecovery
// rules out the rest.
func (v Value) Int() int {
	if v.IsZero() {
		return 0
	}
	return int(v.Rat().Num().Int64())
}

// DryRunOn is the action's dry run with escalator's default (on).
func (d ActionDef) DryRunOn() bool { return d.DryRun == nil || *d.DryRun }

// NeedsApproval reports whether escalator waits for a person's approval
// before running the action: every change but an emergency one.
func (d ActionDef) NeedsApproval() bool { return d.Category != "emergency" }

// Secrets are the files the action reads its credentials from.
func (d ActionDef) Secrets() []string {
	var out []string
	for _, f := range []string{d.BearerTokenFile, d.RedisPasswordFile, d.DSNFile, d.PrimaryDSNFile, d.StandbyDSNFile} {
		if f != "" {
			out = append(out, f)
		}
	}
	for _, h := range SortedKeys(d.HeaderFiles) {
		out = append(out, d.HeaderFiles[h])
	}
	return append(out, d.OtherDSNFiles...)
}

// ActionsAnswering are the recovery actions that answer the alert, by
// name in order.
func (s *Spec) ActionsAnswering(alert string) []string {
	var out []string
	for _, name := range SortedKeys(s.Recovery.Actions) {
		if slices.Contains(s.Recovery.Actions[name].Answers, alert) {
			out = append(out, name)
		}
	}
	return out
}

// actionName is the name escalator accepts for an action.
var actionName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// categories of change, after 変更管理プロセス.
var categories = []string{"emergency", "standard", "major"}

// validateRecovery checks what the spec owns of each action: its name,
// the alerts it answers, its category, rollback and secrets. escalator's
// own loader checks the rest when mixgen generates escalator.yml.
func (s *Spec) validateRecovery(bad func(path, format string, args ...any)) {
	for _, name := range SortedKeys(s.Recovery.Actions) {
		r := s.Recovery.Actions[name]
		p := "recovery." + name
		if !actionName.MatchString(name) {
			bad(p, "%q: an action name is letters, digits, _ and - only", name)
		}
		if len(r.Answers) == 0 {
			bad(p+".answers", "name the alerts the action answers")
		}
		seen := map[string]bool{}
		for i, a := range r.Answers {
			ap := fmt.Sprintf("%s.answers.%d", p, i)
			al, ok := s.Alerts[a]
			switch {
			case seen[a]:
				bad(ap, "%s listed twice", a)
			case !ok:
				bad(ap, "unknown alert %q (known: %s)", a, strings.Join(SortedKeys(s.Alerts), ", "))
			case al.Labels[DirectLabel] == DirectValue || al.InheritLabels:
				bad(ap, "%s is paged directly by Alertmanager, around escalator: no action can answer it", a)
			}
			seen[a] = true
		}
		d := r.Action
		if d.Type == "" {
			bad(p+".action.type", "required")
		}
		if !slices.Contains(categories, d.Category) {
			bad(p+".action.category", "%q: one of %s", d.Category, strings.Join(categories, ", "))
		}
		if strings.TrimSpace(d.Rollback) == "" {
			bad(p+".action.rollback", "required: how to undo the action by hand (rollback_plan: mandatory)")
		}
		if d.Type == "postgres_failover" && d.Category != "major" {
			bad(p+".action.category", "a failover is a major change (変更管理プロセス: major): a person approves it")
		}
		ints := map[string]Value{"redis_db": d.RedisDB, "max_keys": d.MaxKeys, "max": d.Max, "max_lag_bytes": d.MaxLagBytes}
		if d.Budget != nil {
			ints["budget.max"] = d.Budget.Max
		}
		if d.Breaker != nil {
			ints["breaker.failures"] = d.Breaker.Failures
		}
		for i, v := range d.ExpectStatus {
			ints[fmt.Sprintf("expect_status.%d", i)] = v
		}
		for _, k := range SortedKeys(ints) {
			if v := ints[k]; !v.IsZero() && (v.Unit != Number || !v.Rat().IsInt()) {
				bad(p+".action."+k, "%s: a whole number", v.Raw)
			}
		}
		for _, f := range d.Secrets() {
			if !strings.HasPrefix(f, "/") {
				bad(p+".action", "secret file %q: an absolute path (mount secrets under /etc/escalator/secrets/)", f)
			}
		}
	}
}
