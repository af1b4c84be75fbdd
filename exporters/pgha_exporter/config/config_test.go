package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hotel-ops/hotel-ops/internal/yamlconf"
)

// parseTargets is LoadTargets on bytes (name is used in errors).
func parseTargets(name string, data []byte) (*Targets, error) {
	var t Targets
	if err := yamlconf.Parse(name, data, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

func TestParseTargetsErrorsNameFileLineAndField(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown field", "targets:\n  primary:\n    dsn: host=a\n    dns_file: x\n", []string{"targets.yml", "line 4", "dns_file"}},
		{"no source", "targets:\n  primary: {}\n  other:\n    dsn: host=b\n", []string{"targets.yml:2: targets.primary: one of dsn, dsn_file or dsn_env is required"}},
		{"two sources", "targets:\n  a:\n    dsn: host=a\n    dsn_env: X\n", []string{"targets.yml:2: targets.a: only one of"}},
		{"bad name", "targets:\n  'bad name':\n    dsn: host=a\n", []string{"targets.yml:2: targets.bad name: target name"}},
		{"bad dsn", "targets:\n  a:\n    dsn: 'postgres://u:s3cretpw@h:notaport/db'\n", []string{"targets.yml:3: targets.a.dsn: invalid DSN"}},
		{"empty", "", []string{"targets.yml: empty configuration file"}},
		{"no targets", "targets: {}\n", []string{"targets.yml:1: targets: at least one target"}},
		{"unknown kind", "targets:\n  a:\n    dsn: host=a\n    kind: pgbouncr\n", []string{`targets.yml:4: targets.a.kind: unknown kind "pgbouncr": want postgres (the default) or pgbouncer`}},
		{"pgbouncer naming no database", "targets:\n  b:\n    kind: pgbouncer\n    dsn: 'host=h port=6432 user=u'\n", []string{`targets.yml:4: targets.b.dsn: a pgbouncer DSN must name the admin console, dbname=pgbouncer; it names no database`}},
		{"pgbouncer not on its console", "targets:\n  b:\n    kind: pgbouncer\n    dsn: 'postgres://u:s3cretpw@h:6432/app'\n", []string{`targets.yml:4: targets.b.dsn: a pgbouncer DSN must name the admin console, dbname=pgbouncer, not "app"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseTargets("targets.yml", []byte(c.yaml))
			if err == nil {
				t.Fatalf("accepted:\n%s", c.yaml)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "s3cretpw") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}

func TestSourceResolve(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "dsn")
	if err := os.WriteFile(file, []byte("  host=127.0.0.1 user=x password=fromfile\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PGHA_TEST_DSN", "postgres://x:fromenv@127.0.0.1:5432/db")
	for _, c := range []struct {
		src  Source
		want string
	}{
		{Source{DSN: "host=h"}, "host=h"},
		{Source{File: file}, "host=127.0.0.1 user=x password=fromfile"},
		{Source{Env: "PGHA_TEST_DSN"}, "postgres://x:fromenv@127.0.0.1:5432/db"},
	} {
		got, err := c.src.Resolve()
		if err != nil || got != c.want {
			t.Errorf("%+v: got %q, %v; want %q", c.src, got, err, c.want)
		}
	}
	for _, src := range []Source{{}, {File: filepath.Join(dir, "missing")}, {Env: "PGHA_TEST_UNSET"}, {DSN: "postgres://u:pw@h:bad/x"}} {
		if _, err := src.Resolve(); err == nil {
			t.Errorf("%+v: resolved", src)
		}
	}
}

func TestLoadTargets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.yml")
	os.WriteFile(path, []byte("targets:\n  primary:\n    dsn_file: /etc/x\n  standby:\n    dsn_env: S\n    kind: postgres\n  bouncer:\n    kind: pgbouncer\n    dsn_file: /etc/b\n"), 0o600)
	ts, err := LoadTargets(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ts.Names(), ","); got != "bouncer,primary,standby" {
		t.Errorf("names %s", got)
	}
	if b, p := ts.Targets["bouncer"], ts.Targets["primary"]; !b.PgBouncer() || b.File != "/etc/b" || p.PgBouncer() || p.Kind != "" {
		t.Errorf("kinds: bouncer %+v, primary %+v", b, p)
	}
	if _, err := LoadTargets(path + ".missing"); err == nil {
		t.Error("missing file accepted")
	}
}
