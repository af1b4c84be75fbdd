package business

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/config"
)

// SQL runs queries on PostgreSQL, each in a read-only transaction with
// statement_timeout set to the query's timeout: the server refuses any
// write the statement attempts and cancels it when it overruns, so a
// mistaken or slow query can neither change the data nor hold a
// connection past its timeout.
type SQL struct {
	Pool *pgxpool.Pool
}

// NewSQL connects a pool of at most maxConns connections. The pool
// connects lazily: a database down at start is a failing query, not a
// failing exporter.
func NewSQL(ctx context.Context, dsn string, maxConns int32) (*SQL, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, errors.New("parsing the database DSN: invalid connection string") // never quote it: it may hold a password
	}
	cfg.MaxConns = maxConns
	cfg.MinConns = 0
	cfg.MaxConnIdleTime = 5 * time.Minute
	cfg.ConnConfig.RuntimeParams["application_name"] = "sla_exporter"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("database pool: %w", err)
	}
	return &SQL{Pool: pool}, nil
}

// Run implements Source.
func (s *SQL) Run(ctx context.Context, q *config.Query, _ time.Time) ([]Sample, error) {
	conn, err := s.Pool.Acquire(ctx)
	if err != nil {
		if ctx.Err() != nil {
			// Every connection is held by other queries: not this query's
			// slowness, and not a database down.
			return nil, fmt.Errorf("query %s: no free connection within its timeout (database.max_conns %d, all held by other queries): %w", q.Name, s.Pool.Config().MaxConns, ErrNoConnection)
		}
		return nil, fmt.Errorf("query %s: connecting: %w", q.Name, err)
	}
	defer conn.Release()
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("query %s: begin: %w", q.Name, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // read only: nothing to commit
	ms := time.Duration(q.Timeout).Milliseconds()
	if _, err := tx.Exec(ctx, "SET LOCAL statement_timeout = "+strconv.FormatInt(max(ms, 1), 10)); err != nil {
		return nil, fmt.Errorf("query %s: setting statement_timeout: %w", q.Name, err)
	}
	rows, err := tx.Query(ctx, q.SQL)
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", q.Name, err)
	}
	defer rows.Close()
	var cols map[string]int
	var out []Sample
	for rows.Next() {
		if cols == nil {
			if cols, err = columns(q, rows.FieldDescriptions()); err != nil {
				return nil, err
			}
		}
		vals, err := rows.Values()
		if err != nil {
			return nil, fmt.Errorf("query %s: reading a row: %w", q.Name, err)
		}
		for _, m := range q.Metrics {
			v, ok, err := number(vals[cols[m.Value]])
			if err != nil {
				return nil, fmt.Errorf("query %s: metric %s: column %s: %w (%w)", q.Name, m.Name, m.Value, err, ErrResult)
			}
			if !ok {
				continue // NULL: no sample, as for a group with no rows
			}
			lv := make([]string, len(m.Labels))
			for i, l := range m.Labels {
				lv[i] = text(vals[cols[l]])
			}
			if len(out) == q.MaxSeries {
				return nil, tooMany(q, len(out))
			}
			out = append(out, Sample{Metric: m.Name, LabelValues: lv, Value: v})
		}
	}
	// The statement's own failure (a timeout, a refused write) shows
	// here, after the rows: report it before any complaint about columns.
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query %s: %w", q.Name, err)
	}
	if cols == nil {
		if _, err := columns(q, rows.FieldDescriptions()); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ErrResult is a result the query's metrics cannot read: a missing
// column, a value that is not a number, two rows of one series.
var ErrResult = errors.New("unusable result")

// ErrNoConnection is a run that waited its whole timeout for one of the
// pool's connections.
var ErrNoConnection = errors.New("no free connection")

// columns maps the result's column names to their positions, checking
// that every column the metrics name is there.
func columns(q *config.Query, fields []pgconn.FieldDescription) (map[string]int, error) {
	cols := make(map[string]int, len(fields))
	for i, f := range fields {
		cols[f.Name] = i
	}
	for _, m := range q.Metrics {
		for _, c := range append([]string{m.Value}, m.Labels...) {
			if _, ok := cols[c]; !ok {
				return nil, fmt.Errorf("query %s: metric %s: the result has no column %q: %w", q.Name, m.Name, c, ErrResult)
			}
		}
	}
	return cols, nil
}

// Close closes the pool.
func (s *SQL) Close() { s.Pool.Close() }

// number reads a value column: integers, floats and numerics; ok is false
// for NULL.
func number(v any) (float64, bool, error) {
	switch x := v.(type) {
	case nil:
		return 0, false, nil
	case int16:
		return float64(x), true, nil
	case int32:
		return float64(x), true, nil
	case int64:
		return float64(x), true, nil
	case float32:
		return float64(x), true, nil
	case float64:
		return x, true, nil
	case bool:
		if x {
			return 1, true, nil
		}
		return 0, true, nil
	case pgtype.Numeric:
		if !x.Valid {
			return 0, false, nil
		}
		f, err := x.Float64Value()
		if err != nil {
			return 0, false, fmt.Errorf("numeric: %w", err)
		}
		if x.NaN {
			return math.NaN(), true, nil
		}
		return f.Float64, true, nil
	case string:
		f, err := strconv.ParseFloat(x, 64)
		if err != nil {
			return 0, false, fmt.Errorf("%q is not a number", x)
		}
		return f, true, nil
	}
	return 0, false, fmt.Errorf("a %T is not a number", v)
}

// text is a label column's value as a label value; NULL is "".
func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case time.Time:
		return x.UTC().Format(time.RFC3339)
	case pgtype.Numeric:
		f, err := x.Float64Value()
		if err != nil || !f.Valid {
			return ""
		}
		return strconv.FormatFloat(f.Float64, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// Reasons are the values of sla_query_errors_total's reason label, by
// source.
var Reasons = map[string][]string{
	"sql":   {"timeout", "write_refused", "too_many_series", "query_error", "no_connection", "unreachable"},
	"redis": {"timeout", "query_error", "unreachable"},
}

// reason classifies a failed run for sla_query_errors_total.
func reason(err error) string {
	var pe *pgconn.PgError
	switch {
	case errors.Is(err, ErrTooManySeries):
		return "too_many_series"
	case errors.Is(err, ErrNoConnection):
		return "no_connection"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.As(err, &pe) && pe.Code == "57014": // query_canceled: statement_timeout
		return "timeout"
	case errors.As(err, &pe) && pe.Code == "25006": // read_only_sql_transaction
		return "write_refused"
	case errors.As(err, &pe), errors.Is(err, ErrResult), isRedisError(err):
		return "query_error" // the server answered, and refused or gave nothing usable
	}
	return "unreachable"
}
