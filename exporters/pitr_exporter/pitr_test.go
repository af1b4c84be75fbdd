package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/promslog"

	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/config"
	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/monitor"
	"github.com/hotel-ops/hotel-ops/internal/metrictest"
	"github.com/hotel-ops/hotel-ops/internal/testenv"
)

// rig is a real primary archiving through pgBackRest into a loopback S3,
// and a pitr_exporter Monitor reading that repository.
type rig struct {
	s3      *testenv.S3
	pg      *testenv.Postgres
	br      *testenv.PgBackRest
	mon     *monitor.Monitor
	reg     *prometheus.Registry
	dir     string
	cfgYAML string
	cfg     *config.Config
}

// rigOptions vary the repository and the exporter's configuration.
type rigOptions struct {
	CipherPass    string
	Replica       string // a replica bucket to watch
	FullListEvery string // default 1ms: every refresh lists everything
	BucketChecks  string // default 1ms: every refresh reads the bucket's settings
	Timeout       string // default 20s
	// DefaultRefresh leaves refresh.interval, full_list_interval and
	// recheck_within at their defaults (FullListEvery is then ignored), for
	// tests of what the default configuration sees.
	DefaultRefresh bool
	RecheckWithin  string // default: the configuration's default
	// InitdbArgs and WALSegmentSize make a primary with other WAL segments
	// (--wal-segsize=1 and 1<<20: many real segments in little space).
	InitdbArgs     []string
	WALSegmentSize uint64
}

func newRig(t testing.TB, o rigOptions) *rig {
	extra := ""
	cipherPass, replica := o.CipherPass, o.Replica
	if o.FullListEvery == "" {
		o.FullListEvery = "1ms"
	}
	if o.Timeout == "" {
		o.Timeout = "20s"
	}
	if o.BucketChecks == "" {
		o.BucketChecks = "1ms"
	}
	t.Helper()
	s3 := testenv.StartS3(t)
	conf := testenv.NewPgBackRestConfigPath(t)
	pg := testenv.StartPrimary(t, "primary", testenv.PrimaryOptions{ArchiveCommand: testenv.PgBackRestArchiveCommand(conf, "main"), InitdbArgs: o.InitdbArgs})
	br := testenv.StartPgBackRest(t, conf, pg, s3, testenv.PgBackRestOptions{CipherPass: cipherPass})
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ak, sk := write("ak", s3.AccessKey), write("sk", s3.SecretKey)
	// s3block is the s3 section for a bucket, indented under its parent.
	s3block := func(indent, bucket string) string {
		lines := []string{"endpoint: " + s3.Endpoint, "region: us-east-1", "path_style: true", "ca_file: " + s3.CAFile,
			"access_key_file: " + ak, "secret_key_file: " + sk, "bucket: " + bucket}
		return "\n" + indent + strings.Join(lines, "\n"+indent)
	}
	cipher := ""
	if cipherPass != "" {
		cipher = "\n  cipher_pass_file: " + write("pass", cipherPass)
	}
	if replica != "" {
		extra += "replica:\n  s3:" + s3block("    ", replica) + "\n"
	}
	cadence := "\n  interval: 1h\n  full_list_interval: " + o.FullListEvery
	if o.DefaultRefresh {
		cadence = ""
	}
	if o.RecheckWithin != "" {
		cadence += "\n  recheck_within: " + o.RecheckWithin
	}
	if o.WALSegmentSize != 0 {
		cipher += fmt.Sprintf("\n  wal_segment_size: %d", o.WALSegmentSize)
	}
	yaml := fmt.Sprintf(`repository:
  type: pgbackrest
  stanza: main
  path: %s%s
s3:%s
refresh:%s
  timeout: %s
  bucket_check_interval: %s
%s`, br.RepoPath, cipher, s3block("  ", br.Bucket), cadence, o.Timeout, o.BucketChecks, extra)
	cfgPath := write("pitr.yml", yaml)
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatalf("%v\n%s", err, yaml)
	}
	logger := promslog.NewNopLogger()
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	mon, err := build(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(mon)
	return &rig{s3: s3, pg: pg, br: br, mon: mon, reg: reg, dir: dir, cfgYAML: yaml, cfg: cfg}
}

type sample = metrictest.Sample

func (r *rig) refresh(t testing.TB) sample {
	t.Helper()
	r.mon.RefreshOnce(context.Background())
	return metrictest.Gather(t, r.reg)
}

// infoBackup is a backup as `pgbackrest info --output=json` reports it.
type infoBackup struct {
	Label     string `json:"label"`
	Type      string `json:"type"`
	Timestamp struct{ Start, Stop int64 }
}

// infoBackups reads pgBackRest's own view, to check ours against it.
func (r *rig) infoBackups(t *testing.T) []infoBackup {
	t.Helper()
	var out []struct {
		Backup []infoBackup `json:"backup"`
	}
	if err := json.Unmarshal([]byte(r.br.Run("info", "--output=json")), &out); err != nil || len(out) != 1 {
		t.Fatalf("pgbackrest info: %v", err)
	}
	return out[0].Backup
}

