package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hotel-ops/hotel-ops/webhook/policy"
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

	receives chan *receiveReq // deliveries waiting for a group (postgres_receive.go)
	closing  chan struct{}
	stop     context.CancelFunc
	runners  sync.WaitGroup
}

// schema is created when missing; it is versioned by its table names.
const schema = `
CREATE TABLE IF NOT EXISTS escalator_deliveries (
	hash     text PRIMARY KEY,
	received timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS escalator_deliveries_received ON escalator_deliveries (received);
CREATE TABLE IF NOT EXISTS escalator_incidents (
	id        text PRIMARY KEY,
	status    text NOT NULL,
	severity  text NOT NULL DEFAULT '',
	opened_at timestamptz NOT NULL,
	data      jsonb NOT NULL
) WITH (fillfactor = 70); -- room on each page for HOT updates as heartbeats arrive
CREATE INDEX IF NOT EXISTS escalator_incidents_recent ON escalator_incidents ((status = 'resolved'), opened_at DESC);
-- An incident's escalation, in a narrow row of its own: the step it
-- expects next, when that step is due, and the channels notified so far.
-- due is NULL once no step is pending (acknowledged, resolved, or the
-- policy's last step taken). A step locks and rewrites only this row,
-- never the incident and its document; acknowledging and resolving clear
-- due under the same row lock, which fences a step off. The incident's
-- document keeps a copy of the state as of its last write, which these
-- columns overrule.
DO $$
BEGIN
	IF to_regclass('escalator_escalations') IS NOT NULL THEN
		RETURN;
	END IF;
	CREATE TABLE escalator_escalations (
		incident  text PRIMARY KEY REFERENCES escalator_incidents (id),
		policy    text NOT NULL,
		opened_at timestamptz NOT NULL,
		next_step integer NOT NULL DEFAULT 0,
		due       timestamptz,
		notified  jsonb NOT NULL DEFAULT '[]'
	) WITH (fillfactor = 70);
	CREATE INDEX escalator_escalations_due ON escalator_escalations (due) WHERE due IS NOT NULL;
	IF to_regclass('escalator_timers') IS NULL THEN
		RETURN; -- a new database
	END IF;
	-- Tables of earlier versions: pending steps were rows of
	-- escalator_timers, and the state was kept in the incident's document,
	-- later in columns of the incident. A timer counts only for the step
	-- its open incident expects; any other was stale already.
	IF EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()
			AND table_name = 'escalator_incidents' AND column_name = 'next_step') THEN
		INSERT INTO escalator_escalations (incident, policy, opened_at, next_step, due, notified)
		SELECT i.id, i.policy, i.opened_at, i.next_step, t.due, i.notified
		FROM escalator_incidents i
		LEFT JOIN escalator_timers t ON t.incident = i.id AND t.step = i.next_step AND i.status = 'open'
		WHERE i.policy <> '';
		ALTER TABLE escalator_incidents DROP COLUMN policy, DROP COLUMN next_step, DROP COLUMN next_due, DROP COLUMN notified;
	ELSE
		INSERT INTO escalator_escalations (incident, policy, opened_at, next_step, due, notified)
		SELECT i.id, i.data->>'policy', i.opened_at, coalesce((i.data->>'nextStep')::integer, 0), t.due, coalesce(i.data->'notified', '[]')
		FROM escalator_incidents i
		LEFT JOIN escalator_timers t ON t.incident = i.id AND t.step = coalesce((i.data->>'nextStep')::integer, 0) AND i.status = 'open'
		WHERE coalesce(i.data->>'policy', '') <> '';
	END IF;
	DROP TABLE escalator_timers;
END $$;
CREATE TABLE IF NOT EXISTS escalator_outbox (
	seq      bigserial PRIMARY KEY,
	key      text NOT NULL UNIQUE,
	incident text NOT NULL,
	step     integer NOT NULL,
	channel  text NOT NULL,
	event    text NOT NULL,
	attempts integer NOT NULL DEFAULT 0,
	next_try timestamptz NOT NULL,
	created  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS escalator_outbox_next_try ON escalator_outbox (next_try);
ALTER TABLE escalator_outbox ADD COLUMN IF NOT EXISTS due timestamptz;
CREATE INDEX IF NOT EXISTS escalator_outbox_queue ON escalator_outbox (incident, channel, seq);
CREATE TABLE IF NOT EXISTS escalator_audit (
	seq      bigserial PRIMARY KEY,
	time     timestamptz NOT NULL,
	incident text NOT NULL DEFAULT '',
	action   text NOT NULL,
	detail   text NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS escalator_audit_incident ON escalator_audit (incident, seq);
`

