package spec

import (
	"strings"
	"testing"
)

// The spec's recovery section is checked as the spec is loaded: an
// action answers alerts that exist, once each, and which escalator sees;
// a failover is a major change; every action has a rollback plan.
func TestRecoveryValidation(t *testing.T) {
	for _, tc := range []struct {
		name, over, want string
	}{
		{"unknown alert", "recovery: {cache_clear: {answers: [HotelAppSlow]}}", `recovery.cache_clear.answers.0: unknown alert "HotelAppSlow"`},
		{"alert twice", "recovery: {cache_clear: {answers: [HotelAppLatencyHigh, HotelAppLatencyHigh]}}", "recovery.cache_clear.answers.1: HotelAppLatencyHigh listed twice"},
		{"no alert", "recovery: {cache_clear: {answers: []}}", "recovery.cache_clear.answers: name the alerts"},
		{"paged directly", "recovery: {service_restart: {answers: [EscalatorDown]}}", "EscalatorDown is paged directly"},
		{"failover without approval", "recovery: {failover_execution: {action: {category: emergency}}}", "recovery.failover_execution.action.category: a failover is a major change"},
		{"no rollback", "recovery: {service_restart: {action: {rollback: ''}}}", "recovery.service_restart.action.rollback: required"},
		{"bad name", "recovery: {'restart it': {answers: [HotelAppDown], action: {type: exec, category: emergency, rollback: x, command: [/bin/true]}}}", "an action name is letters"},
		{"fractional budget", "recovery: {cache_clear: {action: {budget: {max: 1.5, window: 1h}}}}", "recovery.cache_clear.action.budget.max: 1.5: a whole number"},
		{"relative secret", "recovery: {cache_clear: {action: {redis_password_file: redis-password}}}", `secret file "redis-password": an absolute path`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Merge(Layer{Name: "o.yml", Data: []byte(tc.over + "\n")})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Merge: %v, want an error containing %q", err, tc.want)
			}
		})
	}
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	for alert, want := range map[string]string{"HotelAppDown": "service_restart", "HotelAppLatencyHigh": "cache_clear",
		"PostgresConnectionsCritical": "connection_pool_reset", "PostgresDown": "failover_execution", "HotelAppUnreachable": ""} {
		got := strings.Join(s.ActionsAnswering(alert), ",")
		if got != want {
			t.Errorf("%s: answered by %q, want %q", alert, got, want)
		}
	}
}
