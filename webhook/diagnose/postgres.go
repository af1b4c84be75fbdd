package diagnose

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hotel-ops/hotel-ops/internal/secret"
)

const (
	// pgMaxConns: a check runs one query at a time, two when an incident's
	// run overlaps the daily one.
	pgMaxConns = 2
	// pgIdle: runs are rare (incidents, once a day), so connections are not
	// kept for long between them.
	pgIdle = 5 * time.Minute
	// applicationName tells the probe's sessions apart in pg_stat_activity.
	applicationName = "escalator-diagnose"
)

// postgresProbe runs a query on a database through a small pool, opened
// on the first run.
type postgresProbe struct {
	c *Check

	mu     sync.Mutex
	pool   *pgxpool.Pool
	closed bool
}

func (p *postgresProbe) getPool() (*pgxpool.Pool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errClosed
	}
	if p.pool != nil {
		return p.pool, nil
	}
	dsn, err := secret.Read(p.c.DSNFile, p.c.DSNEnv)
	if err != nil {
		return nil, fmt.Errorf("dsn: %w", err)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// The parser's message quotes the DSN, password and all.
		return nil, errors.New("dsn is not a valid PostgreSQL connection string")
	}
	cfg.MaxConns = pgMaxConns
	cfg.MinConns = 0
	cfg.MaxConnIdleTime = pgIdle
	cfg.ConnConfig.ConnectTimeout = p.c.timeout()
	// The extended protocol runs exactly one statement: a query such as
	// "SELECT 1; COMMIT; DELETE ..." cannot leave the READ ONLY
	// transaction. The DSN may not choose the simple protocol.
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
	if _, set := cfg.ConnConfig.RuntimeParams["application_name"]; !set {
		cfg.ConnConfig.RuntimeParams["application_name"] = applicationName
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("opening the pool: %w", err)
	}
	p.pool = pool
	return pool, nil
}

func (p *postgresProbe) probe(ctx context.Context) (outcome, error) {
	pool, err := p.getPool()
	if err != nil {
		return outcome{}, err
	}
	query := p.c.query()
	// The latency includes getting a connection, a new one on a first run:
	// a database that accepts no connections is what an incident is about.
	start := time.Now()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return outcome{}, fmt.Errorf("connecting: %w", err)
	}
	defer conn.Release()
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return outcome{}, fmt.Errorf("beginning a read-only transaction: %w", err)
	}
	defer func() {
		// Nothing to keep: the transaction is read-only. A canceled query
		// has closed the connection already, so this returns at once.
		rctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = tx.Rollback(rctx)
	}()
	// The server stops the query a little before our own deadline, so the
	// answer is its "canceling statement due to statement timeout" and the
	// connection stays usable, rather than a connection torn down by the
	// context. Running this first also makes a "SET TRANSACTION READ
	// WRITE" query fail: the mode can only change before any query.
	if _, err := tx.Exec(ctx, "SELECT set_config('statement_timeout', $1, true)", statementTimeout(ctx)); err != nil {
		return outcome{}, fmt.Errorf("setting statement_timeout: %w", err)
	}
	rows, err := tx.Query(ctx, query)
	if err != nil {
		return outcome{}, fmt.Errorf("querying: %w", err)
	}
	n := 0
	for rows.Next() {
		n++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return outcome{}, fmt.Errorf("querying: %w", err)
	}
	latency := time.Since(start)
	out := outcome{latency: latency, head: fmt.Sprintf("%s in %s", shortQuery(query), formatLatency(latency))}
	if n != 1 {
		out.tail = fmt.Sprintf("%d rows", n)
	}
	return out, nil
}

// statementTimeout is what is left of ctx's time, less a margin, in
// milliseconds as statement_timeout takes it.
func statementTimeout(ctx context.Context) string {
	left := DefaultTimeout
	if d, ok := ctx.Deadline(); ok {
		left = time.Until(d)
	}
	left -= left / 20
	ms := max(left.Milliseconds(), 1) // 0 would mean no timeout at all
	return strconv.FormatInt(ms, 10)
}

// shortQuery is the query as it reads in a detail: one line, at most 40
// characters.
func shortQuery(q string) string {
	q = strings.Join(strings.Fields(q), " ")
	if r := []rune(q); len(r) > 40 {
		q = string(r[:39]) + "…"
	}
	return q
}

func (p *postgresProbe) close() error {
	p.mu.Lock()
	pool := p.pool
	p.pool, p.closed = nil, true
	p.mu.Unlock()
	if pool != nil {
		pool.Close()
	}
	return nil
}