// segmentFiles lists the archived segment files on the S3 server's disk.
func (r *rig) segmentFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(r.s3.Dir, r.br.Bucket, strings.Trim(r.br.RepoPath, "/"), "archive/main/15-1/0000000100000000/0000000100000000000000??-*"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	return files
}

// fullThenIncr takes a full backup, archives two segments of new tables,
// and takes an incremental backup: segment 3 is needed from the full
// backup on, not from the incremental one.
func (r *rig) fullThenIncr() {
	r.br.Backup("full")
	r.pg.Exec("CREATE TABLE booking AS SELECT g AS id FROM generate_series(1, 10000) g")
	r.pg.Exec("SELECT pg_switch_wal()")
	r.pg.Exec("CREATE TABLE gap AS SELECT g AS id FROM generate_series(1, 10) g")
	r.pg.Exec("SELECT pg_switch_wal()")
	r.br.Backup("incr")
}

func TestPgBackRestRepository(t *testing.T) {
	r := newRig(t, rigOptions{Replica: "replica"})
	r.s3.MakeBucket("replica")
	r.fullThenIncr()

	m := r.refresh(t)
	t.Run("backups appear with pgBackRest's own times", func(t *testing.T) {
		if m.Get(t, "pitr_up") != 1 {
			t.Fatalf("pitr_up 0")
		}
		info := r.infoBackups(t)
		if len(info) != 2 || info[0].Type != "full" || info[1].Type != "incr" {
			t.Fatalf("pgbackrest info: %+v", info)
		}
		for _, b := range info {
			if got := m.Get(t, fmt.Sprintf(`pitr_backup_last_completion_timestamp_seconds{type="%s"}`, b.Type)); got != float64(b.Timestamp.Stop) {
				t.Errorf("%s completion %v, pgbackrest says %d", b.Type, got, b.Timestamp.Stop)
			}
			if got := m.Get(t, fmt.Sprintf(`pitr_backup_last_duration_seconds{type="%s"}`, b.Type)); got != float64(b.Timestamp.Stop-b.Timestamp.Start) {
				t.Errorf("%s duration %v", b.Type, got)
			}
			if m.Get(t, fmt.Sprintf(`pitr_backups{type="%s"}`, b.Type)) != 1 {
				t.Errorf("%s count", b.Type)
			}
		}
		if m.Get(t, `pitr_backups{type="diff"}`) != 0 {
			t.Error("diff backups counted")
		}
		if due := m.Get(t, `pitr_backup_next_due_timestamp_seconds{type="incr"}`); due != float64(info[1].Timestamp.Start+6*3600) {
			t.Errorf("incr next due %v, want start + 6h", due)
		}
		if m.Get(t, `pitr_wal_missing_segments{timeline="1"}`) != 0 {
			t.Errorf("gaps in a fresh archive")
		}
		if m.Get(t, "pitr_window_start_timestamp_seconds") != float64(info[0].Timestamp.Stop) {
			t.Errorf("window starts at %v, not at the full backup's end %d", m["pitr_window_start_timestamp_seconds"], info[0].Timestamp.Stop)
		}
		if end := m.Get(t, "pitr_window_end_timestamp_seconds"); end < float64(info[1].Timestamp.Stop)-5 {
			t.Errorf("window ends at %v, before the incr backup", end)
		}
	})

	t.Run("an unencrypted, unversioned bucket is reported", func(t *testing.T) {
		if m.Get(t, "pitr_bucket_encryption_enabled") != 0 || m.Get(t, "pitr_bucket_versioning_enabled") != 0 || m.Get(t, "pitr_repository_encrypted") != 0 {
			t.Errorf("encryption %v versioning %v repo cipher %v", m["pitr_bucket_encryption_enabled"], m["pitr_bucket_versioning_enabled"], m["pitr_repository_encrypted"])
		}
	})

	t.Run("a replica that stops receiving falls behind", func(t *testing.T) {
		copied := r.replicate(t)
		m := r.refresh(t)
		rep, main := m.Get(t, "pitr_replica_wal_last_archived_timestamp_seconds"), m.Get(t, "pitr_wal_last_archived_timestamp_seconds")
		if copied == 0 || rep < main-60 {
			t.Fatalf("after copying %d objects: replica newest %v, main %v", copied, rep, main)
		}
		time.Sleep(1100 * time.Millisecond) // object times have one-second resolution
		r.pg.Exec("SELECT txid_current()")
		r.pg.Exec("SELECT pg_switch_wal()")
		m2 := r.eventually(t, "new WAL archived", func(s sample) bool { return s["pitr_wal_last_archived_timestamp_seconds"] > main })
		if m2.Get(t, "pitr_replica_wal_last_archived_timestamp_seconds") != rep {
			t.Errorf("replica moved without copying")
		}
	})

	t.Run("broken archiving makes the RPO grow", func(t *testing.T) {
		before := r.refresh(t).Get(t, "pitr_wal_last_archived_timestamp_seconds")
		r.pg.SetArchiveCommand("false")
		r.pg.Exec("SELECT txid_current()")
		r.pg.Exec("SELECT pg_switch_wal()")
		time.Sleep(2 * time.Second)
		m := r.refresh(t)
		if got := m.Get(t, "pitr_wal_last_archived_timestamp_seconds"); got != before {
			t.Errorf("newest WAL moved (%v -> %v) with archiving broken", before, got)
		}
		if rpo := float64(time.Now().Unix()) - m.Get(t, "pitr_wal_last_archived_timestamp_seconds"); rpo < 2 {
			t.Errorf("RPO %vs after 2s of broken archiving", rpo)
		}
		r.pg.SetArchiveCommand(testenv.PgBackRestArchiveCommand(r.br.ConfigFile, "main"))
		r.eventually(t, "archiving recovered", func(s sample) bool { return s["pitr_wal_last_archived_timestamp_seconds"] > before })
	})

	t.Run("a deleted segment is a gap and shrinks the window", func(t *testing.T) {
		info := r.infoBackups(t)
		files := r.segmentFiles(t)
		// The segment after the full backup's own: needed from the full
		// backup on, not from the incremental one.
		var victim string
		for _, f := range files {
			if strings.Contains(f, "000000010000000000000003-") {
				victim = f
			}
		}
		if victim == "" {
			t.Fatalf("segment 3 not archived: %v", files)
		}
		if err := os.Remove(victim); err != nil {
			t.Fatal(err)
		}
		m := r.refresh(t)
		if got := m.Get(t, `pitr_wal_missing_segments{timeline="1"}`); got != 1 {
			t.Errorf("missing segments %v, want 1", got)
		}
		if got := m.Get(t, "pitr_window_start_timestamp_seconds"); got != float64(info[1].Timestamp.Stop) {
			t.Errorf("window start %v, want the incr backup's end %d", got, info[1].Timestamp.Stop)
		}
	})

	t.Run("S3 down keeps the last good figures and reports the error", func(t *testing.T) {
		good := r.refresh(t)
		r.s3.Stop()
		m := r.refresh(t)
		if m.Get(t, "pitr_up") != 0 {
			t.Error("pitr_up 1 with S3 down")
		}
		if m.Get(t, `pitr_refresh_errors_total{check="repository"}`) < 1 || m.Get(t, `pitr_s3_request_errors_total{operation="GetObject"}`) < 1 {
			t.Errorf("errors not counted")
		}
		for _, k := range []string{`pitr_backups{type="full"}`, "pitr_window_start_timestamp_seconds", "pitr_refresh_last_success_timestamp_seconds", "pitr_wal_last_archived_timestamp_seconds"} {
			if m.Get(t, k) != good.Get(t, k) {
				t.Errorf("%s changed from %v to %v while S3 was down", k, good[k], m[k])
			}
		}
		r.s3.Start()
		if r.refresh(t).Get(t, "pitr_up") != 1 {
			t.Error("not back up after S3 returned")
		}
	})
}

