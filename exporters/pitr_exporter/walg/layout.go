// Package walg reads a WAL-G repository in S3, following WAL-G's
// documented layout:
//
//	<path>/basebackups_005/base_<segment>[_D_<segment>]_backup_stop_sentinel.json
//	<path>/wal_005/<segment>.<lz4|zst|br|lzma|gz>
//	<path>/wal_005/<timeline>.history.<ext>
package walg

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"

	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/repo"
	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/s3store"
	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/wal"
)

const sentinelSuffix = "_backup_stop_sentinel.json"

// Layout reads the repository under Path.
type Layout struct {
	Path     string
	Geometry wal.Geometry

	sentinels map[string]repo.Backup // sentinels never change: read each once
}

var _ repo.Layout = (*Layout)(nil)

// Name implements repo.Layout.
func (*Layout) Name() string { return "walg" }

func (l *Layout) key(parts ...string) string {
	return strings.TrimLeft(path.Join(append([]string{l.Path}, parts...)...), "/")
}

// Sentinel is the part of a backup's stop sentinel that is read.
type Sentinel struct {
	StartTime        time.Time `json:"StartTime"`
	FinishTime       time.Time `json:"FinishTime"`
	UncompressedSize int64     `json:"UncompressedSize"`
	CompressedSize   int64     `json:"CompressedSize"`
	IsPermanent      bool      `json:"IsPermanent"`
}

// ParseBackupName reads base_<segment>[_D_<segment>]: the first segment
// the backup needs, and whether it is a delta (incremental) backup.
func (l *Layout) ParseBackupName(name string) (wal.Segment, bool, error) {
	rest, ok := strings.CutPrefix(name, "base_")
	if !ok || len(rest) < 24 {
		return wal.Segment{}, false, fmt.Errorf("backup name %q: want base_<segment>", name)
	}
	seg, err := l.Geometry.Parse(rest[:24])
	if err != nil {
		return wal.Segment{}, false, fmt.Errorf("backup name %q: %w", name, err)
	}
	delta := strings.HasPrefix(rest[24:], "_D_")
	if !delta && rest[24:] != "" {
		return wal.Segment{}, false, fmt.Errorf("backup name %q: unexpected %q after the segment", name, rest[24:])
	}
	return seg, delta, nil
}

// ParseSentinel decodes a stop sentinel.
func ParseSentinel(data []byte) (Sentinel, error) {
	var s Sentinel
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("sentinel: %w", err)
	}
	if s.StartTime.IsZero() || s.FinishTime.Before(s.StartTime) {
		return s, fmt.Errorf("sentinel: start %s, finish %s", s.StartTime, s.FinishTime)
	}
	return s, nil
}

// Catalog implements repo.Layout: one listing of the sentinels, and a read
// of each sentinel not seen before.
func (l *Layout) Catalog(ctx context.Context, st *s3store.Store) ([]repo.Backup, string, bool, error) {
	if l.sentinels == nil {
		l.sentinels = map[string]repo.Backup{}
	}
	prefix := l.key("basebackups_005") + "/"
	seen := map[string]bool{}
	err := st.List(ctx, prefix, "", func(o s3store.Object) error {
		rel := strings.TrimPrefix(o.Key, prefix)
		name, ok := strings.CutSuffix(rel, sentinelSuffix)
		if !ok || strings.Contains(name, "/") {
			return nil
		}
		seen[o.Key] = true
		if _, ok := l.sentinels[o.Key]; ok {
			return nil
		}
		seg, delta, err := l.ParseBackupName(name)
		if err != nil {
			return fmt.Errorf("%s: %w", o.Key, err)
		}
		data, err := st.Get(ctx, o.Key, 1<<20)
		if err != nil {
			return err
		}
		s, err := ParseSentinel(data)
		if err != nil {
			return fmt.Errorf("%s: %w", o.Key, err)
		}
		typ := "full"
		if delta {
			typ = "incr"
		}
		l.sentinels[o.Key] = repo.Backup{Label: name, Type: typ, Start: s.StartTime, Stop: s.FinishTime, Size: s.UncompressedSize, WALStart: seg}
		return nil
	})
	if err != nil {
		return nil, "", false, err
	}
	var out []repo.Backup
	for k, b := range l.sentinels {
		if !seen[k] {
			delete(l.sentinels, k) // deleted by retention
			continue
		}
		out = append(out, b)
	}
	return out, l.key("wal_005") + "/", false, nil
}

// ParseKey implements repo.Layout.
func (l *Layout) ParseKey(rel string) (repo.KeyKind, wal.Segment, error) {
	if strings.Contains(rel, "/") {
		return repo.KeyOther, wal.Segment{}, nil
	}
	base, _, _ := strings.Cut(rel, ".")
	if strings.Contains(rel, ".history") {
		var tl uint32
		if _, err := fmt.Sscanf(base, "%08X", &tl); err != nil || len(base) != 8 || tl == 0 {
			return repo.KeyOther, wal.Segment{}, fmt.Errorf("history file name %q", rel)
		}
		return repo.KeyHistory, wal.Segment{Timeline: tl}, nil
	}
	if len(base) != 24 || strings.Contains(rel, ".partial") || strings.Contains(rel, ".backup") {
		return repo.KeyOther, wal.Segment{}, nil
	}
	seg, err := l.Geometry.Parse(base)
	if err != nil {
		return repo.KeyOther, wal.Segment{}, err
	}
	return repo.KeySegment, seg, nil
}

// SegmentKey implements repo.Layout.
func (l *Layout) SegmentKey(seg wal.Segment) string { return l.Geometry.Name(seg) }

// History implements repo.Layout: history files are compressed like
// segments; the extension says how.
func (l *Layout) History(rel string, data []byte) ([]wal.Switch, error) {
	plain, err := decompress(path.Ext(rel), data)
	if err != nil {
		return nil, err
	}
	return wal.ParseHistory(plain)
}

func decompress(ext string, data []byte) ([]byte, error) {
	var r io.Reader
	switch ext {
	case ".history", "":
		return data, nil
	case ".lz4":
		r = lz4.NewReader(bytes.NewReader(data))
	case ".zst":
		d, err := zstd.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		defer d.Close()
		r = d
	case ".gz":
		g, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		r = g
	default:
		return nil, fmt.Errorf("history compressed as %s: not supported (lz4, zst, gz are)", ext)
	}
	out, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("decompressing %s: %w", ext, err)
	}
	return out, nil
}
