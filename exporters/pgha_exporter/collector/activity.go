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

// activityConcern reads pg_stat_activity once for connection counts and
// long-running queries and transactions.
type activityConcern struct {
	thresholds []float64
	labels     []string
	query      string
}

func newActivityConcern(thresholds []float64) *activityConcern {
	k := &activityConcern{thresholds: thresholds}
	var q strings.Builder
	q.WriteString(`
SELECT
  coalesce(state, 'unknown'),
  count(*)::float8,
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
FROM pg_stat_activity
WHERE backend_type = 'client backend'
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
