package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// PgBouncer exports one PgBouncer from its admin console (the database
// "pgbouncer"): pools, waiting clients, server connections by state,
// per-database limits, the SHOW STATS totals and the pool settings.
//
// The console speaks only the simple query protocol and its column sets
// change between versions (Debian 12 has 1.18), so every SHOW is read by
// column name as text: unknown columns are ignored, missing ones skipped.
type PgBouncer struct {
	pool   *pgxpool.Pool
	opts   PgBouncerOptions
	logger *slog.Logger

	scrapes // Collect and Within: one scrape at a time, since the logged error keeps state
	errors  float64
	lastErr string // the failure last logged, "" once a scrape succeeds
}

// PgBouncerOptions tune a PgBouncer collector.
type PgBouncerOptions struct {
	// Timeout bounds a whole scrape: connecting and every SHOW.
	Timeout time.Duration
}

// NewPgBouncer builds a collector on pool, whose DSN names the admin
// console (dbname=pgbouncer) as a user in admin_users or stats_users. The
// pool is owned by the caller.
func NewPgBouncer(pool *pgxpool.Pool, opts PgBouncerOptions, logger *slog.Logger) *PgBouncer {
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	b := &PgBouncer{pool: pool, opts: opts, logger: logger}
	b.scrapes = newScrapes(opts.Timeout, bouncerUpDesc, b.Describe, b.run)
	return b
}

// bouncerDescs are the pgha_pgbouncer_* descriptors. They are declared in
// the package's set too (newDesc), so the mixin's check knows them; the
// PostgreSQL Collector therefore describes them as well, and the two
// collectors go into separate registries.
var bouncerDescs []*prometheus.Desc

func bouncerDesc(name, help string, labels ...string) *prometheus.Desc {
	d := newDesc("pgbouncer_"+name, help, labels...)
	bouncerDescs = append(bouncerDescs, d)
	return d
}

var (
	bouncerUpDesc       = bouncerDesc("up", "Whether the last scrape of PgBouncer's admin console succeeded (1) or not (0); on 0 no other PgBouncer series is exported.")
	bouncerDurationDesc = bouncerDesc("scrape_duration_seconds", "Time the last scrape of PgBouncer took.")
	bouncerErrorsDesc   = bouncerDesc("scrape_errors_total", "Failed scrapes of PgBouncer.")
	bouncerVersionDesc  = bouncerDesc("version_info", "PgBouncer's version (SHOW VERSION).", "version")

	poolClientsDesc = bouncerDesc("pool_client_connections", "Client connections of a pool by state (SHOW POOLS cl_*): waiting clients have sent a query and wait for a server connection.", "database", "user", "state")
	poolServersDesc = bouncerDesc("pool_server_connections", "Server connections of a pool by state (SHOW POOLS sv_*).", "database", "user", "state")
	poolMaxWaitDesc = bouncerDesc("pool_max_wait_seconds", "How long the oldest waiting client of a pool has waited (SHOW POOLS maxwait + maxwait_us); 0 when none waits.", "database", "user")
	poolSizeDesc    = bouncerDesc("pool_size", "Server connections a pool may open, as PgBouncer decides it: its user's pool_size ([users], read from PgBouncer 1.25), else its database's, else default_pool_size.", "database", "user")

	dbInfoDesc = bouncerDesc("database_info", "A database entry of PgBouncer (SHOW DATABASES) and where it points; pool_mode is the effective one.", "database", "host", "port", "backend_database", "force_user", "pool_mode")

	clientConnsDesc = bouncerDesc("client_connections", "Client connections PgBouncer holds, login and admin console included (SHOW LISTS used_clients); compare with pgha_pgbouncer_config_max_client_connections.")
	serverConnsDesc = bouncerDesc("server_connections", "Server connections PgBouncer holds (SHOW LISTS used_servers).")
	listItemsDesc   = bouncerDesc("list_items", "SHOW LISTS as it is: counts of databases, users, pools, cached free and used client and server objects, DNS entries.", "list")
)