// OpenPostgres connects to dsn and creates the tables when missing. Two
// replicas starting together both run the CREATEs; an advisory lock
// makes the second wait instead of failing on a catalog conflict.
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
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(7268430217)`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, schema)
		return err
	})
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("creating the escalator tables: %w", err)
	}
	s := &Postgres{pool: pool, receives: make(chan *receiveReq), closing: make(chan struct{})}
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

// The incidents a transaction changes are locked with their escalations,
// escalations first in every transaction (a step locks only its
// escalation), each table in ID order: two transactions then wait for
// each other instead of deadlocking. Locking the escalation also makes a
// delivery or an ack wait for a step being taken; the incidents are read
// by the next statement, whose snapshot holds that step's commit, so they
// come with the channels it notified.
const (
	lockEscalationsSQL = `SELECT 1 FROM escalator_escalations WHERE incident = ANY($1) ORDER BY incident FOR UPDATE`
	lockIncidentsSQL   = selectIncidents + ` WHERE i.id = ANY($1) ORDER BY i.id FOR UPDATE OF i`
)

// queueLocks queues the two statements that lock the incidents among ids.
func queueLocks(b *pgx.Batch, ids []string) {
	b.Queue(lockEscalationsSQL, ids)
	b.Queue(lockIncidentsSQL, ids)
}

// readLocks reads what queueLocks queued: the existing incidents among
// the IDs, by ID, each with the state of its escalation.
func readLocks(br pgx.BatchResults) (map[string]*Incident, error) {
	if _, err := br.Exec(); err != nil {
		return nil, fmt.Errorf("locking escalations: %w", err)
	}
	out := map[string]*Incident{}
	rows := rowsOf(br)
	for rows.Next() {
		inc, err := scanIncident(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("reading an incident: %w", err)
		}
		out[inc.ID] = inc
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading incidents: %w", err)
	}
	return out, nil
}

// lockIncidents locks and reads the existing incidents among ids.
func lockIncidents(ctx context.Context, tx pgx.Tx, ids []string) (map[string]*Incident, error) {
	b := &pgx.Batch{}
	queueLocks(b, ids)
	br := tx.SendBatch(ctx, b)
	known, err := readLocks(br)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return known, err
}

// selectIncidents reads what scanIncident scans: the document, with the
// state of its escalation when it has one.
const selectIncidents = `SELECT i.data, coalesce(e.next_step, 0), e.due, coalesce(e.notified, '[]')
	FROM escalator_incidents i LEFT JOIN escalator_escalations e ON e.incident = i.id`

// scanIncident reads a row of selectIncidents.
func scanIncident(row pgx.Row) (*Incident, error) {
	var inc Incident
	var step int
	var due pgtype.Timestamptz
	var notified []string
	if err := row.Scan(&inc, &step, &due, &notified); err != nil {
		return nil, err
	}
	inc.NextStep, inc.NextDue, inc.Notified = step, due.Time, notified
	return &inc, nil
}

// nullTime is t, or NULL when zero.
func nullTime(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

// notifiedJSON is the channels notified, as the notified column keeps them.
func notifiedJSON(chs []string) string {
	if len(chs) == 0 {
		return "[]"
	}
	j, _ := json.Marshal(chs) // strings always encode
	return string(j)
}

// queueOpenings queues one statement that opens the new incidents with
// their escalations and audit entries, and returns the IDs it opened.
// ON CONFLICT: two deliveries opening the same incident at once open it
// once; for the other it is a repeat.
func queueOpenings(b *pgx.Batch, fresh []opening) error {
	n := len(fresh)
	ids, statuses, sevs, details, data, pols := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	opened, dues, scheduled := make([]time.Time, n), make([]time.Time, n), make([]bool, n)
	for i, o := range fresh {
		j, err := json.Marshal(o.inc)
		if err != nil {
			return err
		}
		ids[i], statuses[i], sevs[i], details[i], data[i] = o.inc.ID, o.inc.Status, o.inc.Labels["severity"], o.detail, string(j)
		opened[i], dues[i], scheduled[i], pols[i] = o.inc.OpenedAt, o.due, o.scheduled, o.inc.Policy
	}
	b.Queue(`WITH x AS (
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::jsonb[], $6::timestamptz[], $7::bool[], $8::text[], $9::text[])
				AS x(id, status, severity, opened_at, data, due, scheduled, detail, policy)),
		ins AS (
			INSERT INTO escalator_incidents (id, status, severity, opened_at, data)
			SELECT id, status, severity, opened_at, data FROM x ON CONFLICT (id) DO NOTHING RETURNING id),
		esc AS (
			INSERT INTO escalator_escalations (incident, policy, opened_at, due)
			SELECT x.id, x.policy, x.opened_at, x.due FROM x JOIN ins USING (id) WHERE x.scheduled),
		au AS (
			INSERT INTO escalator_audit (time, incident, action, detail)
			SELECT x.opened_at, x.id, 'opened', x.detail FROM x JOIN ins USING (id))
		SELECT id FROM ins`, ids, statuses, sevs, opened, data, dues, scheduled, details, pols)
	return nil
}

// FireWorkers implements Parallel: FOR UPDATE SKIP LOCKED gives each
// worker different escalations, so while one waits on the server another's
// steps are decoded and encoded here, and the server runs two
// transactions on two cores.
func (s *Postgres) FireWorkers() int { return fireWorkers }

// fireWorkers: two drained 100,000 due steps in 4.3 to 4.8 s where one
// took 5.8 to 6.8 s, and four were no better than one (2 cores; measured
// before the escalations had a table of their own).
const fireWorkers = 2

// FireDue implements Store. Each replica takes different escalations:
// the ones another holds are skipped, not waited for. A step reads and
// writes the escalation's narrow row only, with one statement per table
// for the whole batch.
func (s *Postgres) FireDue(ctx context.Context, pol *policy.File, now time.Time, limit int) ([]Fired, error) {
	var fired []Fired
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		fired = fired[:0]
		rows, err := tx.Query(ctx, `SELECT incident, due, next_step, policy, opened_at, notified FROM escalator_escalations
			WHERE due <= $1 ORDER BY due LIMIT $2 FOR UPDATE SKIP LOCKED`, now, limit)
		if err != nil {
			return fmt.Errorf("taking due steps: %w", err)
		}
		type due struct {
			at  time.Time
			inc Incident
		}
		var taken []due
		for rows.Next() {
			// Only an open incident has a step due: acknowledging and
			// resolving clear it.
			d := due{inc: Incident{Status: Open}}
			if err := rows.Scan(&d.inc.ID, &d.at, &d.inc.NextStep, &d.inc.Policy, &d.inc.OpenedAt, &d.inc.Notified); err != nil {
				rows.Close()
				return err
			}
			taken = append(taken, d)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		b := &pgx.Batch{}
		if len(taken) > 0 {
			b.Queue(batchPlanSQL)
		}
		var w writes
		for i := range taken {
			d := &taken[i]
			id, step := d.inc.ID, d.inc.NextStep
			f, ok := fire(&d.inc, step, pol)
			if !ok {
				w.unschedule = append(w.unschedule, id) // the policy no longer has this step
				continue
			}
			for _, ch := range f.channels {
				w.outbox = append(w.outbox, stepNotification(&d.inc, step, ch, d.at, now))
			}
			w.stepped = append(w.stepped, &d.inc)
			w.log(now, id, "escalated", f.audit)
			if f.channels != nil {
				fired = append(fired, Fired{Incident: id, Step: step, Lag: now.Sub(d.at), Policy: d.inc.Policy})
			}
		}
		if err := w.queue(b); err != nil {
			return err
		}
		return runBatch(ctx, tx, b)
	})
	if err != nil {
		return nil, fmt.Errorf("firing due steps: %w", err)
	}
	return fired, nil
}

// batchPlanSQL sets how the rest of a step batch's transaction is
// planned. Its writes join thousands of array elements to rows by
// primary key. Planned for its arrays, the UPDATE took a hash join over
// a scan of the whole table, and planning the arrays as constants cost
// 6 to 12 ms a statement; a plan made once, with a nested loop of index
// lookups, takes a third of the time and plans nothing per batch. The
// nested loop of index lookups is forced so that a plan made while the
// table was small is still right when it is large.
const batchPlanSQL = `SELECT set_config('plan_cache_mode', 'force_generic_plan', true),
	set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true),
	set_config('enable_seqscan', 'off', true)`

// steppedSQL writes the escalations' state after a step.
const steppedSQL = `UPDATE escalator_escalations e SET next_step = x.step, due = x.due, notified = x.notified
	FROM unnest($1::text[], $2::int[], $3::timestamptz[], $4::jsonb[]) AS x(id, step, due, notified)
	WHERE e.incident = x.id`

// writes are the changes of a transaction, written as arrays: one
// statement per table however many alerts or steps.
type writes struct {
	unschedule []string    // escalations stopped: no step is pending any more
	incidents  []*Incident // documents written whole
	stepped    []*Incident // escalations that took a step: their state changed
	outbox     []Notification
	audit      []Entry
}

func (w *writes) log(now time.Time, incident, action, detail string) {
	w.audit = append(w.audit, Entry{Time: now, Incident: incident, Action: action, Detail: detail})
}

// queue adds the writes to b: one statement per table that has any.
func (w *writes) queue(b *pgx.Batch) error {
	if len(w.unschedule) > 0 {
		b.Queue(`UPDATE escalator_escalations SET due = NULL WHERE incident = ANY($1) AND due IS NOT NULL`, w.unschedule)
	}
	if n := len(w.incidents); n > 0 {
		ids, statuses, data := make([]string, n), make([]string, n), make([]string, n)
		for i, inc := range w.incidents {
			j, err := json.Marshal(inc)
			if err != nil {
				return err
			}
			ids[i], statuses[i], data[i] = inc.ID, inc.Status, string(j)
		}
		b.Queue(`UPDATE escalator_incidents i SET status = x.status, data = x.data
			FROM unnest($1::text[], $2::text[], $3::jsonb[]) AS x(id, status, data)
			WHERE i.id = x.id`, ids, statuses, data)
	}
	if n := len(w.stepped); n > 0 {
		ids, notified := make([]string, n), make([]string, n)
		steps, dues := make([]int32, n), make([]pgtype.Timestamptz, n)
		for i, inc := range w.stepped {
			ids[i], steps[i], dues[i], notified[i] = inc.ID, int32(inc.NextStep), nullTime(inc.NextDue), notifiedJSON(inc.Notified)
		}
		b.Queue(steppedSQL, ids, steps, dues, notified)
	}
	if n := len(w.outbox); n > 0 {
		keys, incs, chans, events := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		steps, times, dues := make([]int32, n), make([]time.Time, n), make([]pgtype.Timestamptz, n)
		for i, o := range w.outbox {
			keys[i], incs[i], chans[i], events[i], steps[i], times[i], dues[i] = o.Key, o.Incident, o.Channel, o.Event, int32(o.Step), o.NextTry, nullTime(o.Due)
		}
		b.Queue(`INSERT INTO escalator_outbox (key, incident, step, channel, event, next_try, created, due)
			SELECT k, i, s, c, e, t, t, d FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[]) AS x(k, i, s, c, e, t, d)
			ON CONFLICT (key) DO NOTHING`, keys, incs, steps, chans, events, times, dues)
	}
	if n := len(w.audit); n > 0 {
		times, incs, actions, details := make([]time.Time, n), make([]string, n), make([]string, n), make([]string, n)
		for i, e := range w.audit {
			times[i], incs[i], actions[i], details[i] = e.Time, e.Incident, e.Action, e.Detail
		}
		b.Queue(`INSERT INTO escalator_audit (time, incident, action, detail)
			SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[])`, times, incs, actions, details)
	}
	return nil
}

// NextDue implements Store.
func (s *Postgres) NextDue(ctx context.Context) (time.Time, error) {
	var t *time.Time
	if err := s.pool.QueryRow(ctx, `SELECT min(due) FROM escalator_escalations WHERE due IS NOT NULL`).Scan(&t); err != nil {
		return time.Time{}, fmt.Errorf("next due step: %w", err)
	}
	if t == nil {
		return time.Time{}, nil
	}
	return *t, nil
}

// Claim implements Store: leased rows are invisible to other replicas
// until the lease ends, and rows another replica is claiming are skipped.
func (s *Postgres) Claim(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Notification, error) {
	// Only the oldest notification of an incident to a channel is taken:
	// a resolve never overtakes its trigger (PagerDuty would drop a
	// resolve for an incident it does not know yet, then open it).
	rows, err := s.pool.Query(ctx, `UPDATE escalator_outbox SET next_try = $2
		WHERE seq IN (SELECT o.seq FROM escalator_outbox o WHERE o.next_try <= $1
			AND NOT EXISTS (SELECT 1 FROM escalator_outbox p WHERE p.incident = o.incident AND p.channel = o.channel AND p.seq < o.seq)
			ORDER BY o.seq LIMIT $3 FOR UPDATE SKIP LOCKED)
		RETURNING seq, key, incident, step, channel, event, attempts, created, due`, now, now.Add(lease), limit)
	if err != nil {
		return nil, fmt.Errorf("claiming notifications: %w", err)
	}
	var out []Notification
	for rows.Next() {
		n := Notification{NextTry: now}
		var due pgtype.Timestamptz
		if err := rows.Scan(&n.Seq, &n.Key, &n.Incident, &n.Step, &n.Channel, &n.Event, &n.Attempts, &n.Created, &due); err != nil {
			rows.Close()
			return nil, err
		}
		if due.Valid {
			n.Due = due.Time
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claiming notifications: %w", err)
	}
	sortBySeq(out)
	return out, nil
}

// Settle implements Store: one transaction, a statement per kind of
// outcome, however many.
func (s *Postgres) Settle(ctx context.Context, outcomes []Outcome) error {
	var gone, retried []int64
	var retryAt []time.Time
	var w writes
	for _, o := range outcomes {
		n := o.N
		switch {
		case o.Err == nil:
			gone = append(gone, int64(n.Seq))
			w.log(o.Now, n.Incident, "notified", notifiedDetail(n))
		case o.RetryAt.IsZero():
			gone = append(gone, int64(n.Seq))
			w.log(o.Now, n.Incident, "notify_failed", failedDetail(n, o.Err))
		default:
			retried, retryAt = append(retried, int64(n.Seq)), append(retryAt, o.RetryAt)
		}
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		if len(gone) > 0 {
			b.Queue(`DELETE FROM escalator_outbox WHERE seq = ANY($1)`, gone)
		}
		if len(retried) > 0 {
			b.Queue(`UPDATE escalator_outbox o SET attempts = attempts + 1, next_try = x.t
				FROM unnest($1::bigint[], $2::timestamptz[]) AS x(seq, t) WHERE o.seq = x.seq`, retried, retryAt)
		}
		if err := w.queue(b); err != nil {
			return err
		}
		return runBatch(ctx, tx, b)
	})
	if err != nil {
		return fmt.Errorf("settling %d notifications: %w", len(outcomes), err)
	}
	return nil
}

// Ack implements Store.
func (s *Postgres) Ack(ctx context.Context, id, by string, now time.Time) (*Incident, error) {
	var inc *Incident
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		known, err := lockIncidents(ctx, tx, []string{id})
		if err != nil {
			return err
		}
		if inc = known[id]; inc == nil {
			return ErrNotFound
		}
		if !acknowledge(inc, by, now) {
			return nil
		}
		w := writes{unschedule: []string{id}, incidents: []*Incident{inc}}
		for _, ch := range inc.Notified {
			w.outbox = append(w.outbox, notification(inc, -1, "ack", ch, "acknowledge", now))
		}
		w.log(now, id, "acknowledged", "by "+by)
		b := &pgx.Batch{}
		if err := w.queue(b); err != nil {
			return err
		}
		return runBatch(ctx, tx, b)
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("acknowledging %s: %w", id, err)
	}
	return inc, err
}

// SetSilence implements Store.
func (s *Postgres) SetSilence(ctx context.Context, id, silenceID string, now time.Time) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		known, err := lockIncidents(ctx, tx, []string{id})
		if err != nil {
			return err
		}
		inc := known[id]
		if inc == nil {
			return ErrNotFound
		}
		if err := silenceTaken(inc, silenceID); err != nil {
			return err
		}
		inc.SilenceID = silenceID
		w := writes{incidents: []*Incident{inc}}
		w.log(now, id, "silenced", silenceDetail(silenceID))
		b := &pgx.Batch{}
		if err := w.queue(b); err != nil {
			return err
		}
		return runBatch(ctx, tx, b)
	})
	if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrSilenceTaken) {
		return fmt.Errorf("recording the silence of %s: %w", id, err)
	}
	return err
}

// Incident implements Store.
func (s *Postgres) Incident(ctx context.Context, id string) (*Incident, error) {
	inc, err := scanIncident(s.pool.QueryRow(ctx, selectIncidents+` WHERE i.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("reading incident %s: %w", id, err)
	}
	return inc, nil
}

