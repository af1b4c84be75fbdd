package main

import (
	"bytes"
	"context"
	"crypto/sha1"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/config"
	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/wal"
	"github.com/hotel-ops/hotel-ops/internal/testenv"
)

// synthetic is a repository written object by object, for layouts and
// sizes that real tools would take too long to produce here.
type synthetic struct {
	s3     *testenv.S3
	bucket string
	client *minio.Client
	geo    wal.Geometry
}

func newSynthetic(t testing.TB, s3 *testenv.S3, bucket string) *synthetic {
	s3.MakeBucket(bucket)
	tr, err := minio.DefaultTransport(true)
	if err != nil {
		t.Fatal(err)
	}
	tr.TLSClientConfig.InsecureSkipVerify = true
	c, err := minio.New(s3.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(s3.AccessKey, s3.SecretKey, ""), Secure: true, Transport: tr, BucketLookup: minio.BucketLookupPath, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	g, _ := wal.NewGeometry(wal.DefaultSegmentSize)
	return &synthetic{s3: s3, bucket: bucket, client: c, geo: g}
}

func (s *synthetic) put(t testing.TB, key string, data []byte) {
	if _, err := s.client.PutObject(context.Background(), s.bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

// pgbackrestInfo writes archive.info and backup.info with one full backup
// starting at segment start of timeline 1.
func (s *synthetic) pgbackrestInfo(t testing.TB, start uint64, stop time.Time) {
	s.put(t, "repo/archive/main/archive.info", []byte("[backrest]\nbackrest-format=5\nbackrest-version=\"2.45\"\n\n[db]\ndb-id=1\ndb-system-id=1\ndb-version=\"15\"\n"))
	name := s.geo.Name(wal.Segment{Timeline: 1, Number: start})
	s.put(t, "repo/backup/main/backup.info", fmt.Appendf(nil, `[backrest]
backrest-format=5

[backup:current]
20261101-030000F={"backup-archive-start":"%s","backup-archive-stop":"%s","backup-info-size":1000,"backup-timestamp-start":%d,"backup-timestamp-stop":%d,"backup-type":"full","db-id":1}

[db]
db-id=1
db-version="15"
`, name, name, stop.Add(-time.Minute).Unix(), stop.Unix()))
}

// segmentKey is a pgBackRest archive key for segment n of timeline 1.
func (s *synthetic) segmentKey(n uint64) string {
	name := s.geo.Name(wal.Segment{Timeline: 1, Number: n})
	return fmt.Sprintf("repo/archive/main/15-1/%s/%s-%x.gz", name[:16], name, sha1.Sum([]byte(name)))
}

// writeSegmentFiles creates segments [from, to) as files on the S3 server's
// disk, the way a million objects can be made in seconds; versitygw's
// posix backend serves a file as an object.
func (s *synthetic) writeSegmentFiles(t testing.TB, from, to uint64) {
	for n := from; n < to; n++ {
		p := filepath.Join(s.s3.Dir, s.bucket, s.segmentKey(n))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// config is the repository's configuration for tests that refresh by hand
// (the interval is an hour): they measure the incremental listing, so the
// re-check, which would run a whole pass on every refresh an hour apart, is
// moved out of their way (recheck_test.go measures it).
func (s *synthetic) config(t testing.TB, typ, path string) *config.Config {
	return s.configVia(t, typ, path, s.s3.Endpoint, s.s3.CAFile, "full_list_interval: 24h, recheck_within: 24h")
}

// configVia is config reaching the bucket through endpoint (a proxy, say),
// trusting caFile, with extra refresh settings.
func (s *synthetic) configVia(t testing.TB, typ, path, endpoint, caFile, refresh string) *config.Config {
	dir := t.TempDir()
	ak, sk := filepath.Join(dir, "ak"), filepath.Join(dir, "sk")
	os.WriteFile(ak, []byte(s.s3.AccessKey), 0o600)
	os.WriteFile(sk, []byte(s.s3.SecretKey), 0o600)
	yaml := fmt.Sprintf(`repository: {type: %s, stanza: main, path: %s}
s3: {endpoint: "%s", bucket: %s, path_style: true, ca_file: %s, access_key_file: %s, secret_key_file: %s}
refresh: {interval: 1h, timeout: 5m, bucket_check_interval: 24h, %s}
`, typ, path, endpoint, s.bucket, caFile, ak, sk, refresh)
	cfg, err := config.Parse("synthetic.yml", []byte(yaml))
	if err != nil {
		t.Fatalf("%v\n%s", err, yaml)
	}
	return cfg
}

func TestIncrementalRefreshCost(t *testing.T) {
	s3 := testenv.StartS3(t)
	syn := newSynthetic(t, s3, "repo")
	syn.pgbackrestInfo(t, 2, time.Now().Add(-time.Hour))
	syn.writeSegmentFiles(t, 2, 2+2500)
	mon, err := build(syn.config(t, "pgbackrest", "/repo"), discard())
	if err != nil {
		t.Fatal(err)
	}
	refresh := func() (float64, *monitorSnapshot) {
		before := mon.Stats.Total()
		mon.RefreshOnce(context.Background())
		snap := mon.Snapshot()
		if !snap.Healthy {
			t.Fatalf("refresh failed")
		}
		return mon.Stats.Total() - before, &snap
	}
	first, snap := refresh()
	if snap.State.Segments != 2500 || snap.State.Missing[1] != 0 {
		t.Fatalf("first refresh: %d segments, %d missing", snap.State.Segments, snap.State.Missing[1])
	}
	t.Logf("first refresh of 2,500 segments: %v requests", first)
	if n, _ := refresh(); n > 4 {
		t.Errorf("a refresh of an unchanged repository made %v S3 requests, want at most 4", n)
	}
	syn.writeSegmentFiles(t, 2502, 2602)
	n, snap := refresh()
	if n > 4+1 || snap.State.Segments != 2600 {
		t.Errorf("100 new segments: %v requests (want at most 5), %d segments", n, snap.State.Segments)
	}
	// Out of order: 2610 arrives before 2602..2609; the gap is listed
	// again on the next refresh, so the late ones are not missed.
	syn.writeSegmentFiles(t, 2610, 2611)
	if _, snap = refresh(); snap.State.Missing[1] != 8 {
		t.Errorf("missing %d, want 8 while 2602-2609 are in flight", snap.State.Missing[1])
	}
	syn.writeSegmentFiles(t, 2602, 2610)
	if _, snap = refresh(); snap.State.Missing[1] != 0 || snap.State.Segments != 2609 {
		t.Errorf("after the late segments: missing %d, %d segments", snap.State.Missing[1], snap.State.Segments)
	}
	if !strings.HasPrefix(s3.Endpoint, "localhost:") {
		t.Fatal("S3 must be on loopback")
	}
}

// TestCorruptInfoKeepsLastGoodFigures: a corrupt backup.info falls back to
// backup.info.copy; when both are corrupt the refresh fails with an error
// naming the object, and the last good figures stay.
func TestCorruptInfoKeepsLastGoodFigures(t *testing.T) {
	s3 := testenv.StartS3(t)
	syn := newSynthetic(t, s3, "repo")
	syn.pgbackrestInfo(t, 2, time.Now().Add(-time.Hour))
	syn.writeSegmentFiles(t, 2, 10)
	var logs bytes.Buffer
	mon, err := build(syn.config(t, "pgbackrest", "/repo"), slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	mon.RefreshOnce(context.Background())
	good := mon.Snapshot()
	if !good.Healthy || len(good.State.Backups) != 1 {
		t.Fatalf("first refresh: %+v", good)
	}
	info, err := os.ReadFile(filepath.Join(s3.Dir, "repo/repo/backup/main/backup.info"))
	if err != nil {
		t.Fatal(err)
	}
	syn.put(t, "repo/backup/main/backup.info.copy", info)
	syn.put(t, "repo/backup/main/backup.info", []byte("[backrest]\nbackrest-format=5\n[backup:current]\nx={not json\n"))
	mon.RefreshOnce(context.Background())
	if s := mon.Snapshot(); !s.Healthy || len(s.State.Backups) != 1 {
		t.Errorf("the .copy fallback was not used")
	}
	syn.put(t, "repo/backup/main/backup.info.copy", []byte("garbage"))
	mon.RefreshOnce(context.Background())
	s := mon.Snapshot()
	if s.Healthy || s.State != good.State && len(s.State.Backups) != 1 || s.Failures["repository"] != 1 {
		t.Errorf("both corrupt: healthy %v, backups kept %v, failures %v", s.Healthy, s.State != nil, s.Failures)
	}
	if !strings.Contains(logs.String(), "repo/backup/main/backup.info") {
		t.Errorf("the log does not name the object:\n%s", logs.String())
	}
}