// column maps one numeric column of a SHOW to a metric.
type column struct {
	name  string
	desc  *prometheus.Desc
	typ   prometheus.ValueType
	scale float64 // PgBouncer's times are microseconds
}

var dbColumns = []column{
	{"pool_size", bouncerDesc("database_pool_size", "Server connections each pool of this database may open (SHOW DATABASES pool_size).", "database"), prometheus.GaugeValue, 1},
	{"min_pool_size", bouncerDesc("database_min_pool_size", "Server connections kept open per pool of this database.", "database"), prometheus.GaugeValue, 1},
	{"reserve_pool", dbReserveDesc, prometheus.GaugeValue, 1},
	{"reserve_pool_size", dbReserveDesc, prometheus.GaugeValue, 1}, // its name since 1.24
	{"max_connections", bouncerDesc("database_max_connections", "Most server connections to this database over all its pools; 0 is no limit.", "database"), prometheus.GaugeValue, 1},
	{"current_connections", bouncerDesc("database_current_connections", "Server connections to this database over all its pools.", "database"), prometheus.GaugeValue, 1},
	{"max_client_connections", bouncerDesc("database_max_client_connections", "Most client connections to this database; 0 is no limit (PgBouncer 1.24 and later).", "database"), prometheus.GaugeValue, 1},
	{"current_client_connections", bouncerDesc("database_current_client_connections", "Client connections to this database (PgBouncer 1.24 and later).", "database"), prometheus.GaugeValue, 1},
	{"paused", bouncerDesc("database_paused", "1 when the database is paused (PAUSE).", "database"), prometheus.GaugeValue, 1},
	{"disabled", bouncerDesc("database_disabled", "1 when the database is disabled (DISABLE): new clients are refused.", "database"), prometheus.GaugeValue, 1},
}

var dbReserveDesc = bouncerDesc("database_reserve_pool", "Extra server connections a pool of this database may open when clients wait longer than reserve_pool_timeout (SHOW DATABASES reserve_pool, reserve_pool_size since 1.24).", "database")

// userColumns are SHOW USERS' limits, PgBouncer 1.22 and later; an unset
// pool_size is an empty text there, so no series.
var userColumns = []column{
	{"pool_size", bouncerDesc("user_pool_size", "pool_size of a user ([users]): server connections each of its pools may open, before its database's pool_size (read from PgBouncer 1.25: 1.23 and 1.24 misreport it).", "user"), prometheus.GaugeValue, 1},
	{"max_user_connections", bouncerDesc("user_max_connections", "Most server connections of a user over all its pools; 0 is no limit (SHOW USERS, PgBouncer 1.22 and later).", "user"), prometheus.GaugeValue, 1},
	{"current_connections", bouncerDesc("user_current_connections", "Server connections of a user over all its pools (SHOW USERS, PgBouncer 1.22 and later).", "user"), prometheus.GaugeValue, 1},
}

// statsQueries is total_requests, PgBouncer's name for total_query_count before 1.8.
var statsQueries = bouncerDesc("stats_queries_total", "SQL queries pooled (SHOW STATS total_query_count).", "database")

var statsColumns = []column{
	{"total_xact_count", bouncerDesc("stats_transactions_total", "SQL transactions pooled (SHOW STATS total_xact_count).", "database"), prometheus.CounterValue, 1},
	{"total_query_count", statsQueries, prometheus.CounterValue, 1},
	{"total_received", bouncerDesc("stats_received_bytes_total", "Bytes received from clients.", "database"), prometheus.CounterValue, 1},
	{"total_sent", bouncerDesc("stats_sent_bytes_total", "Bytes sent to clients.", "database"), prometheus.CounterValue, 1},
	{"total_xact_time", bouncerDesc("stats_transaction_seconds_total", "Time spent connected to PostgreSQL in a transaction, idle in transaction included.", "database"), prometheus.CounterValue, 1e-6},
	{"total_query_time", bouncerDesc("stats_query_seconds_total", "Time spent connected to PostgreSQL running queries.", "database"), prometheus.CounterValue, 1e-6},
	{"total_wait_time", bouncerDesc("stats_client_wait_seconds_total", "Time clients spent waiting for a server connection.", "database"), prometheus.CounterValue, 1e-6},
	{"total_server_assignment_count", bouncerDesc("stats_server_assignments_total", "Times a server connection was assigned to a client (PgBouncer 1.23 and later).", "database"), prometheus.CounterValue, 1},
	{"total_client_parse_count", bouncerDesc("stats_client_parses_total", "Prepared statements created by clients (PgBouncer 1.21 and later).", "database"), prometheus.CounterValue, 1},
	{"total_server_parse_count", bouncerDesc("stats_server_parses_total", "Prepared statements PgBouncer created on servers (PgBouncer 1.21 and later).", "database"), prometheus.CounterValue, 1},
	{"total_bind_count", bouncerDesc("stats_binds_total", "Prepared statements readied for execution (PgBouncer 1.21 and later).", "database"), prometheus.CounterValue, 1},
}

