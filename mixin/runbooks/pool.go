package runbooks

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/hotel-ops/hotel-ops/mixin/dashboards"
	"github.com/hotel-ops/hotel-ops/mixin/rules"
	"github.com/hotel-ops/hotel-ops/mixin/spec"
)

// The connection pool (データベース問題 / 接続プール状況確認, 接続プール調整):
// the figures pgha_exporter reads from PgBouncer, where the database
// dashboard shows them, and what to do about each. The flow of the
// database category carries the overview; each PgBouncer alert its own
// steps.

// poolAnchor is the overview's anchor, inside the database flow.
const poolAnchor = "connection-pool"

// poolCategory is the category whose flow holds the overview: the
// PostgreSQL and PgBouncer alerts'.
const poolCategory = "database"

// console is how an operator reaches PgBouncer's admin console.
const console = `psql "host=<pgbouncer host> port=6432 dbname=pgbouncer user=<admin_users or stats_users>"`

// longTransactions lists the oldest open transactions on PostgreSQL:
// in transaction pooling a server connection is held for its client's
// whole transaction, idle in transaction included.
const longTransactions = `SELECT pid, usename, application_name, client_addr, state, now() - xact_start AS xact_age, left(query, 80) AS query
  FROM pg_stat_activity WHERE backend_type = 'client backend' AND xact_start IS NOT NULL
  ORDER BY xact_start LIMIT 20;`

// panel names a panel of the database dashboard's PgBouncer row, with
// the metric it reads.
func panel(title, metric string) string {
	return fmt.Sprintf("*%s* (`%s`)", title, metric)
}

// dashboardLink is the database dashboard.
func dashboardLink(s *spec.Spec) string {
	return fmt.Sprintf("[database dashboard](%s/d/%s)", strings.TrimRight(s.Links.Grafana, "/"), rules.DashDatabase)
}

// poolLink is appended to the flow's connection pool step.
func poolLink(step string) string {
	if strings.Contains(step, "接続プール") {
		return fmt.Sprintf(" — PgBouncer's figures and what to do: [Connection pool](#%s)", poolAnchor)
	}
	return ""
}

