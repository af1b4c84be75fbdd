// Package config reads pgha_exporter's connection settings: the DSN of the
// default target (flag, environment or file) and the targets file that
// limits what /probe may connect to.
package config

import (
	"context"
	"errors"
	"fmt"

	"github.com/hotel-ops/hotel-ops/internal/secret"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrNoDSN means no source of a DSN was given.
var ErrNoDSN = errors.New("no DSN given")

// Source says where a DSN comes from; exactly one field should be set.
type Source struct {
	DSN  string `yaml:"dsn"`      // the DSN itself (keep secrets out of it: use a file or PGPASSWORD)
	File string `yaml:"dsn_file"` // a file whose content is the DSN
	Env  string `yaml:"dsn_env"`  // an environment variable holding the DSN
}

// Resolve returns the DSN, read from the file or environment if need be.
// The DSN is validated; errors never repeat it, since it may hold a password.
func (s Source) Resolve() (string, error) {
	var dsn, from string
	switch {
	case s.DSN != "":
		dsn, from = s.DSN, "given inline"
	case s.File != "" || s.Env != "":
		var err error
		if dsn, err = secret.Read(s.File, s.Env); err != nil {
			return "", fmt.Errorf("the DSN: %w", err)
		}
		from = "in file " + s.File
		if s.File == "" {
			from = "in environment variable " + s.Env
		}
	default:
		return "", ErrNoDSN
	}
	if dsn == "" {
		return "", fmt.Errorf("the DSN %s is empty", from)
	}
	if _, err := ParseDSN(dsn); err != nil {
		return "", fmt.Errorf("the DSN %s: %w", from, err)
	}
	return dsn, nil
}

// ParseDSN parses a libpq keyword/value string or postgres:// URL into a pool
// configuration. pgx's own parse errors quote the input, redacting the
// password only on a best-effort basis, so they are replaced by a message
// that cannot leak it.
func ParseDSN(dsn string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		var pce *pgconn.ParseConfigError
		if errors.As(err, &pce) {
			return nil, errors.New("invalid DSN: expected a libpq keyword/value string (host=... user=...) or a postgres:// URL; check quoting, the port and the sslmode (run `psql \"$DSN\"` to see details)")
		}
		return nil, errors.New("invalid DSN")
	}
	return cfg, nil
}

// Describe returns a form of a parsed DSN that is safe to log: host, port,
// user and database, never the password.
func Describe(cfg *pgconn.Config) string {
	return fmt.Sprintf("host=%s port=%d user=%s dbname=%s", cfg.Host, cfg.Port, cfg.User, cfg.Database)
}

// RereadPassword makes the pool read the DSN file again before each new
// connection and take its password, so that a password rotated in the
// file is used without a restart (connections already open keep working
// as PostgreSQL and PgBouncer keep them). Only the password is taken:
// another host or user needs a restart, as the targets file does.
func RereadPassword(cfg *pgxpool.Config, s Source) {
	if s.File == "" {
		return
	}
	cfg.BeforeConnect = func(_ context.Context, cc *pgx.ConnConfig) error {
		dsn, err := s.Resolve()
		if err != nil {
			return err
		}
		fresh, err := ParseDSN(dsn)
		if err != nil {
			return err
		}
		cc.Password = fresh.ConnConfig.Password
		return nil
	}
}