var configColumns = []column{
	{"max_client_conn", bouncerDesc("config_max_client_connections", "max_client_conn: most client connections PgBouncer accepts."), prometheus.GaugeValue, 1},
	{"default_pool_size", bouncerDesc("config_default_pool_size", "default_pool_size: server connections per pool unless the database sets its own."), prometheus.GaugeValue, 1},
	{"min_pool_size", bouncerDesc("config_min_pool_size", "min_pool_size."), prometheus.GaugeValue, 1},
	{"reserve_pool_size", bouncerDesc("config_reserve_pool_size", "reserve_pool_size."), prometheus.GaugeValue, 1},
	{"reserve_pool_timeout", bouncerDesc("config_reserve_pool_timeout_seconds", "reserve_pool_timeout: how long a client waits before the reserve pool is used."), prometheus.GaugeValue, 1},
	{"max_db_connections", bouncerDesc("config_max_db_connections", "max_db_connections: most server connections per database; 0 is no limit."), prometheus.GaugeValue, 1},
	{"max_user_connections", bouncerDesc("config_max_user_connections", "max_user_connections: most server connections per user; 0 is no limit."), prometheus.GaugeValue, 1},
	{"query_wait_timeout", bouncerDesc("config_query_wait_timeout_seconds", "query_wait_timeout: a client waiting longer is disconnected; 0 is never."), prometheus.GaugeValue, 1},
}

// Describe sends the pgha_pgbouncer_* descriptors.
func (b *PgBouncer) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range bouncerDescs {
		ch <- d
	}
}

// Collect scrapes PgBouncer under the deadline. A scrape is all or
// nothing: should any SHOW fail, only up, the duration and the error
// count are sent, so no series outlives the PgBouncer it describes.
// Collect and Within come from scrapes (deadline.go); run holds the turn.
func (b *PgBouncer) run(ctx context.Context, start time.Time, ch chan<- prometheus.Metric) {
	up := 0.0
	if sh, err := b.scrape(ctx); err != nil {
		b.errors++
		b.logFailure(err)
	} else {
		up = 1
		if b.lastErr != "" {
			b.logger.Info("PgBouncer scrape succeeds again")
			b.lastErr = ""
		}
		for _, m := range sh.metrics() {
			ch <- m
		}
	}
	gauge(ch, bouncerUpDesc, up)
	gauge(ch, bouncerDurationDesc, time.Since(start).Seconds())
	counter(ch, bouncerErrorsDesc, b.errors)
}

// logFailure logs a failure once, not on every scrape while PgBouncer
// stays down: again only when the error changes or after a success.
func (b *PgBouncer) logFailure(err error) {
	if msg := err.Error(); msg != b.lastErr {
		b.lastErr = msg
		b.logger.Error("PgBouncer scrape failed (logged again when the error changes)", "err", err)
		return
	}
	b.logger.Debug("PgBouncer scrape failed", "err", err)
}

// row is one row of a SHOW: column name to its text; NULL columns absent.
type row map[string]string

// show is what one scrape read.
type show struct {
	pools, stats, databases, users, config, lists, version []row
}

