package config

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hotel-ops/hotel-ops/internal/yamlconf"
)

// Targets is the file given with --config.file. /probe?target=NAME connects
// only to a name listed here, so the exporter cannot be used to reach
// arbitrary hosts or to try passwords.
//
//	targets:
//	  primary:
//	    dsn_file: /etc/pgha_exporter/primary.dsn
//	  standby1:
//	    dsn_env: STANDBY1_DSN
//	  bouncer1:
//	    kind: pgbouncer
//	    dsn_file: /etc/pgha_exporter/bouncer1.dsn
type Targets struct {
	Targets map[string]Target `yaml:"targets"`
}

// What a target's DSN points at, and so which collector /probe serves.
const (
	KindPostgres  = "postgres"
	KindPgBouncer = "pgbouncer"
)

// Target is one entry of the targets file: a DSN source and its kind.
type Target struct {
	Source `yaml:",inline"`
	// Kind is KindPostgres (the default when empty) or KindPgBouncer.
	Kind string `yaml:"kind"`
}

// PgBouncer reports whether the target is a PgBouncer admin console.
func (t Target) PgBouncer() bool { return t.Kind == KindPgBouncer }

// PgBouncerConsole readies a pool for PgBouncer's admin console, after
// checking that its DSN names it. The console speaks only the simple
// query protocol, and it refuses startup parameters it does not know
// (statement_timeout among them: a scrape's deadline is the client's
// alone). pgxpool pings a connection idle for a second with "-- ping",
// which the console refuses as an invalid command (and logs), so the pool
// would drop it and log in again every scrape: no ping, a connection a
// restart cut is retried by the collector instead.
func PgBouncerConsole(cfg *pgxpool.Config) error {
	if err := CheckPgBouncerDSN(cfg); err != nil {
		return err
	}
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	cfg.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return false }
	return nil
}

// CheckPgBouncerDSN rejects a PgBouncer DSN that does not name the admin
// console: any other database is a pool, where SHOW POOLS means nothing.
func CheckPgBouncerDSN(cfg *pgxpool.Config) error {
	switch db := cfg.ConnConfig.Database; db {
	case "pgbouncer":
	case "":
		return fmt.Errorf("a pgbouncer DSN must name the admin console, dbname=pgbouncer; it names no database")
	default:
		return fmt.Errorf("a pgbouncer DSN must name the admin console, dbname=pgbouncer, not %q", db)
	}
	return nil
}

var targetName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)

// Validate checks every target: a usable name, exactly one DSN source and
// a known kind.
// The DSNs themselves are resolved when the target is first probed, so a
// rotated secret file is picked up without a restart.
func (t *Targets) Validate() error {
	if len(t.Targets) == 0 {
		return yamlconf.Fieldf("targets", "at least one target is required")
	}
	var errs []error
	for _, name := range t.Names() {
		src := t.Targets[name]
		path := "targets." + name
		if !targetName.MatchString(name) {
			errs = append(errs, yamlconf.Fieldf(path, "target name must be 1-63 characters of letters, digits, '_', '.', '-'"))
		}
		n := 0
		for _, v := range []string{src.DSN, src.File, src.Env} {
			if v != "" {
				n++
			}
		}
		switch {
		case n == 0:
			errs = append(errs, yamlconf.Fieldf(path, "one of dsn, dsn_file or dsn_env is required"))
		case n > 1:
			errs = append(errs, yamlconf.Fieldf(path, "only one of dsn, dsn_file or dsn_env may be set"))
		case src.DSN != "":
			cfg, err := ParseDSN(src.DSN)
			if err != nil {
				errs = append(errs, yamlconf.Fieldf(path+".dsn", "%v", err))
			} else if src.PgBouncer() {
				if err := CheckPgBouncerDSN(cfg); err != nil {
					errs = append(errs, yamlconf.Fieldf(path+".dsn", "%v", err))
				}
			}
		}
		if src.Kind != "" && src.Kind != KindPostgres && src.Kind != KindPgBouncer {
			errs = append(errs, yamlconf.Fieldf(path+".kind", "unknown kind %q: want %s (the default) or %s", src.Kind, KindPostgres, KindPgBouncer))
		}
	}
	return errors.Join(errs...)
}

// Names lists the targets in a stable order.
func (t *Targets) Names() []string {
	names := make([]string, 0, len(t.Targets))
	for n := range t.Targets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// LoadTargets reads and validates a targets file.
func LoadTargets(path string) (*Targets, error) {
	var t Targets
	if err := yamlconf.Load(path, &t); err != nil {
		return nil, err
	}
	return &t, nil
}
