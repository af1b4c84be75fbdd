package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

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
	return retrying(func() error { return pgx.BeginFunc(ctx, s.pool, f) })
}

// retrying runs a transaction again, up to five times in all, while it
// fails with what retryable says another try may not meet.
func retrying(tx func() error) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if err = tx(); !retryable(err) {
			return err
		}
	}
	return err
}

// inPipeline sends the statements queue puts in a batch, without BEGIN
// and COMMIT: a batch is one implicit transaction (its statements end in
// one Sync), so they commit together or not at all, set_config(..., true)
// holds to the end of it, and it costs one round trip where BEGIN, the
// batch and COMMIT were three. read (nil: none) reads the results; the
// batch commits once they are read, even when read fails, so read fails
// only on what the server returned. Retried as inTx retries.
func (s *Postgres) inPipeline(ctx context.Context, queue func(*pgx.Batch) error, read func(pgx.BatchResults) error) error {
	return retrying(func() error {
		b := &pgx.Batch{}
		if err := queue(b); err != nil {
			return err
		}
		if b.Len() == 0 {
			return nil
		}
		br := s.pool.SendBatch(ctx, b)
		var err error
		if read != nil {
			err = read(br)
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		return err
	})
}

// pipeTx is a transaction sent as batches, with BEGIN in front of its
// first and COMMIT behind its last: pgx.BeginFunc sends each on a round
// trip of its own, two of a delivery group's five, and on two busy cores
// every round trip is two wake-ups and a wait for the other side.
type pipeTx struct {
	conn      *pgxpool.Conn
	open      bool // BEGIN sent
	committed bool
}

// send sends b in the transaction; the caller closes the results.
func (t *pipeTx) send(ctx context.Context, b *pgx.Batch) (pgx.BatchResults, error) {
	first := !t.open
	if first {
		b.QueuedQueries = append([]*pgx.QueuedQuery{{SQL: "BEGIN"}}, b.QueuedQueries...)
		t.open = true
	}
	br := t.conn.SendBatch(ctx, b)
	if first {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return nil, err
		}
	}
	return br, nil
}

// commit sends b and COMMIT. PostgreSQL answers the COMMIT of a failed
// transaction with the tag ROLLBACK and no error: that is an error here.
func (t *pipeTx) commit(ctx context.Context, b *pgx.Batch) error {
	b.Queue("COMMIT")
	first := !t.open
	br, err := t.send(ctx, b)
	if err != nil {
		return err
	}
	results := b.Len()
	if first {
		results-- // BEGIN's, read by send
	}
	var tag pgconn.CommandTag
	for i := 0; i < results && err == nil; i++ {
		tag, err = br.Exec()
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if tag.String() != "COMMIT" {
		return fmt.Errorf("the transaction ended in %s, not COMMIT", tag)
	}
	t.committed = true
	return nil
}

// inPipeTx runs f in a pipeTx, which f ends with commit; rolled back
// when f fails, and retried as inTx retries.
func (s *Postgres) inPipeTx(ctx context.Context, f func(*pipeTx) error) error {
	return retrying(func() error { return s.pipeTxOnce(ctx, f) })
}

func (s *Postgres) pipeTxOnce(ctx context.Context, f func(*pipeTx) error) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// Released in a transaction (a failed ROLLBACK, a cut connection),
	// the connection is closed, not pooled.
	defer conn.Release()
	t := &pipeTx{conn: conn}
	if err := f(t); err != nil {
		if t.open && !t.committed && !conn.Conn().IsClosed() {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_, _ = conn.Exec(rctx, "ROLLBACK")
			cancel()
		}
		return err
	}
	if !t.committed {
		return errors.New("a pipelined transaction ended without its commit")
	}
	return nil
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