func (b *PgBouncer) scrape(ctx context.Context) (*show, error) {
	sh, err := b.scrapeOnce(ctx)
	// A connection kept from an earlier scrape is dead once PgBouncer has
	// restarted or stopped: it was closed and is gone from the pool, so a
	// new one says whether PgBouncer answers now (and the error is the
	// real one, not "conn closed").
	var stale *staleConnError
	if errors.As(err, &stale) && ctx.Err() == nil {
		sh, err = b.scrapeOnce(ctx)
	}
	return sh, err
}

// staleConnError is a SHOW that failed because its connection closed.
type staleConnError struct{ err error }

func (e *staleConnError) Error() string { return e.err.Error() }
func (e *staleConnError) Unwrap() error { return e.err }

func (b *PgBouncer) scrapeOnce(ctx context.Context) (*show, error) {
	conn, err := b.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("connecting to the admin console: %w", bouncerLoginHint(err))
	}
	defer conn.Release()
	if !isConsole(conn.Conn().PgConn()) {
		return nil, notConsole(conn.Conn().PgConn())
	}
	sh := &show{}
	for _, c := range []struct {
		what string
		dst  *[]row
	}{
		{"POOLS", &sh.pools}, {"STATS", &sh.stats}, {"DATABASES", &sh.databases},
		{"USERS", &sh.users}, {"CONFIG", &sh.config}, {"LISTS", &sh.lists}, {"VERSION", &sh.version},
	} {
		if *c.dst, err = showRows(ctx, conn.Conn(), c.what); err != nil {
			if conn.Conn().IsClosed() {
				return nil, &staleConnError{err}
			}
			return nil, err
		}
	}
	return sh, nil
}

