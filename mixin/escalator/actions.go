package escalator

import (
	"github.com/hotel-ops/hotel-ops/mixin/spec"
	"github.com/hotel-ops/hotel-ops/webhook/action"
)

// actions are escalator's actions: the spec's automatic recoveries
// (recovery:), by name, as webhook/action reads them.
func actions(s *spec.Spec) map[string]action.Config {
	if len(s.Recovery.Actions) == 0 {
		return nil
	}
	out := map[string]action.Config{}
	for name, r := range s.Recovery.Actions {
		d := r.Action
		c := action.Config{
			Type: d.Type, Category: d.Category, Rollback: d.Rollback, DryRun: d.DryRun,
			Timeout: d.Timeout.Duration, Cooldown: d.Cooldown.Duration, ApprovalTimeout: d.ApprovalTimeout.Duration,
			Labels: d.Labels, TargetLabels: d.TargetLabels,
			Method: d.Method, URL: d.URL, Body: d.Body, HeaderFiles: d.HeaderFiles, BearerTokenFile: d.BearerTokenFile,
			Command: d.Command, Env: d.Env,
			RedisAddr: d.RedisAddr, RedisPasswordFile: d.RedisPasswordFile, RedisDB: d.RedisDB.Int(), Pattern: d.Pattern,
			FlushDB: d.FlushDB, MaxKeys: d.MaxKeys.Int(),
			DSNFile: d.DSNFile, Database: d.Database, ApplicationName: d.ApplicationName, State: d.State,
			IdleFor: d.IdleFor.Duration, Max: d.Max.Int(),
			PrimaryDSNFile: d.PrimaryDSNFile, StandbyDSNFile: d.StandbyDSNFile, OtherDSNFiles: d.OtherDSNFiles,
			UnreachableFor: d.UnreachableFor.Duration, MaxLag: d.MaxLag.Duration, MaxLagBytes: d.MaxLagBytes.Int(),
		}
		for _, v := range d.ExpectStatus {
			c.ExpectStatus = append(c.ExpectStatus, v.Int())
		}
		if b := d.Budget; b != nil {
			c.Budget = &action.Budget{Max: b.Max.Int(), Window: b.Window.Duration}
		}
		if b := d.Breaker; b != nil {
			c.Breaker = &action.Breaker{Failures: b.Failures.Int(), RefireWithin: b.RefireWithin.Duration}
		}
		out[name] = c
	}
	return out
}
