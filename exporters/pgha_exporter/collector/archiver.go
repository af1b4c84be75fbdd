package collector

import "github.com/jackc/pgx/v5"

var (
	archiverEnabledDesc      = newDesc("archiver_enabled", "Whether archive_mode is on or always.")
	archiverTimeoutDesc      = newDesc("archiver_timeout_seconds", "The archive_timeout setting in seconds, 0 when off: how long a primary may wait before it archives a partly filled WAL segment. 0, or more than the RPO, means a quiet primary cannot meet the RPO.")
	archiverArchivedDesc     = newDesc("archiver_archived_total", "WAL files archived successfully (pg_stat_archiver.archived_count).")
	archiverFailedDesc       = newDesc("archiver_failed_total", "Failed attempts to archive WAL files (pg_stat_archiver.failed_count).")
	archiverLastArchivedDesc = newDesc("archiver_last_archived_timestamp_seconds", "When the last WAL file was archived; 0 if never.")
	archiverLastFailedDesc   = newDesc("archiver_last_failed_timestamp_seconds", "When archiving last failed; 0 if never.")
	archiverPendingDesc      = newDesc("archiver_pending_segments", "WAL segments waiting to be archived (.ready files in pg_wal/archive_status). Above 0 with an old last archived time means archiving is stuck; 0 means the database is merely idle.")
)

// archiverConcern reports the WAL archiver from the status row.
type archiverConcern struct{}

func (archiverConcern) name() string { return "archiver" }

func (archiverConcern) statement() (string, []any) { return "", nil }

func (archiverConcern) collect(s *scrape, _ pgx.Rows) error {
	st := s.status
	gauge(s.ch, archiverEnabledDesc, boolf(st.archiveMode == "on" || st.archiveMode == "always"))
	gauge(s.ch, archiverTimeoutDesc, st.archiveTimeout)
	counter(s.ch, archiverArchivedDesc, st.archivedCount)
	counter(s.ch, archiverFailedDesc, st.failedCount)
	gauge(s.ch, archiverLastArchivedDesc, zeroIfNil(st.lastArchivedTime))
	gauge(s.ch, archiverLastFailedDesc, zeroIfNil(st.lastFailedTime))
	gauge(s.ch, archiverPendingDesc, st.pendingSegments)
	return nil
}
