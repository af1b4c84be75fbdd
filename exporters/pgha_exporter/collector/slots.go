package collector

import (
	"fmt"

	"github.com/jackc/pgx/v5"
)

var (
	slotActiveDesc   = newDesc("replication_slot_active", "Whether a consumer is connected to the replication slot.", "slot_name", "slot_type")
	slotRetainedDesc = newDesc("replication_slot_retained_bytes", "WAL kept on disk for the slot (current position minus restart_lsn), in bytes: an inactive slot makes this grow until the disk fills.", "slot_name", "slot_type")
	slotSafeDesc     = newDesc("replication_slot_safe_wal_size_bytes", "WAL that can still be written before the slot is invalidated by max_slot_wal_keep_size (absent when unlimited).", "slot_name", "slot_type")
	slotLostDesc     = newDesc("replication_slot_lost", "Whether the slot's required WAL was removed (wal_status = lost): its consumer can no longer catch up.", "slot_name", "slot_type")
)

const slotsQuery = `
SELECT
  slot_name::text,
  slot_type,
  active,
  coalesce(((CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() ELSE pg_current_wal_lsn() END) - restart_lsn)::float8, 0),
  safe_wal_size::float8,
  coalesce(wal_status, '')
FROM pg_replication_slots`

// slotsConcern reports replication slots and the WAL they hold back.
type slotsConcern struct{}

func (slotsConcern) name() string { return "slots" }

func (slotsConcern) statement() (string, []any) { return slotsQuery, nil }

func (slotsConcern) collect(s *scrape, rows pgx.Rows) error {
	for rows.Next() {
		var name, typ, walStatus string
		var active bool
		var retained float64
		var safe *float64
		if err := rows.Scan(&name, &typ, &active, &retained, &safe, &walStatus); err != nil {
			return fmt.Errorf("pg_replication_slots: %w", err)
		}
		gauge(s.ch, slotActiveDesc, boolf(active), name, typ)
		gauge(s.ch, slotRetainedDesc, max(0, retained), name, typ)
		if safe != nil {
			gauge(s.ch, slotSafeDesc, *safe, name, typ)
		}
		gauge(s.ch, slotLostDesc, boolf(walStatus == "lost"), name, typ)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("pg_replication_slots: %w", err)
	}
	return nil
}