func showRows(ctx context.Context, conn *pgx.Conn, what string) ([]row, error) {
	// The mode is given here too, whatever the pool's configuration: the
	// console rejects the extended protocol's Parse.
	rows, err := conn.Query(ctx, "SHOW "+what, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		return nil, fmt.Errorf("SHOW %s: %w", what, err)
	}
	defer rows.Close()
	var out []row
	for rows.Next() {
		fields, raw := rows.FieldDescriptions(), rows.RawValues()
		r := make(row, len(fields))
		for i, f := range fields {
			if i < len(raw) && raw[i] != nil {
				r[f.Name] = string(raw[i])
			}
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("SHOW %s: %w", what, err)
	}
	return out, nil
}

// num reads a numeric column; false when it is missing or not a number.
func (r row) num(col string) (float64, bool) {
	s, ok := r[col]
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return v, err == nil
}

// label makes a database or user name a valid label value: Prometheus
// takes only UTF-8, PgBouncer's names are bytes.
func (r row) label(col string) string { return strings.ToValidUTF8(r[col], "\uFFFD") }

// emitter gathers a scrape's metrics, keeping the first of duplicate
// series (two names that differ only in invalid bytes, say) so that the
// registry never rejects the whole scrape.
type emitter struct {
	out  []prometheus.Metric
	seen map[string]bool
}

func (e *emitter) add(d *prometheus.Desc, typ prometheus.ValueType, v float64, labels ...string) {
	key := d.String() + "\xff" + strings.Join(labels, "\xff")
	if e.seen[key] {
		return
	}
	m, err := prometheus.NewConstMetric(d, typ, v, labels...)
	if err != nil {
		return // cannot happen with valid UTF-8 labels; never fail a scrape over it
	}
	e.seen[key] = true
	e.out = append(e.out, m)
}

func (e *emitter) columns(r row, cols []column, labels ...string) {
	for _, c := range cols {
		if v, ok := r.num(c.name); ok {
			e.add(c.desc, c.typ, v*c.scale, labels...)
		}
	}
}

// versionAtLeast says whether SHOW VERSION names major.minor or later.
func (sh *show) versionAtLeast(major, minor int) bool {
	for _, r := range sh.version {
		var ma, mi int
		if _, err := fmt.Sscanf(r["version"], "PgBouncer %d.%d", &ma, &mi); err == nil {
			return ma > major || ma == major && mi >= minor
		}
	}
	return false
}

// metrics turns what the console said into series.
func (sh *show) metrics() []prometheus.Metric {
	e := &emitter{seen: map[string]bool{}}
	conf := row{}
	for _, r := range sh.config {
		conf[r["key"]] = r["value"]
	}
	e.columns(conf, configColumns)

	dbPoolSize := map[string]float64{}
	for _, r := range sh.databases {
		name := r.label("name")
		if v, ok := r.num("pool_size"); ok {
			dbPoolSize[name] = v
		}
		mode := r["pool_mode"]
		if mode == "" {
			mode = conf["pool_mode"] // the database follows the default
		}
		e.add(dbInfoDesc, prometheus.GaugeValue, 1, name, r.label("host"), r.label("port"), r.label("database"), r.label("force_user"), strings.ToValidUTF8(mode, "\uFFFD"))
		e.columns(r, dbColumns, name)
	}

	// PgBouncer 1.23 and 1.24 repeat a user's pool_size on every user
	// SHOW USERS lists after it (pgbouncer#1323): taken from 1.25 on.
	userPoolSize := map[string]float64{}
	trustUserSize, cols := sh.versionAtLeast(1, 25), userColumns
	if !trustUserSize {
		cols = userColumns[1:] // pool_size is the first
	}
	for _, r := range sh.users {
		name := r.label("name")
		if v, ok := r.num("pool_size"); ok && trustUserSize {
			userPoolSize[name] = v
		}
		e.columns(r, cols, name)
	}

	defaultPoolSize, hasDefault := conf.num("default_pool_size")
	for _, r := range sh.pools {
		db, user := r.label("database"), r.label("user")
		// Every cl_* and sv_* column is a count of connections in a state;
		// the set differs between versions (cl_cancel_req in 1.16, the
		// cancel columns split in 1.18), so take them as they come.
		for col := range r {
			state, client := strings.CutPrefix(col, "cl_")
			desc := poolClientsDesc
			if !client {
				var server bool
				if state, server = strings.CutPrefix(col, "sv_"); !server {
					continue
				}
				desc = poolServersDesc
			}
			if v, ok := r.num(col); ok {
				e.add(desc, prometheus.GaugeValue, v, db, user, strings.ToValidUTF8(state, "\uFFFD"))
			}
		}
		if s, ok := r.num("maxwait"); ok {
			us, _ := r.num("maxwait_us") // the microseconds part, since 1.8
			e.add(poolMaxWaitDesc, prometheus.GaugeValue, s+us/1e6, db, user)
		}
		// PgBouncer's own order: the user's pool_size, the database's
		// (SHOW DATABASES shows its effective size), default_pool_size.
		if v, ok := r.num("pool_size"); ok {
			e.add(poolSizeDesc, prometheus.GaugeValue, v, db, user)
		} else if v, ok := userPoolSize[user]; ok {
			e.add(poolSizeDesc, prometheus.GaugeValue, v, db, user)
		} else if v, ok := dbPoolSize[db]; ok {
			e.add(poolSizeDesc, prometheus.GaugeValue, v, db, user)
		} else if hasDefault {
			e.add(poolSizeDesc, prometheus.GaugeValue, defaultPoolSize, db, user)
		}
	}

	for _, r := range sh.stats {
		db := r.label("database")
		e.columns(r, statsColumns, db)
		if _, ok := r["total_query_count"]; !ok {
			if v, ok := r.num("total_requests"); ok {
				e.add(statsQueries, prometheus.CounterValue, v, db)
			}
		}
	}

	for _, r := range sh.lists {
		v, ok := r.num("items")
		if !ok {
			continue
		}
		switch r["list"] {
		case "used_clients":
			e.add(clientConnsDesc, prometheus.GaugeValue, v)
		case "used_servers":
			e.add(serverConnsDesc, prometheus.GaugeValue, v)
		}
		e.add(listItemsDesc, prometheus.GaugeValue, v, r.label("list"))
	}

	for _, r := range sh.version {
		if v, ok := r["version"]; ok {
			e.add(bouncerVersionDesc, prometheus.GaugeValue, 1, strings.ToValidUTF8(strings.TrimPrefix(v, "PgBouncer "), "\uFFFD"))
		}
	}
	return e.out
}
