package collector

import (
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
)

var (
	connectedStandbysDesc = newDesc("replication_connected_standbys", "Standbys streaming from this instance (pg_stat_replication rows in state streaming).")
	standbyInfoDesc       = newDesc("replication_standby_info", "One series per WAL sender: its standby's state and sync state.", "application_name", "client_addr", "state", "sync_state")
	writeLagDesc          = newDesc("replication_write_lag_seconds", "Time for recent WAL to be written on the standby (pg_stat_replication.write_lag); 0 when caught up.", "application_name", "client_addr")
	flushLagDesc          = newDesc("replication_flush_lag_seconds", "Time for recent WAL to be flushed on the standby (flush_lag); 0 when caught up.", "application_name", "client_addr")
	replayLagDesc         = newDesc("replication_replay_lag_seconds", "Time for recent WAL to be replayed on the standby (replay_lag); 0 when caught up.", "application_name", "client_addr")
	lagBytesDesc          = newDesc("replication_lag_bytes", "WAL not yet replayed on the standby, in bytes.", "application_name", "client_addr")
	lastReplyDesc         = newDesc("replication_last_reply_timestamp_seconds", "When the standby last sent a status reply.", "application_name", "client_addr")
)

// PostgreSQL sets the *_lag columns to NULL once a standby has been idle
// and caught up for a while, so NULL with nothing left to replay is 0. NULL
// while WAL is still pending gives no sample rather than a false 0.
//
// pg_stat_replication joins every backend's pg_stat_activity row to the WAL
// senders; asking pg_stat_get_activity for the senders' pids alone keeps
// this query cheap on a server with hundreds of connections.
const replicationQuery = `
SELECT
  coalesce(a.application_name, ''),
  coalesce(host(a.client_addr), 'local'),
  coalesce(w.state, ''),
  coalesce(w.sync_state, ''),
  extract(epoch FROM w.write_lag)::float8,
  extract(epoch FROM w.flush_lag)::float8,
  extract(epoch FROM w.replay_lag)::float8,
  ((CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() ELSE pg_current_wal_lsn() END) - w.replay_lsn)::float8,
  extract(epoch FROM w.reply_time)::float8
FROM pg_stat_get_wal_senders() w
CROSS JOIN LATERAL pg_stat_get_activity(w.pid) a`

// replicationConcern reports the standbys a primary (or cascading standby)
// sends WAL to.
type replicationConcern struct{}

func (replicationConcern) name() string { return "replication" }

func (replicationConcern) statement() (string, []any) { return replicationQuery, nil }

func (replicationConcern) collect(s *scrape, rows pgx.Rows) error {
	streaming := 0
	seen := map[[2]string]int{}
	for rows.Next() {
		var app, addr, state, sync string
		var wl, fl, rl, lagBytes, reply *float64
		if err := rows.Scan(&app, &addr, &state, &sync, &wl, &fl, &rl, &lagBytes, &reply); err != nil {
			return fmt.Errorf("pg_stat_replication: %w", err)
		}
		// Two senders may share a name and address (a misconfigured pair);
		// keep their series apart instead of failing the whole scrape.
		key := [2]string{app, addr}
		seen[key]++
		if n := seen[key]; n > 1 {
			app = fmt.Sprintf("%s#%d", app, n)
		}
		if state == "streaming" {
			streaming++
		}
		gauge(s.ch, standbyInfoDesc, 1, app, addr, state, sync)
		caughtUp := lagBytes != nil && *lagBytes <= 0
		for _, l := range []struct {
			d *prometheus.Desc
			v *float64
		}{{writeLagDesc, wl}, {flushLagDesc, fl}, {replayLagDesc, rl}} {
			switch {
			case l.v != nil:
				gauge(s.ch, l.d, *l.v, app, addr)
			case caughtUp:
				gauge(s.ch, l.d, 0, app, addr)
			}
		}
		if lagBytes != nil {
			gauge(s.ch, lagBytesDesc, max(0, *lagBytes), app, addr)
		}
		if reply != nil {
			gauge(s.ch, lastReplyDesc, *reply, app, addr)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("pg_stat_replication: %w", err)
	}
	gauge(s.ch, connectedStandbysDesc, float64(streaming))
	return nil
}
