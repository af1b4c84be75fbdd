package pgbackrest

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/repo"
	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/s3store"
	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/wal"
)

// Layout reads repository path Path (repo1-path) for stanza Stanza:
//
//	<path>/backup/<stanza>/backup.info[.copy]
//	<path>/archive/<stanza>/archive.info[.copy]
//	<path>/archive/<stanza>/<pg version>-<db id>/<timeline+log>/<segment>-<sha1>[.gz|.lz4|.zst|.bz2]
//	<path>/archive/<stanza>/<pg version>-<db id>/<timeline>.history
type Layout struct {
	Path       string
	Stanza     string
	CipherPass string
	Geometry   wal.Geometry

	archivePass string // from archive.info: encrypts archived files
}

var _ repo.Layout = (*Layout)(nil)

// Name implements repo.Layout.
func (*Layout) Name() string { return "pgbackrest" }

func (l *Layout) key(parts ...string) string {
	p := strings.Trim(path.Join(append([]string{l.Path}, parts...)...), "/")
	return p
}

// infoLimit bounds an info file: backup.info grows by a line per backup.
const infoLimit = 64 << 20

// readInfo reads name, falling back to name.copy as pgBackRest does when the
// main file is missing or unreadable.
func readInfo[T any](ctx context.Context, st *s3store.Store, key, pass string, parse func([]byte, string) (T, error)) (T, error) {
	var zero T
	data, err := st.Get(ctx, key, infoLimit)
	if err == nil {
		v, perr := parse(data, pass)
		if perr == nil {
			return v, nil
		}
		err = fmt.Errorf("%s: %w", key, perr)
	}
	data, cerr := st.Get(ctx, key+".copy", infoLimit)
	if cerr != nil {
		return zero, err
	}
	v, perr := parse(data, pass)
	if perr != nil {
		return zero, errors.Join(err, fmt.Errorf("%s.copy: %w", key, perr))
	}
	return v, nil
}

// Catalog implements repo.Layout.
func (l *Layout) Catalog(ctx context.Context, st *s3store.Store) ([]repo.Backup, string, bool, error) {
	ai, err := readInfo(ctx, st, l.key("archive", l.Stanza, "archive.info"), l.CipherPass, ParseArchiveInfo)
	if err != nil {
		return nil, "", false, err
	}
	bi, err := readInfo(ctx, st, l.key("backup", l.Stanza, "backup.info"), l.CipherPass, ParseBackupInfo)
	if err != nil {
		return nil, "", false, err
	}
	l.archivePass = ai.SubPass
	var out []repo.Backup
	for _, b := range bi.Backups {
		seg, err := l.Geometry.Parse(b.WALStart)
		if err != nil {
			return nil, "", false, fmt.Errorf("backup.info: backup %s: %w", b.Label, err)
		}
		out = append(out, repo.Backup{Label: b.Label, Type: b.Type, Start: b.Start, Stop: b.Stop, Size: b.Size, WALStart: seg})
	}
	prefix := l.key("archive", l.Stanza, ai.DBVersion+"-"+ai.DBID) + "/"
	return out, prefix, ai.Encrypted || bi.Encrypted, nil
}

// ParseKey implements repo.Layout: "0000000100000000/<segment>-<sha1>[.ext]"
// is a segment, "<timeline>.history" a history file; ".backup" labels and
// ".partial" segments are other.
func (l *Layout) ParseKey(rel string) (repo.KeyKind, wal.Segment, error) {
	dir, file := path.Split(rel)
	if dir == "" {
		if name, ok := strings.CutSuffix(file, ".history"); ok && len(name) == 8 {
			var tl uint32
			if _, err := fmt.Sscanf(name, "%08X", &tl); err != nil || tl == 0 {
				return repo.KeyOther, wal.Segment{}, fmt.Errorf("history file name %q", file)
			}
			return repo.KeyHistory, wal.Segment{Timeline: tl}, nil
		}
		return repo.KeyOther, wal.Segment{}, nil
	}
	if len(file) < 24 || strings.Contains(file[24:], ".backup") || strings.Contains(file[24:], ".partial") {
		return repo.KeyOther, wal.Segment{}, nil
	}
	if len(file) < 24+1+40 || file[24] != '-' {
		return repo.KeyOther, wal.Segment{}, fmt.Errorf("want <segment>-<sha1>[.ext], got %q", file)
	}
	seg, err := l.Geometry.Parse(file[:24])
	if err != nil {
		return repo.KeyOther, wal.Segment{}, err
	}
	if strings.TrimSuffix(dir, "/") != file[:16] {
		return repo.KeyOther, wal.Segment{}, fmt.Errorf("segment %s in folder %s", file[:24], dir)
	}
	return repo.KeySegment, seg, nil
}

// SegmentKey implements repo.Layout.
func (l *Layout) SegmentKey(seg wal.Segment) string {
	name := l.Geometry.Name(seg)
	return name[:16] + "/" + name
}

// History implements repo.Layout: pgBackRest stores history files as
// PostgreSQL wrote them, encrypted with the archive's sub-pass (from
// archive.info) when the repository is encrypted.
func (l *Layout) History(_ string, data []byte) ([]wal.Switch, error) {
	if IsEncrypted(data) {
		var err error
		if data, err = Decrypt(data, l.archivePass); err != nil {
			return nil, err
		}
	}
	return wal.ParseHistory(data)
}
