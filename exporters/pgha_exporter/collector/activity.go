package collector

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

var (
	connectionsDesc     = newDesc("connections", "Client connections by state (pg_stat_activity, client backends only).", "state")
	queriesLongerDesc   = newDesc("queries_running_longer_than", "Active queries running longer than threshold_seconds (the exporter's own query excluded).", "threshold_seconds")
	transactionsLonger  = newDesc("transactions_running_longer_than", "Open transactions, active or idle in transaction, older than threshold_seconds.", "threshold_seconds")
	longestQueryDesc    = newDesc("longest_query_seconds", "Run time of the longest active query; 0 when none.")
	longestTransactDesc = newDesc("longest_transaction_seconds", "Age of the oldest open transaction; 0 when none.")
)

// connectionStates are always exported, 0 when empty, so that ratios and
// alerts never see a missing series.
var connectionStates = []string{"active", "idle", "idle_in_transaction", "idle_in_transaction_aborted", "fastpath_function_call", "disabled"}

// activitySessions is every client session's state, query start,
// transaction start and pid, read in one pass over the server's backend
// status array. %s is replaced by whether the exact states were asked for.
//
// pg_stat_activity costs the server O(n²) for n backends: for each row,
// pg_stat_get_activity looks the backend's PGPROC up by pid with a linear
// walk of the proc array (BackendPidGetProc), to read its wait event. At
// 2,000 connections that was 7.9 of a scrape's 8.8 ms of server CPU. The
// per-backend accessors (pg_stat_get_backend_*) read the same snapshot
// without that walk. They give no state, but a client session without a
// transaction start is between transactions (every statement runs in one)
// and is counted idle; the view is asked, pid by pid, only for the
// sessions inside a transaction other than this one — few, however many
// are connected. A client session is one with a client address or port
// (background workers and auxiliary processes have none); WAL senders,
// which have one, are taken off the idle count.
//
// The price: a session left in a failed transaction block has no
// transaction start either (the abort clears it), so it counts as idle,
// not idle_in_transaction_aborted. Options.ExactStates reads the view
// instead. The view is also read when the role cannot read every
// session's figures (pg_read_all_stats, part of pg_monitor) or
// track_activities is off (states are "disabled"); the gate is a one-time
// filter, so the branch not taken does not run.
//
// The backends are walked once (scan): each client session costs two
// accessor calls, its port and its transaction start, and only those in a
// transaction are kept, as an array, for the view. Walked twice (once
// to count the idle, once for the others, with their pid), the walk was
// most of what a scrape's cost grew by with the connections.
const activitySessions = `
WITH fast AS MATERIALIZED (
  SELECT NOT %s AND pg_has_role('pg_read_all_stats', 'USAGE') AND current_setting('track_activities')::bool AS ok
), scan AS MATERIALIZED (
  SELECT count(*) FILTER (WHERE c.xact_start IS NULL) AS idle, array_agg(c.id) FILTER (WHERE c.xact_start IS NOT NULL) AS busy
  FROM (SELECT b.id, pg_stat_get_backend_xact_start(b.id) AS xact_start FROM pg_stat_get_backend_idset() AS b(id)
        WHERE (SELECT ok FROM fast) AND pg_stat_get_backend_client_port(b.id) IS NOT NULL) AS c
), sessions AS (
  SELECT 'idle'::text AS state,
    (SELECT idle FROM scan) -
    (SELECT count(*) FROM pg_stat_get_wal_senders() AS w CROSS JOIN LATERAL pg_stat_get_activity(w.pid) AS a
     WHERE a.xact_start IS NULL AND a.client_port IS NOT NULL) AS n,
    NULL::timestamptz AS query_start, NULL::timestamptz AS xact_start, 0 AS pid
  WHERE (SELECT ok FROM fast)
  UNION ALL
  SELECT 'active', 1, now(), now(), pg_backend_pid() WHERE (SELECT ok FROM fast)
  UNION ALL
  SELECT a.state, 1, a.query_start, a.xact_start, a.pid
  FROM unnest((SELECT busy FROM scan)) AS b(id) CROSS JOIN LATERAL pg_stat_get_activity(pg_stat_get_backend_pid(b.id)) AS a
  WHERE pg_stat_get_backend_pid(b.id) IS NOT NULL AND a.pid <> pg_backend_pid() AND a.backend_type = 'client backend'
  UNION ALL
  SELECT state, 1, query_start, xact_start, pid
  FROM pg_stat_activity WHERE backend_type = 'client backend' AND NOT (SELECT ok FROM fast)
)`