func (r *rig) eventually(t *testing.T, what string, ok func(sample) bool) sample {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := r.refresh(t)
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s", what)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// replicate copies the WAL archive into the replica bucket through the S3
// API, as cross-region replication would.
func (r *rig) replicate(t *testing.T) int {
	t.Helper()
	c := r.client(t)
	ctx := context.Background()
	n := 0
	for o := range c.ListObjects(ctx, r.br.Bucket, minio.ListObjectsOptions{Prefix: "repo/archive/", Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		_, err := c.CopyObject(ctx, minio.CopyDestOptions{Bucket: "replica", Object: o.Key}, minio.CopySrcOptions{Bucket: r.br.Bucket, Object: o.Key})
		if err != nil {
			t.Fatalf("copy %s: %v", o.Key, err)
		}
		n++
	}
	return n
}

func (r *rig) client(t *testing.T) *minio.Client {
	t.Helper()
	tr, err := minio.DefaultTransport(true)
	if err != nil {
		t.Fatal(err)
	}
	tr.TLSClientConfig.InsecureSkipVerify = true
	c, err := minio.New(r.s3.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(r.s3.AccessKey, r.s3.SecretKey, ""), Secure: true, Transport: tr, BucketLookup: minio.BucketLookupPath, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestEncryptedRepository(t *testing.T) {
	r := newRig(t, rigOptions{CipherPass: "correct horse battery"})
	r.br.Backup("full")
	m := r.refresh(t)
	if m.Get(t, "pitr_up") != 1 || m.Get(t, "pitr_repository_encrypted") != 1 || m.Get(t, `pitr_backups{type="full"}`) != 1 {
		t.Fatalf("up %v encrypted %v full %v", m["pitr_up"], m["pitr_repository_encrypted"], m[`pitr_backups{type="full"}`])
	}
	if m.Get(t, `pitr_wal_missing_segments{timeline="1"}`) != 0 || m.Get(t, "pitr_window_start_timestamp_seconds") == 0 {
		t.Errorf("encrypted archive: missing %v window start %v", m[`pitr_wal_missing_segments{timeline="1"}`], m["pitr_window_start_timestamp_seconds"])
	}
}

type monitorSnapshot = monitor.Snapshot

func discard() *slog.Logger { return promslog.NewNopLogger() }
