package pgbackrest

import (
	"testing"

	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/repo"
	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/wal"
)

const sampleBackupInfo = `[backrest]
backrest-format=5
backrest-version="2.45"

[backup:current]
20261128-041921F={"backup-archive-start":"000000010000000000000002","backup-archive-stop":"000000010000000000000002","backup-info-size":23214210,"backup-timestamp-start":1795839561,"backup-timestamp-stop":1795839570,"backup-type":"full","db-id":1}

[db]
db-id=1
db-version="15"

[backrest]
backrest-checksum="81fbc824d019facef89aab7d77655348b4dd8f4c"
`

// FuzzInfo: info files from S3 are outside input; any bytes give a result
// or an error, never a panic, and accepted backups are consistent.
func FuzzInfo(f *testing.F) {
	f.Add([]byte(sampleBackupInfo), "")
	f.Add([]byte("[backrest]\nbackrest-format=5\n[db]\ndb-id=1\ndb-version=\"15\"\n"), "")
	f.Add([]byte("Salted__12345678abcdefghabcdefgh"), "pass")
	f.Add([]byte("[backup:current]\nx={\n"), "")
	f.Fuzz(func(t *testing.T, data []byte, pass string) {
		if bi, err := ParseBackupInfo(data, pass); err == nil {
			for _, b := range bi.Backups {
				if b.Stop.Before(b.Start) || (b.Type != "full" && b.Type != "diff" && b.Type != "incr") {
					t.Fatalf("accepted backup %+v", b)
				}
			}
		}
		_, _ = ParseArchiveInfo(data, pass)
	})
}

// FuzzParseKey: object keys are outside input.
func FuzzParseKey(f *testing.F) {
	g, _ := wal.NewGeometry(wal.DefaultSegmentSize)
	l := &Layout{Geometry: g}
	for _, k := range []string{
		"0000000100000000/000000010000000000000002-90fb9b9d2ff7a0df19a1c22b0d44a24bec811da3.gz",
		"0000000100000000/000000010000000000000002.00000028.backup",
		"00000002.history", "0000000100000000/000000010000000000000002.partial",
		"0000000100000001/000000010000000000000002-90fb9b9d2ff7a0df19a1c22b0d44a24bec811da3",
	} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		kind, seg, err := l.ParseKey(key)
		if err != nil || kind != repo.KeySegment {
			return
		}
		name := g.Name(seg)
		if key[17:17+24] != name || key[:16] != name[:16] {
			t.Fatalf("%q parsed as %s", key, name)
		}
	})
}
