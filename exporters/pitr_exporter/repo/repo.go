// Package repo keeps the state of one backup repository in S3 up to date:
// the backup catalogue and every archived WAL segment, kept as contiguous
// runs per timeline. After the first full listing a refresh lists only the
// keys after the last one seen, so its cost grows with what is new, not
// with the size of the bucket; a rolling re-check lists the keys recovery
// needs again, a slice per refresh, to see what was deleted or archived
// behind the listing (recheck.go).
package repo

import (
	"context"
	"time"

	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/s3store"
	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/wal"
)

// Backup is one backup, whatever tool made it.
type Backup struct {
	Label    string
	Type     string // full, diff or incr
	Start    time.Time
	Stop     time.Time
	Size     int64       // database size in bytes
	WALStart wal.Segment // first segment recovery from it needs
}

// KeyKind classifies a key under the WAL prefix.
type KeyKind int

const (
	KeyOther   KeyKind = iota // backup labels, partial segments, unknown files: ignored
	KeySegment                // a complete WAL segment
	KeyHistory                // a timeline history file
)

// Layout is how one backup tool arranges its repository.
type Layout interface {
	// Name is the tool, for logs and labels.
	Name() string
	// Catalog reads the backups and returns the prefix under which WAL is
	// archived; a changed prefix (a new database after an upgrade) resets
	// the WAL state. encrypted reports client-side encryption of the
	// repository itself (pgBackRest's repo cipher).
	Catalog(ctx context.Context, st *s3store.Store) (backups []Backup, walPrefix string, encrypted bool, err error)
	// ParseKey classifies a key (relative to the WAL prefix): a segment, or
	// the timeline of a history file.
	ParseKey(rel string) (kind KeyKind, seg wal.Segment, err error)
	// SegmentKey is the start of segment seg's keys: it sorts just before
	// them (listing resumes there) and is a prefix of them (listing it
	// finds that segment's objects). Keys of segments must sort by
	// timeline, then number, as they do in both layouts: the re-check
	// relies on it.
	SegmentKey(seg wal.Segment) string
	// History decodes a history file's content.
	History(rel string, data []byte) ([]wal.Switch, error)
}
