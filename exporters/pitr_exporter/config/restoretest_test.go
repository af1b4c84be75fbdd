package config

import (
	"strings"
	"testing"
	"time"
)

func TestTierSetsTheSpecsObjectives(t *testing.T) {
	for tier, want := range map[string]Objectives{
		"": {RTO: time.Hour, RPO: 15 * time.Minute}, "critical": {RTO: time.Hour, RPO: 15 * time.Minute},
		"high": {RTO: 4 * time.Hour, RPO: time.Hour}, "medium": {RTO: 8 * time.Hour, RPO: 4 * time.Hour}, "low": {RTO: 24 * time.Hour, RPO: 24 * time.Hour},
	} {
		yaml := minimal
		if tier != "" {
			yaml += "repository:\n  tier: " + tier + "\n"
		}
		c, err := Parse("pitr.yml", []byte(yaml))
		if err != nil {
			t.Fatal(err)
		}
		if time.Duration(c.Policy.RTO) != want.RTO || time.Duration(c.Policy.RPO) != want.RPO || time.Duration(c.RestoreTest.Deadline) != want.RTO {
			t.Errorf("tier %q: RTO %v RPO %v deadline %v", tier, c.Policy.RTO, c.Policy.RPO, c.RestoreTest.Deadline)
		}
	}
	c, err := Parse("pitr.yml", []byte(minimal+"repository:\n  tier: low\n  path: /repo\npolicy:\n  rpo: 2h\n"))
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(c.Policy.RPO) != 2*time.Hour || time.Duration(c.Policy.RTO) != 24*time.Hour {
		t.Errorf("an explicit RPO is kept, the tier's RTO used: %v %v", c.Policy.RPO, c.Policy.RTO)
	}
	if c.RestoreTest.ResultPrefix != "repo/hotel-ops/restore-test/main/" {
		t.Errorf("result prefix %q", c.RestoreTest.ResultPrefix)
	}
}

func TestRestoreTestSettings(t *testing.T) {
	c, err := Parse("pitr.yml", []byte(minimal+"restore_test:\n  keep_free: 20GiB\n  wal_allowance: 512MB\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.RestoreTest.KeepFreeBytes != 20<<30 || c.RestoreTest.WALAllowanceBytes != 512e6 {
		t.Errorf("keep_free %v wal_allowance %v", c.RestoreTest.KeepFreeBytes, c.RestoreTest.WALAllowanceBytes)
	}
	c, _ = Parse("pitr.yml", []byte(minimal))
	if c.RestoreTest.KeepFreeShare != 0.1 || c.RestoreTest.WALAllowanceBytes != 1<<30 {
		t.Errorf("defaults: keep_free share %v, wal_allowance %v", c.RestoreTest.KeepFreeShare, c.RestoreTest.WALAllowanceBytes)
	}
	for _, bad := range []struct{ yaml, want string }{
		{"repository:\n  tier: gold\n", "pitr.yml:5: repository.tier: want critical, high, medium or low"},
		{"restore_test:\n  keep_free: 120%\n", "restore_test.keep_free: want a share"},
		{"restore_test:\n  keep_free: lots\n", "restore_test.keep_free: want a size"},
		{"restore_test:\n  checks:\n    - {name: Rows, sql: 'SELECT 1'}\n", "restore_test.checks[0].name"},
		{"restore_test:\n  checks:\n    - {name: rows}\n", "restore_test.checks[0].sql: required"},
		{"restore_test:\n  checks:\n    - {name: a, sql: x}\n    - {name: a, sql: y}\n", `restore_test.checks[1].name: "a" is used twice`},
		{"restore_test:\n  checks:\n    - {name: a, sql: x, min: 1, not_after_target: true}\n", "not both"},
		{"restore_test:\n  settings: [shared_buffers]\n", "restore_test.settings[0]"},
		{"restore_test:\n  result_prefix: /abs/\n", "restore_test.result_prefix"},
		{"restore_test:\n  keep_free: 0B\n", "restore_test.keep_free: must be above 0"},
		{"restore_test:\n  settings: [\"archive_mode = on\"]\n", "restore_test.settings[0]: archive_mode is set by the test itself"},
		{"restore_test:\n  scratch_dir: /" + strings.Repeat("x", 100) + "\n", "restore_test.scratch_dir: too long"},
	} {
		_, err := Parse("pitr.yml", []byte(minimal+bad.yaml))
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: got %v, want %q", bad.yaml, err, bad.want)
		}
	}
}
