package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Postgres is the store for several escalator replicas on one database.
// Replicas share nothing else: a delivery is deduplicated by its row in
// escalator_deliveries, due steps and notifications are taken with
// FOR UPDATE SKIP LOCKED so that each goes to one replica, and a step is
// taken only under the lock of its escalation's row, which acknowledging
// and resolving take too, so that none runs twice or after. Deliveries
// arriving together are stored in groups, one transaction each
// (postgres_receive.go), and each is acknowledged only after its commit.
type Postgres struct {
	pool *pgxpool.Pool

	receives [receivers]chan *receiveReq // deliveries waiting for a group, by receiver (postgres_receive.go)
	closing  chan struct{}
	stop     context.CancelFunc
	runners  sync.WaitGroup
}

// OpenPostgres connects to dsn and brings the tables to the latest
// schema (postgres_schema.go).
func OpenPostgres(ctx context.Context, dsn string) (*Postgres, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("store DSN: %w", err) // pgx leaves the password out of its parse errors
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		// pgx's default (the CPU count, at least 4) is too few for
		// concurrent deliveries to share commits; the DSN can override.
		cfg.MaxConns = 16
	}
	if _, set := cfg.ConnConfig.RuntimeParams["plan_cache_mode"]; !set {
		// pgx prepares each statement once per connection, and after five
		// runs PostgreSQL may keep a generic plan made from the statistics
		// of the moment. Made while a table was new and small, that plan
		// scans the whole table for a handful of IDs, and keeps doing so
		// while the table grows until autovacuum next analyzes it: 15 to
		// 35 ms per statement instead of a tenth of one here, which was
		// the benchmark's p99 at 500 deliveries/s. A plan made for each
		// run sees the table's size as it is; planning these statements
		// costs little.
		cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to the PostgreSQL store: %w", err)
	}
	if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return migrate(ctx, tx) }); err != nil {
		pool.Close()
		return nil, fmt.Errorf("migrating the escalator tables: %w", err)
	}
	s := &Postgres{pool: pool, closing: make(chan struct{})}
	for i := range s.receives {
		s.receives[i] = make(chan *receiveReq)
	}
	s.startReceivers()
	return s, nil
}

// Close stops taking deliveries and closes the connections.
func (s *Postgres) Close() error {
	s.stopReceivers()
	s.pool.Close()
	return nil
}

// retryable is a conflict between replicas that running again resolves.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01" || pe.Code == "23505")
}

// inTx runs f in a transaction, again on a serialization failure,
// deadlock or a key another replica inserted first.
func (s *Postgres) inTx(ctx context.Context, f func(pgx.Tx) error) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		err = pgx.BeginFunc(ctx, s.pool, f)
		if !retryable(err) {
			return err
		}
	}
	return err
}

func runBatch(ctx context.Context, tx pgx.Tx, b *pgx.Batch) error {
	if b.Len() == 0 {
		return nil
	}
	return tx.SendBatch(ctx, b).Close()
}

// rowsOf is the batch's next result as rows; pgx returns rows even on
// an error, which then ends ForEachRow with it.
func rowsOf(br pgx.BatchResults) pgx.Rows {
	rows, _ := br.Query()
	return rows
}
