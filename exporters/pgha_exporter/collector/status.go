package collector

import (
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
)

// status is the single-row view of the instance read first in every scrape:
// whether it is a standby, its limits, its WAL positions, its WAL receiver
// and its archiver. One statement instead of several keeps scrapes cheap.
type status struct {
	inRecovery         bool
	maxConnections     float64
	superuserReserved  float64
	reserved           float64 // reserved_connections, PostgreSQL 16+; 0 before
	archiveMode        string
	archiveTimeout     float64 // seconds; 0 = off
	walPositionBytes   float64 // current LSN on a primary, last replayed on a standby
	now                float64 // server time, seconds since the epoch
	walReceiverTimeout float64 // seconds; 0 = disabled

	// standby only
	receiveLSN, replayLSN *float64
	lastReplayTimestamp   *float64
	replayPaused          bool
	receiverStatus        *string
	latestEndLSN          *float64
	lastMsgReceiptTime    *float64

	// archiver
	archivedCount, failedCount       float64
	lastArchivedTime, lastFailedTime *float64
	pendingSegments                  float64
}

const statusQuery = `
SELECT
  pg_is_in_recovery(),
  current_setting('max_connections')::float8,
  current_setting('superuser_reserved_connections')::float8,
  coalesce(current_setting('reserved_connections', true), '0')::float8,
  current_setting('archive_mode'),
  extract(epoch FROM current_setting('archive_timeout')::interval)::float8,
  (CASE WHEN pg_is_in_recovery() THEN coalesce(pg_last_wal_replay_lsn(), '0/0') ELSE pg_current_wal_lsn() END - '0/0'::pg_lsn)::float8,
  extract(epoch FROM clock_timestamp())::float8,
  extract(epoch FROM current_setting('wal_receiver_timeout')::interval)::float8,
  (pg_last_wal_receive_lsn() - '0/0'::pg_lsn)::float8,
  (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::float8,
  extract(epoch FROM pg_last_xact_replay_timestamp())::float8,
  pg_is_in_recovery() AND pg_is_wal_replay_paused(),
  r.status,
  (r.latest_end_lsn - '0/0'::pg_lsn)::float8,
  extract(epoch FROM r.last_msg_receipt_time)::float8,
  a.archived_count::float8,
  a.failed_count::float8,
  extract(epoch FROM a.last_archived_time)::float8,
  extract(epoch FROM a.last_failed_time)::float8,
  (SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready')::float8
FROM pg_stat_archiver a
LEFT JOIN pg_stat_wal_receiver r ON true`

func readStatus(row pgx.Row) (*status, error) {
	var s status
	err := row.Scan(
		&s.inRecovery, &s.maxConnections, &s.superuserReserved, &s.reserved, &s.archiveMode, &s.archiveTimeout,
		&s.walPositionBytes, &s.now, &s.walReceiverTimeout,
		&s.receiveLSN, &s.replayLSN, &s.lastReplayTimestamp, &s.replayPaused,
		&s.receiverStatus, &s.latestEndLSN, &s.lastMsgReceiptTime,
		&s.archivedCount, &s.failedCount, &s.lastArchivedTime, &s.lastFailedTime, &s.pendingSegments,
	)
	if err != nil {
		return nil, fmt.Errorf("status query: %w", err)
	}
	return &s, nil
}

var (
	inRecoveryDesc        = newDesc("in_recovery", "Whether the instance is a standby in recovery (1) or a primary (0).")
	maxConnectionsDesc    = newDesc("max_connections", "The max_connections setting.")
	superuserReservedDesc = newDesc("superuser_reserved_connections", "Connection slots reserved for superusers (superuser_reserved_connections).")
	reservedDesc          = newDesc("reserved_connections", "Connection slots reserved for pg_use_reserved_connections (PostgreSQL 16+, 0 before).")
	walPositionDesc       = newDesc("wal_position_bytes", "Current WAL position (LSN) in bytes: the insert position on a primary, the last replayed on a standby; rate() gives WAL throughput.")
)

func emitStatus(s *status, ch chan<- prometheus.Metric) {
	gauge(ch, inRecoveryDesc, boolf(s.inRecovery))
	gauge(ch, maxConnectionsDesc, s.maxConnections)
	gauge(ch, superuserReservedDesc, s.superuserReserved)
	gauge(ch, reservedDesc, s.reserved)
	gauge(ch, walPositionDesc, s.walPositionBytes)
}