// connectionPool writes the overview of the connection pool steps.
func connectionPool(b *bytes.Buffer, s *spec.Spec, alerts map[string]bool) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	th := s.Thresholds
	ref := func(name string) string {
		if alerts[name] {
			return link(name)
		}
		return name + " (disabled)"
	}
	p("\n<a id=\"%s\"></a>\n\n### Connection pool (接続プール状況確認 / 接続プール調整)\n\n", poolAnchor)
	p("Clients reach PostgreSQL through PgBouncer, and meet three limits on the way: PgBouncer's `max_client_conn`, each pool's `pool_size` (a pool is one database/user pair; `reserve_pool` more while clients wait longer than `reserve_pool_timeout`), and PostgreSQL's `max_connections`. ")
	p("pgha_exporter reads PgBouncer's admin console (`SHOW POOLS`, `SHOW STATS`, `SHOW DATABASES`, `SHOW CONFIG`, `SHOW LISTS`); the figures are on the *%s* row of the %s. In order:\n\n", dashboards.PgBouncerRow, dashboardLink(s))
	p("1. **Is PgBouncer answering?** %s: DOWN is %s. Every other PgBouncer figure is missing while it is down.\n", panel(dashboards.PanelPgBouncerUp, "pgha_pgbouncer_up"), ref("PgBouncerDown"))
	p("2. **Do clients wait?** %s and %s, per pool. Waiting clients have sent a query and no server connection of their pool is free; %s fires from %s, %s from %s. %s shows the wait summed per database.\n",
		panel(dashboards.PanelPoolClients, `pgha_pgbouncer_pool_client_connections{state="waiting"}`),
		panel(dashboards.PanelPoolMaxWait, "pgha_pgbouncer_pool_max_wait_seconds"),
		ref("PgBouncerPoolWaitHigh"), th["pgbouncer_wait"].Warning.Human(), ref("PgBouncerPoolWaitCritical"), th["pgbouncer_wait"].Critical.Human(),
		panel(dashboards.PanelPoolWaitTime, "rate(pgha_pgbouncer_stats_client_wait_seconds_total)"))
	p("3. **Is the pool full?** %s (by state, against `pool_size`) and %s: %s from %s, %s from %s. `active` servers are held by a client; `idle` and `used` ones are free.\n",
		panel(dashboards.PanelPoolServers, "pgha_pgbouncer_pool_server_connections, pgha_pgbouncer_pool_size"),
		panel(dashboards.PanelPoolUse, "in use / pgha_pgbouncer_pool_size"),
		ref("PgBouncerPoolHigh"), th["pgbouncer_pool"].Warning.Human(), ref("PgBouncerPoolCritical"), th["pgbouncer_pool"].Critical.Human())
	p("   - Full, and clients wait: find what holds the servers. In transaction pooling a server is held for its client's whole transaction, idle in transaction too: the long transactions (`pgha_longest_transaction_seconds`, `pgha_transactions_running_longer_than`, the *Slow queries* panel), on the primary:\n\n")
	p("     ```sql\n     %s\n     ```\n\n", strings.ReplaceAll(longTransactions, "\n", "\n     "))
	p("     End or fix the client that holds them (`SELECT pg_terminate_backend(<pid>)` for one stuck session). In session pooling a server is held while its client stays connected: `SHOW CLIENTS` in the console.\n")
	p("   - Full, and the load is real: raise the pool's `pool_size` (where it comes from, in PgBouncer's order: its user's entry under `[users]` (1.23 and later), its database's under `[databases]`, else `default_pool_size`), or give it a `reserve_pool` / `reserve_pool_size` with a short `reserve_pool_timeout`, then `RELOAD` in the console (no client is dropped). Keep the sum of the pools' sizes over every PgBouncer below PostgreSQL's `max_connections` at the spec's %s (%s).\n",
		th["db_connections"].Warning.Human(), ref("PostgresConnectionsHigh"))
	p("   - Not full, yet clients wait: PgBouncer cannot open servers. Check PostgreSQL (%s, %s), %s (a `max_db_connections` reached), a paused database (`pgha_pgbouncer_database_paused`: `RESUME <db>` in the console) and PgBouncer's log for login errors.\n",
		ref("PostgresDown"), ref("PostgresConnectionsCritical"),
		panel(dashboards.PanelBouncerDatabases, "pgha_pgbouncer_database_current_connections, pgha_pgbouncer_database_max_connections"))
	p("4. **Are clients refused?** %s and %s: %s from %s, %s from %s; at `max_client_conn` new clients are refused (`no more connections allowed`).\n",
		panel(dashboards.PanelBouncerClients, "pgha_pgbouncer_client_connections, pgha_pgbouncer_config_max_client_connections"),
		panel(dashboards.PanelBouncerClientUse, "pgha_pgbouncer_client_connections / pgha_pgbouncer_config_max_client_connections"),
		ref("PgBouncerClientConnectionsHigh"), th["pgbouncer_clients"].Warning.Human(), ref("PgBouncerClientConnectionsCritical"), th["pgbouncer_clients"].Critical.Human())
	p("\nThe console: `%s`, then `SHOW POOLS;`, `SHOW CLIENTS;`, `SHOW SERVERS;`. The PostgreSQL side of the pool (connections by state against `max_connections`) is the *Connections* panels above it; the automatic `connection_pool_reset` of %s ends idle PostgreSQL sessions, not PgBouncer's.\n",
		console, ref("PostgresConnectionsCritical"))
}

