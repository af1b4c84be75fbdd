package collector

import (
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// A target given the wrong kind in the targets file fails with the
// server's own words (a startup parameter refused, a database that does
// not exist, a setting called "pools"), which do not say what is wrong.
// These add what is.

// consoleVersion ends the server_version PgBouncer's admin console
// reports at login ("1.18.0/bouncer"); a PostgreSQL server, and a pool
// PgBouncer passes through to one, report the server's.
const consoleVersion = "/bouncer"

func isConsole(c *pgconn.PgConn) bool {
	return strings.HasSuffix(c.ParameterStatus("server_version"), consoleVersion)
}

// errConsoleAsPostgres is a kind: postgres target that logged in to
// PgBouncer's admin console (one that ignores the startup parameters it
// does not know).
var errConsoleAsPostgres = errors.New("this is PgBouncer's admin console, not PostgreSQL: give the target kind: pgbouncer")

// postgresLoginHint explains a PostgreSQL target's failed login when a
// PgBouncer refused it: PgBouncer refuses the startup parameters it does
// not know (statement_timeout, which the exporter sends PostgreSQL).
func postgresLoginHint(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "08P01" && strings.HasPrefix(pe.Message, "unsupported startup parameter") {
		return fmt.Errorf("%w (a PgBouncer answered: a kind: postgres target must be PostgreSQL itself; for PgBouncer's admin console, dbname=pgbouncer, give the target kind: pgbouncer)", err)
	}
	return err
}

// bouncerLoginHint explains a PgBouncer target's failed login when the
// server is PostgreSQL: PgBouncer always has the database pgbouncer (and
// says "no such database" in its own code, 08P01), PostgreSQL answers
// 3D000 for a database it does not have.
func bouncerLoginHint(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "3D000" {
		return fmt.Errorf("%w (PgBouncer's admin console always has the database pgbouncer: this server is PostgreSQL, not a PgBouncer; give the target kind: postgres)", err)
	}
	return err
}

// notConsole is a kind: pgbouncer target that logged in to a server that
// is not PgBouncer's console (a PostgreSQL with a database pgbouncer).
func notConsole(c *pgconn.PgConn) error {
	return fmt.Errorf("the server reports server_version %q, not PgBouncer's admin console (…%s): for a PostgreSQL server give the target kind: postgres", c.ParameterStatus("server_version"), consoleVersion)
}
