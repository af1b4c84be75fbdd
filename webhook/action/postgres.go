package action

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

var postgresType = actionType{
	name:     TypePostgresPoolReset,
	keys:     []string{"dsn_file", "dsn_env", "database", "application_name", "state", "idle_for", "max"},
	validate: validatePostgres,
	build:    newPostgres,
}

// backendStates are the values of pg_stat_activity.state.
var backendStates = []string{"active", "idle", "idle in transaction", "idle in transaction (aborted)", "fastpath function call", "disabled"}

// terminateSQL is the one statement of a reset. Every filter is a
// parameter, so no label is ever SQL text. Only client backends are
// candidates (never a WAL sender, autovacuum or background worker), never
// the calling session; the longest idle go first, and LIMIT caps how
// many. The LIMIT sits in the subquery so that only the rows it keeps
// reach pg_terminate_backend.
const terminateSQL = `SELECT count(*) FILTER (WHERE terminated) FROM (
	SELECT pg_terminate_backend(pid) AS terminated FROM (
		SELECT pid FROM pg_stat_activity
		WHERE backend_type = 'client backend'
			AND pid <> pg_backend_pid()
			AND ($1::text = '' OR datname = $1::text)
			AND ($2::text = '' OR application_name = $2::text)
			AND ($3::text = '' OR state = $3::text)
			AND ($4::interval IS NULL OR state_change < now() - $4::interval)
		ORDER BY state_change
		LIMIT $5
	) candidates
) t`

func (c *Config) maxBackends() int {
	if c.Max <= 0 {
		return DefaultMaxBackends
	}
	return c.Max
}

func validatePostgres(c *Config, v *checker) {
	v.Secret("dsn", c.DSNFile, c.DSNEnv, true)
	if c.Database != "" {
		v.template("database", c.Database, c, nil)
	}
	if c.ApplicationName != "" {
		v.template("application_name", c.ApplicationName, c, nil)
	}
	if c.State != "" && !slices.Contains(backendStates, c.State) {
		v.Field("state", "must be one of %q, got %q", backendStates, c.State)
	}
	if c.IdleFor < 0 {
		v.Field("idle_for", "must not be negative")
	}
	if c.Max < 0 {
		v.Field("max", "must not be negative")
	}
}

type postgresAction struct {
	name     string
	dsn      string
	from     string // where the DSN came from, for messages: the DSN is a secret
	database *tmpl
	app      *tmpl
	state    string
	idleFor  time.Duration
	max      int
}

func newPostgres(name string, c *Config) (Action, error) {
	a := &postgresAction{name: name, state: c.State, idleFor: time.Duration(c.IdleFor), max: c.maxBackends()}
	a.from = "dsn_file " + c.DSNFile
	if c.DSNFile == "" {
		a.from = "dsn_env " + c.DSNEnv
	}
	var err error
	if a.dsn, err = readSecret(c.DSNFile, c.DSNEnv); err != nil {
		return nil, errorf(name, "dsn: %w", err)
	}
	if _, err := pgx.ParseConfig(a.dsn); err != nil {
		// pgx's error repeats the DSN (less its password, not less
		// everything else it may hold): say only where it came from.
		return nil, errorf(name, "the DSN in %s is not a valid PostgreSQL connection string", a.from)
	}
	if c.Database != "" {
		if a.database, err = mustParse(name, "database", c.Database, nil); err != nil {
			return nil, err
		}
	}
	if c.ApplicationName != "" {
		if a.app, err = mustParse(name, "application_name", c.ApplicationName, nil); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// filters are the parameters $1 to $3 of terminateSQL.
func (a *postgresAction) filters(allowed map[string]string) (db, app string, err error) {
	if a.database != nil {
		if db, err = a.database.render(allowed); err != nil {
			return "", "", fmt.Errorf("database: %w", err)
		}
	}
	if a.app != nil {
		if app, err = a.app.render(allowed); err != nil {
			return "", "", fmt.Errorf("application_name: %w", err)
		}
	}
	return db, app, nil
}

// what describes the backends a run picks, after "client backends".
func (a *postgresAction) what(db, app string) string {
	var b strings.Builder
	if db != "" {
		fmt.Fprintf(&b, " of database %q", db)
	}
	if app != "" {
		fmt.Fprintf(&b, " with application_name %q", app)
	}
	if a.state != "" {
		fmt.Fprintf(&b, " in state %q", a.state)
	}
	if a.idleFor > 0 {
		fmt.Fprintf(&b, " unchanged for over %s", a.idleFor)
	}
	fmt.Fprintf(&b, " on the server of %s", a.from)
	return b.String()
}

func (a *postgresAction) Describe(allowed map[string]string) (string, error) {
	db, app, err := a.filters(allowed)
	if err != nil {
		return "", errorf(a.name, "%w", err)
	}
	return fmt.Sprintf("terminate at most %d client backends%s", a.max, a.what(db, app)), nil
}

func (a *postgresAction) Run(ctx context.Context, allowed map[string]string) (string, error) {
	db, app, err := a.filters(allowed)
	if err != nil {
		return "", errorf(a.name, "%w", err)
	}
	// A connection of its own per run, closed after: runs are rare, and
	// a pool held between them would be backends of its own.
	conn, err := pgx.Connect(ctx, a.dsn)
	if err != nil {
		return "", errorf(a.name, "connecting to the server of %s: %w", a.from, err)
	}
	defer func() {
		// The run's deadline may have passed: closing gets a few
		// seconds of its own.
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	var idle any // NULL: no idle filter
	if a.idleFor > 0 {
		idle = a.idleFor
	}
	var n int64
	if err := conn.QueryRow(ctx, terminateSQL, db, app, a.state, idle, a.max).Scan(&n); err != nil {
		return "", errorf(a.name, "terminating backends: %w", err)
	}
	return fmt.Sprintf("terminated %d client backends%s (at most %d)", n, a.what(db, app), a.max), nil
}

func (a *postgresAction) Close() error { return nil }
