package dashboards

//lint:file-ignore SA1019 The v1 dashboard model is what every Grafana imports; dashboardv2 needs Grafana 12 with a feature flag.

import (
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/hotel-ops/hotel-ops/mixin/rules"
	"github.com/hotel-ops/hotel-ops/mixin/spec"
)

// Titles of the PgBouncer panels of the database dashboard, which the
// runbooks name: the connection pool steps (接続プール状況確認) point at
// them.
const (
	PgBouncerRow          = "PgBouncer connection pools"
	PanelPgBouncerUp      = "PgBouncer up"
	PanelPoolClients      = "Pool clients: active and waiting"
	PanelPoolServers      = "Pool server connections by state vs pool_size"
	PanelPoolUse          = "Pool server connections in use / pool_size"
	PanelPoolMaxWait      = "Pool max wait"
	PanelPoolWaitTime     = "Client wait time per second"
	PanelBouncerClients   = "PgBouncer client connections vs max_client_conn"
	PanelBouncerClientUse = "PgBouncer client connections / max_client_conn"
	PanelBouncerDatabases = "Server connections per database vs max_db_connections"
)

// pgbouncer is the PgBouncer row of the database dashboard, from
// pgha_exporter's PgBouncer collector: whether it answers, each pool's
// clients and server connections against its pool_size, how long clients
// wait for a server, and the client connections against max_client_conn,
// coloured by the levels the PgBouncer alerts use.
func pgbouncer(s *spec.Spec, b *dashboard.DashboardBuilder) *dashboard.DashboardBuilder {
	pg := sel(s, "pgha")
	th := s.Thresholds
	pool := "{{instance}} {{database}}/{{user}}"
	return b.
		WithRow(row(PgBouncerRow)).
		WithPanel(statPanel(PanelPgBouncerUp, "none", 6, q("pgha_pgbouncer_up"+pg, "{{instance}}")).
			Mappings(upDown()).
			GraphMode(common.BigValueGraphModeNone).
			Height(graphHeight).
			Description("Whether pgha_exporter's last scrape read PgBouncer's admin console (pgha_pgbouncer_up); DOWN pages PgBouncerDown. Spec: " + s.Alerts["PgBouncerDown"].Section + ".")).
		WithPanel(timeSeries(PanelPoolClients, "short", 9,
			q(fmt.Sprintf(`sum by (instance, database, user, state) (pgha_pgbouncer_pool_client_connections%s)`, sel(s, "pgha", `state=~"active|waiting"`)), pool+" {{state}}")).
			Description("Client connections of each pool (SHOW POOLS cl_active, cl_waiting): waiting clients have sent a query and no server connection is free for them.")).
		WithPanel(timeSeries(PanelPoolServers, "short", 9,
			q(fmt.Sprintf(`sum by (instance, database, user, state) (pgha_pgbouncer_pool_server_connections%s)`, pg), pool+" {{state}}"),
			q("pgha_pgbouncer_pool_size"+pg, pool+" pool_size")).
			Description("Server connections of each pool by state (SHOW POOLS sv_*), and the pool_size PgBouncer opens at most (plus reserve_pool while clients wait longer than reserve_pool_timeout). idle and used ones are free; active ones are held by a client.")).
		WithPanel(lines(against(timeSeries(PanelPoolUse, "", 8, q(rules.PgBouncerPoolUse(s), pool)), th["pgbouncer_pool"])).
			Description("Share of each pool's pool_size in server connections in use (every state but idle and used), as the PgBouncerPool alerts compute it. Spec: " + th["pgbouncer_pool"].Section + ".")).
		WithPanel(lines(against(timeSeries(PanelPoolMaxWait, "", 8, q("pgha_pgbouncer_pool_max_wait_seconds"+pg, pool)), th["pgbouncer_wait"])).
			Description("How long the oldest waiting client of each pool has waited for a server connection (0 when none waits); the PgBouncerPoolWait alerts fire at the levels while clients wait. Spec: " + th["pgbouncer_wait"].Section + ".")).
		WithPanel(timeSeries(PanelPoolWaitTime, "s", 8,
			q(fmt.Sprintf(`sum by (instance, database) (%s)`, rate("pgha_pgbouncer_stats_client_wait_seconds_total", pg)), "{{instance}} {{database}}")).
			Description("Seconds clients of each database spent waiting for a server connection, per second (SHOW STATS total_wait_time, counted when a waiting client is served): about how many clients wait at any time.")).
		WithPanel(timeSeries(PanelBouncerClients, "short", 8,
			q("pgha_pgbouncer_client_connections"+pg, "{{instance}} clients"),
			q("pgha_pgbouncer_config_max_client_connections"+pg, "{{instance}} max_client_conn")).
			Description("Client connections PgBouncer holds (SHOW LISTS used_clients, the exporter's console session included) and its max_client_conn: beyond it new clients are refused.")).
		WithPanel(lines(against(timeSeries(PanelBouncerClientUse, "", 8, q(rules.PgBouncerClientUse(s), "{{instance}}")), th["pgbouncer_clients"])).
			Description("Share of max_client_conn in use, as the PgBouncerClientConnections alerts compute it. Spec: " + th["pgbouncer_clients"].Section + ".")).
		WithPanel(timeSeries(PanelBouncerDatabases, "short", 8,
			q("pgha_pgbouncer_database_current_connections"+pg, "{{instance}} {{database}}"),
			q(fmt.Sprintf(`pgha_pgbouncer_database_max_connections%s > 0`, pg), "{{instance}} {{database}} max_db_connections")).
			Description("Server connections to each database over all its pools, and its max_db_connections where one is set: a pool under its pool_size whose clients wait may be held back by it."))
}
