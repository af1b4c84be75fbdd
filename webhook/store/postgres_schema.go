package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// The PostgreSQL store's schema is a list of numbered migrations, each
// run once, in order, in the transaction that records it in
// escalator_schema_migrations. A replica that starts on a database some
// other replica migrated further refuses to run: it would not know the
// tables. A migration is never edited once released; a change is a new one.
type migration struct {
	version int
	name    string
	sql     string
}

var migrations = []migration{
	// 1 is the schema of the releases before migrations were numbered.
	// It is written to run on an empty database and on one of any
	// earlier release alike (CREATE ... IF NOT EXISTS, and the move of
	// escalation state out of the incident), so that every existing
	// database becomes version 1.
	{1, "incidents, escalations, outbox, audit", migration1},
	// 2: each channel's sender claims from its own queue.
	{2, "outbox by channel", `CREATE INDEX IF NOT EXISTS escalator_outbox_channel ON escalator_outbox (channel, next_try)`},
	// 3: everything about an incident that changes after it opened moves
	// to a narrow row of its own, beside its step and due time.
	{3, "incident state", migration3},
	// 4: auto-recovery actions: a run's start on its queued row, and the
	// runs begun, for cooldowns and budgets (actions.go).
	{4, "action runs", migration4},
	// 5: the state row's reference to its incident is the store's to
	// keep, not a foreign key's (migration5).
	{5, "no foreign key on the state", migration5},
}

// migration5 drops the foreign key from escalator_state to
// escalator_incidents. Both rows are written by one statement and pruned
// by one transaction, so it never caught anything; but for every incident
// opened, its check ran a query in a trigger and locked the new incident
// row (FOR KEY SHARE), a heap change written to the WAL of its own: in a
// storm of 2,600 incidents a second, 156,000 checks a minute. Its name
// depends on the release that made the table, so every foreign key of the
// table goes.
const migration5 = `
DO $$
DECLARE c text;
BEGIN
	FOR c IN SELECT conname FROM pg_constraint WHERE conrelid = 'escalator_state'::regclass AND contype = 'f' LOOP
		EXECUTE format('ALTER TABLE escalator_state DROP CONSTRAINT %I', c);
	END LOOP;
END $$`

// migration4: a row per run begun, and per marker (a refire seen, a
// breaker reset: outcome refired or reset), read newest first by action.
const migration4 = `
ALTER TABLE escalator_outbox ADD COLUMN started timestamptz, ADD COLUMN asked timestamptz, ADD COLUMN approved_by text;
ALTER TABLE escalator_state ADD COLUMN automated boolean NOT NULL DEFAULT false;
CREATE TABLE escalator_action_runs (
	action   text NOT NULL,
	started  timestamptz NOT NULL,
	target   text NOT NULL,
	incident text NOT NULL,
	run_key  text NOT NULL,
	outcome  text,
	finished timestamptz
);
CREATE INDEX escalator_action_runs_by_time ON escalator_action_runs (action, started);
CREATE TABLE escalator_once (key text PRIMARY KEY, at timestamptz NOT NULL);
`

// migrate brings the schema to the latest version. Two replicas starting
// together both get here; an advisory lock makes the second wait and
// then find nothing to do, instead of failing on a catalog conflict.
func migrate(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(7268430217)`); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS escalator_schema_migrations (
		version integer PRIMARY KEY,
		name    text NOT NULL,
		applied timestamptz NOT NULL DEFAULT now())`); err != nil {
		return err
	}
	var current int
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM escalator_schema_migrations`).Scan(&current); err != nil {
		return err
	}
	latest := migrations[len(migrations)-1].version
	if current > latest {
		return fmt.Errorf("the database's escalator schema is version %d, newer than this escalator knows (%d): upgrade escalator", current, latest)
	}
	for _, m := range migrations {
		if m.version <= current {
			continue
		}
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO escalator_schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
			return fmt.Errorf("recording migration %d: %w", m.version, err)
		}
	}
	return nil
}

const migration1 = `
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

// migration3: escalator_escalations becomes escalator_state, with a row
// for every incident holding all that changes after the opening (status,
// last seen, acknowledgement, resolution, silence) beside the pending
// step. The incident's document is then written once, when it opens:
// a heartbeat, a resolve or an ack rewrites a row of a few dozen bytes
// instead of a JSON document of a kilobyte, whose every new version
// PostgreSQL writes to the WAL and, for a status change, to every index
// of the table; and a delivery reads the state alone, not the document.
// The document's copy of the state is as of the opening; the columns
// overrule it.
const migration3 = `
ALTER TABLE escalator_escalations RENAME TO escalator_state;
ALTER INDEX escalator_escalations_pkey RENAME TO escalator_state_pkey;
ALTER INDEX escalator_escalations_due RENAME TO escalator_state_due;
ALTER TABLE escalator_state
	ADD COLUMN status      text NOT NULL DEFAULT 'open',
	ADD COLUMN severity    text NOT NULL DEFAULT '',
	ADD COLUMN last_seen   timestamptz,
	ADD COLUMN acked_at    timestamptz,
	ADD COLUMN acked_by    text NOT NULL DEFAULT '',
	ADD COLUMN resolved_at timestamptz,
	ADD COLUMN closed_by   text NOT NULL DEFAULT '',
	ADD COLUMN silence_id  text NOT NULL DEFAULT '';
-- Incidents no policy escalated had no row.
INSERT INTO escalator_state (incident, policy, opened_at)
	SELECT id, '', opened_at FROM escalator_incidents i
	WHERE NOT EXISTS (SELECT 1 FROM escalator_state s WHERE s.incident = i.id);
-- Times the documents of old releases wrote as Go's zero time are none.
UPDATE escalator_state s SET status = i.status, severity = i.severity,
	last_seen = coalesce(nullif((i.data->>'lastSeen')::timestamptz, '0001-01-01Z'), i.opened_at),
	acked_at = nullif((i.data->>'ackedAt')::timestamptz, '0001-01-01Z'),
	acked_by = coalesce(i.data->>'ackedBy', ''),
	resolved_at = nullif((i.data->>'resolvedAt')::timestamptz, '0001-01-01Z'),
	closed_by = coalesce(i.data->>'closedBy', ''),
	silence_id = coalesce(i.data->>'silenceId', '')
	FROM escalator_incidents i WHERE i.id = s.incident;
ALTER TABLE escalator_state ALTER COLUMN last_seen SET NOT NULL;
CREATE INDEX escalator_state_recent ON escalator_state ((status = 'resolved'), opened_at DESC);
DROP INDEX IF EXISTS escalator_incidents_recent;
ALTER TABLE escalator_incidents DROP COLUMN status, DROP COLUMN severity;
`