// Incidents implements Store: open ones first, then the most recent.
func (s *Postgres) Incidents(ctx context.Context, limit int) ([]Incident, error) {
	return s.listIncidents(ctx, selectIncidents+` ORDER BY (i.status = 'resolved'), i.opened_at DESC LIMIT $1`, limit)
}

// UnsettledAfter implements Store. It walks the primary key from after,
// so that a reconciler's pass reads the table once, a page at a time. An
// index on the condition would not do: it names the document, and every
// heartbeat's update of the document would then no longer be HOT.
func (s *Postgres) UnsettledAfter(ctx context.Context, after string, limit int) ([]Incident, error) {
	return s.listIncidents(ctx, selectIncidents+` WHERE i.id > $1
		AND (i.status <> 'resolved' OR coalesce(i.data->>'silenceId', '') NOT IN ('', $2))
		ORDER BY i.id LIMIT $3`, after, SilenceExpired, limit)
}

func (s *Postgres) listIncidents(ctx context.Context, sql string, args ...any) ([]Incident, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("listing incidents: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Incident, error) {
		inc, err := scanIncident(r)
		if err != nil {
			return Incident{}, err
		}
		return *inc, nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing incidents: %w", err)
	}
	return out, nil
}

// Audit implements Store: newest first, for one incident or all.
func (s *Postgres) Audit(ctx context.Context, incident string, limit int) ([]Entry, error) {
	rows, err := s.pool.Query(ctx, `SELECT seq, time, incident, action, detail FROM escalator_audit
		WHERE $1 = '' OR incident = $1 ORDER BY seq DESC LIMIT $2`, incident, limit)
	if err != nil {
		return nil, fmt.Errorf("reading the audit log: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Entry, error) {
		var e Entry
		err := r.Scan(&e.Seq, &e.Time, &e.Incident, &e.Action, &e.Detail)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("reading the audit log: %w", err)
	}
	return out, nil
}

// Prune implements Store.
func (s *Postgres) Prune(ctx context.Context, before time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM escalator_deliveries WHERE received < $1`, before)
	if err != nil {
		return 0, fmt.Errorf("pruning deliveries: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// Pending implements Store.
func (s *Postgres) Pending(ctx context.Context) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM escalator_escalations WHERE due IS NOT NULL`).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting pending steps: %w", err)
	}
	return n, nil
}

// OpenBySeverity implements Store.
func (s *Postgres) OpenBySeverity(ctx context.Context) (map[string]int, error) {
	rows, err := s.pool.Query(ctx, `SELECT severity, count(*) FROM escalator_incidents WHERE status <> 'resolved' GROUP BY severity`)
	if err != nil {
		return nil, fmt.Errorf("counting incidents: %w", err)
	}
	out := map[string]int{}
	var sev string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&sev, &n}, func() error { out[sev] = n; return nil })
	if err != nil {
		return nil, fmt.Errorf("counting incidents: %w", err)
	}
	return out, nil
}
