package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

var (
	heartbeatLagDesc  = newDesc("heartbeat_lag_seconds", "Age of the newest heartbeat row visible here: end-to-end replication lag on a standby (plus up to one heartbeat interval); about one interval on the primary that writes it.")
	heartbeatLastDesc = newDesc("heartbeat_last_timestamp_seconds", "Time written in the newest heartbeat row visible here.")
)

var identPart = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// ParseTable validates a heartbeat table name, "table" or "schema.table",
// and returns it quoted for SQL. Only plain identifiers are accepted, so the
// name can never carry SQL of its own.
func ParseTable(name string) (string, error) {
	parts := strings.Split(name, ".")
	if len(parts) > 2 {
		return "", fmt.Errorf("heartbeat table %q: want table or schema.table", name)
	}
	for _, p := range parts {
		if !identPart.MatchString(p) {
			return "", fmt.Errorf("heartbeat table %q: %q is not a plain identifier (letters, digits, _; not starting with a digit)", name, p)
		}
	}
	return pgx.Identifier(parts).Sanitize(), nil
}

// heartbeatReader reads the heartbeat row on every scrape.
type heartbeatReader struct{ query string }

func newHeartbeatReader(table string) *heartbeatReader {
	quoted, err := ParseTable(table)
	if err != nil {
		panic(err) // main validates the flag before building a Collector
	}
	return &heartbeatReader{query: `SELECT extract(epoch FROM ts)::float8, extract(epoch FROM clock_timestamp())::float8 FROM ` + quoted + ` WHERE id = 1`}
}

func (*heartbeatReader) name() string { return "heartbeat" }

func (k *heartbeatReader) statement() (string, []any) { return k.query, nil }

func (k *heartbeatReader) collect(s *scrape, rows pgx.Rows) error {
	var ts, now float64
	found := false
	for rows.Next() {
		if err := rows.Scan(&ts, &now); err != nil {
			return fmt.Errorf("heartbeat: %w", err)
		}
		found = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	if !found {
		return fmt.Errorf("heartbeat: no row yet (is a pgha_exporter with --heartbeat.table watching the primary?)")
	}
	gauge(s.ch, heartbeatLastDesc, ts)
	gauge(s.ch, heartbeatLagDesc, max(0, now-ts))
	return nil
}

// HeartbeatWriter updates the heartbeat row on a primary every interval, so
// a standby can measure true end-to-end lag even when the application is
// idle. On a standby the write fails as read-only and is skipped quietly:
// the same exporter configuration works whichever node is primary.
type HeartbeatWriter struct {
	Pool     *pgxpool.Pool
	Table    string
	Interval time.Duration
	Create   bool // CREATE TABLE IF NOT EXISTS on the primary (needs CREATE on the schema)
	Logger   *slog.Logger
}

// Run writes until ctx is cancelled.
func (w *HeartbeatWriter) Run(ctx context.Context) error {
	quoted, err := ParseTable(w.Table)
	if err != nil {
		return err
	}
	create := `CREATE TABLE IF NOT EXISTS ` + quoted + ` (id int PRIMARY KEY, ts timestamptz NOT NULL)`
	upsert := `INSERT INTO ` + quoted + ` (id, ts) VALUES (1, clock_timestamp()) ON CONFLICT (id) DO UPDATE SET ts = excluded.ts`
	created := !w.Create
	t := time.NewTicker(w.Interval)
	defer t.Stop()
	failing := false
	for {
		wctx, cancel := context.WithTimeout(ctx, w.Interval)
		if !created {
			if _, err = w.Pool.Exec(wctx, create); err == nil {
				created = true
			}
		}
		if err == nil {
			_, err = w.Pool.Exec(wctx, upsert)
		}
		cancel()
		var pgErr *pgconn.PgError
		switch {
		case err == nil || (errors.As(err, &pgErr) && pgErr.Code == "25006"): // read_only_sql_transaction: a standby
			if failing {
				w.Logger.Info("Heartbeat writes work again")
			}
			failing = false
		case ctx.Err() != nil:
			return nil
		case !failing:
			w.Logger.Error("Heartbeat write failed; retrying every interval", "table", w.Table, "err", err)
			failing = true
		}
		err = nil
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