// poolSteps are the PgBouncer alerts' own steps.
func poolSteps(s *spec.Spec, alert string) []string {
	th := s.Thresholds
	overview := fmt.Sprintf("[Connection pool](#%s)", poolAnchor)
	switch alert {
	case "PgBouncerDown":
		return []string{
			fmt.Sprintf("The %s, %s. With no `pgha_pgbouncer_up` at all, Prometheus cannot scrape pgha_exporter for this target (its `up` is 0: the exporter is down, or the probe timed out) and nothing is known of PgBouncer: bring the exporter back first (if %s fires too, for a PostgreSQL target beside it, follow it). Otherwise pgha_exporter cannot read the admin console, and its log names the error once: connection refused or a timeout is PgBouncer down; a refused password or user (`auth_file`, `stats_users`) is the exporter's account, while PgBouncer may serve clients: fix the account.", dashboardLink(s), panel(dashboards.PanelPgBouncerUp, "pgha_pgbouncer_up"), link("PostgresDown")),
			fmt.Sprintf("From the application's host: `%s -c 'SHOW VERSION'`; on the PgBouncer host `systemctl status pgbouncer` and `journalctl -u pgbouncer` (a configuration error after a change says so: undo the change, 変更管理 / rollback).", console),
			"Restart it: `systemctl restart pgbouncer`. Clients reconnect; their open transactions are rolled back.",
			"If the host is lost or PgBouncer does not start: fail over to the standby PgBouncer (point the application's DNS name or VIP at it) and repair this one afterwards. PostgreSQL needs no failover unless PostgresDown fires too.",
		}
	case "PgBouncerPoolHigh", "PgBouncerPoolCritical":
		return []string{
			fmt.Sprintf("On the %s, %s shows which pool (`database`/`user`), %s by which state. At %s of `pool_size` clients are about to wait: %s.", dashboardLink(s), panel(dashboards.PanelPoolUse, "in use / pgha_pgbouncer_pool_size"), panel(dashboards.PanelPoolServers, "pgha_pgbouncer_pool_server_connections"), th["pgbouncer_pool"].Critical.Human(), panel(dashboards.PanelPoolClients, `pgha_pgbouncer_pool_client_connections{state="waiting"}`)),
			"Find the long transactions holding server connections (step 3 of " + overview + ") and end or fix their client.",
			"If the load is real, raise the pool's `pool_size` or give it a `reserve_pool`, then `RELOAD` in the console; keep the pools' sum below PostgreSQL's `max_connections` (" + link("PostgresConnectionsHigh") + ").",
		}
	case "PgBouncerPoolWaitHigh", "PgBouncerPoolWaitCritical":
		return []string{
			fmt.Sprintf("%s and %s: which pool waits, how many clients, for how long. Past `query_wait_timeout` (`pgha_pgbouncer_config_query_wait_timeout_seconds`) PgBouncer disconnects them: the application sees timeouts (接続問題 / タイムアウトエラー).", panel(dashboards.PanelPoolMaxWait, "pgha_pgbouncer_pool_max_wait_seconds"), panel(dashboards.PanelPoolClients, `pgha_pgbouncer_pool_client_connections{state="waiting"}`)),
			fmt.Sprintf("Is the pool full (%s, %s)? Then find the long transactions holding its servers, and raise `pool_size` / `reserve_pool` if the load is real (step 3 of %s).", panel(dashboards.PanelPoolUse, "in use / pgha_pgbouncer_pool_size"), link("PgBouncerPoolHigh"), overview),
			fmt.Sprintf("Not full: PgBouncer cannot open server connections. Check %s, %s, %s and a paused database (`pgha_pgbouncer_database_paused`).", link("PostgresDown"), link("PostgresConnectionsCritical"), panel(dashboards.PanelBouncerDatabases, "pgha_pgbouncer_database_max_connections")),
		}
	case "PgBouncerClientConnectionsHigh", "PgBouncerClientConnectionsCritical":
		return []string{
			fmt.Sprintf("%s: at `max_client_conn` new clients are refused (`no more connections allowed`).", panel(dashboards.PanelBouncerClients, "pgha_pgbouncer_client_connections, pgha_pgbouncer_config_max_client_connections")),
			fmt.Sprintf("Find who holds them: `SHOW CLIENTS;` in the console (`%s`), counted by `addr` and `application_name`. An application whose own pool grows without bound, or idle clients never closed, is a leak: fix its pool size, or set `client_idle_timeout`.", console),
			"If the load is real, raise `max_client_conn` in pgbouncer.ini and `RELOAD`, with the open file limit of PgBouncer's service (`LimitNOFILE`) above `max_client_conn` plus the pools' server connections: a new limit takes effect only when PgBouncer restarts (with `so_reuseport` and a second process, or in a quiet moment), `RELOAD` does not raise it.",
		}
	}
	return nil
}
