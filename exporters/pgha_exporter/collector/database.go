package collector

import "fmt"

var deadlocksDesc = newDesc("deadlocks_total", "Deadlocks detected in the database (pg_stat_database.deadlocks).", "datname")

const databaseQuery = `SELECT datname::text, deadlocks::float8 FROM pg_stat_database WHERE datname IS NOT NULL`

// databaseConcern reports per-database counters.
type databaseConcern struct{}

func (databaseConcern) name() string { return "database" }

func (databaseConcern) collect(s *scrape) error {
	rows, err := s.conn.Query(s.ctx, databaseQuery)
	if err != nil {
		return fmt.Errorf("pg_stat_database: %w", err)
	}
	defer rows.Close()
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
