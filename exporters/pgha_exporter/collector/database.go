package collector

import (
	"fmt"

	"github.com/jackc/pgx/v5"
)

var deadlocksDesc = newDesc("deadlocks_total", "Deadlocks detected in the database (pg_stat_database.deadlocks).", "datname")

const databaseQuery = `SELECT datname::text, deadlocks::float8 FROM pg_stat_database WHERE datname IS NOT NULL`

// databaseConcern reports per-database counters.
type databaseConcern struct{}

func (databaseConcern) name() string { return "database" }

func (databaseConcern) statement() (string, []any) { return databaseQuery, nil }

func (databaseConcern) collect(s *scrape, rows pgx.Rows) error {
	for rows.Next() {
		var name string
		var deadlocks float64
		if err := rows.Scan(&name, &deadlocks); err != nil {
			return fmt.Errorf("pg_stat_database: %w", err)
		}
		counter(s.ch, deadlocksDesc, deadlocks, name)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("pg_stat_database: %w", err)
	}
	return nil
}
