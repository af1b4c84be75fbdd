package walg

import (
	"testing"

	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/repo"
	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/wal"
)

func FuzzParseKeyAndNames(f *testing.F) {
	g, _ := wal.NewGeometry(wal.DefaultSegmentSize)
	l := &Layout{Geometry: g}
	for _, k := range []string{"000000010000000000000002.lz4", "00000002.history.lz4", "000000010000000000000008.partial.lz4", "base_000000010000000000000006_D_000000010000000000000002", "x/y"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if kind, seg, err := l.ParseKey(s); err == nil && kind == repo.KeySegment && g.Name(seg) != s[:24] {
			t.Fatalf("%q parsed as %s", s, g.Name(seg))
		}
		if seg, _, err := l.ParseBackupName(s); err == nil && g.Name(seg) != s[5:29] {
			t.Fatalf("backup %q starts at %s", s, g.Name(seg))
		}
		_, _ = ParseSentinel([]byte(s))
		_, _ = decompress(".lz4", []byte(s))
		_, _ = decompress(".zst", []byte(s))
		_, _ = decompress(".gz", []byte(s))
	})
}