// activityConcern reads pg_stat_activity once for connection counts and
// long-running queries and transactions.
type activityConcern struct {
	thresholds []float64
	labels     []string
	query      string
}

func newActivityConcern(thresholds []float64, exactStates bool) *activityConcern {
	k := &activityConcern{thresholds: thresholds}
	var q strings.Builder
	fmt.Fprintf(&q, activitySessions, strconv.FormatBool(exactStates))
	q.WriteString(`
SELECT
  coalesce(state, 'unknown'),
  sum(n)::float8,
  coalesce(max(extract(epoch FROM now() - query_start)) FILTER (WHERE state = 'active' AND pid <> pg_backend_pid()), 0)::float8,
  coalesce(max(extract(epoch FROM now() - xact_start)) FILTER (WHERE pid <> pg_backend_pid()), 0)::float8`)
	for i := range thresholds {
		fmt.Fprintf(&q, `,
  count(*) FILTER (WHERE state = 'active' AND pid <> pg_backend_pid() AND query_start < now() - make_interval(secs => $%d))::float8`, i+1)
	}
	for i := range thresholds {
		fmt.Fprintf(&q, `,
  count(*) FILTER (WHERE pid <> pg_backend_pid() AND xact_start < now() - make_interval(secs => $%d))::float8`, i+1)
	}
	q.WriteString(`
FROM sessions
GROUP BY 1`)
	k.query = q.String()
	for _, t := range thresholds {
		k.labels = append(k.labels, strconv.FormatFloat(t, 'g', -1, 64))
	}
	return k
}

func (*activityConcern) name() string { return "activity" }

// stateLabel turns "idle in transaction (aborted)" into idle_in_transaction_aborted.
func stateLabel(s string) string {
	s = strings.NewReplacer(" ", "_", "(", "", ")", "").Replace(s)
	return strings.Trim(s, "_")
}

func (k *activityConcern) statement() (string, []any) {
	args := make([]any, len(k.thresholds))
	for i, t := range k.thresholds {
		args[i] = t
	}
	return k.query, args
}

func (k *activityConcern) collect(s *scrape, rows pgx.Rows) error {
	byState := map[string]float64{}
	var longestQuery, longestXact float64
	queries := make([]float64, len(k.thresholds))
	xacts := make([]float64, len(k.thresholds))
	for rows.Next() {
		var state string
		var n, lq, lx float64
		qs := make([]float64, len(k.thresholds))
		xs := make([]float64, len(k.thresholds))
		dest := []any{&state, &n, &lq, &lx}
		for i := range qs {
			dest = append(dest, &qs[i])
		}
		for i := range xs {
			dest = append(dest, &xs[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("pg_stat_activity: %w", err)
		}
		byState[stateLabel(state)] += n
		longestQuery = max(longestQuery, lq)
		longestXact = max(longestXact, lx)
		for i := range qs {
			queries[i] += qs[i]
			xacts[i] += xs[i]
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("pg_stat_activity: %w", err)
	}
	for _, st := range connectionStates {
		gauge(s.ch, connectionsDesc, byState[st], st)
		delete(byState, st)
	}
	for st, n := range byState { // states of newer servers, and "unknown"
		gauge(s.ch, connectionsDesc, n, st)
	}
	for i, l := range k.labels {
		gauge(s.ch, queriesLongerDesc, queries[i], l)
		gauge(s.ch, transactionsLonger, xacts[i], l)
	}
	gauge(s.ch, longestQueryDesc, longestQuery)
	gauge(s.ch, longestTransactDesc, longestXact)
	return nil
}
