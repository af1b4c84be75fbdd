package suite

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/restore"
	"github.com/hotel-ops/hotel-ops/internal/testenv"
)

// prepareRestoreTest writes pitr_exporter's configuration for
// `restore-test` of the suite's repository: the same repository and
// bucket, a scratch directory, and the hotel schema's checks. PostgreSQL
// refuses to run as root, so the command runs as the cluster's OS user,
// and everything it reads is copied where that user can read it.
func (s *Suite) prepareRestoreTest(br *testenv.PgBackRest, s3 *testenv.S3) {
	t := s.t
	dir, err := os.MkdirTemp("", "hotelops-suite-restore-")
	if err != nil {
		t.Fatalf("restore test dir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s.restoreDir = dir
	s.Primary.Chown(dir)
	put := func(name string, data []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatalf("%v", err)
		}
		s.Primary.Chown(p)
		return p
	}
	ca, err := os.ReadFile(s3.CAFile)
	if err != nil {
		t.Fatalf("%v", err)
	}
	bin, err := os.ReadFile(filepath.Join(s.Bin, "pitr_exporter"))
	if err != nil {
		t.Fatalf("%v", err)
	}
	put("pitr_exporter", bin, 0o755)
	caFile, ak, sk := put("ca.pem", ca, 0o644), put("ak", []byte(s3.AccessKey), 0o600), put("sk", []byte(s3.SecretKey), 0o600)
	cipher := put("cipher-pass", []byte("hotelops-suite-cipher"), 0o600)
	s.restoreConf = put("pitr.yml", []byte(fmt.Sprintf(`repository: {type: pgbackrest, stanza: %[1]s, path: %[2]s, cipher_pass_file: %[8]s}
s3: {endpoint: "%[3]s", bucket: %[4]s, path_style: true, ca_file: %[5]s, access_key_file: %[6]s, secret_key_file: %[7]s}
restore_test:
  pgbackrest_config: %[9]s
  scratch_dir: %[10]s
  end_margin: 10s
  keep_free: 1GiB
  wal_allowance: 256MiB
  checks:
    # The shipped hotel schema: bookings exist, and the newest one the
    # restored database holds was not made after the target.
    - {name: bookings, sql: "SELECT count(*) FROM bookings", min: 1}
    - {name: latest_booking, sql: "SELECT max(created_at) FROM bookings", not_after_target: true}
`, br.Stanza, br.RepoPath, s3.Endpoint, br.Bucket, caFile, ak, sk, cipher, br.ConfigFile, filepath.Join(dir, "scratch"))), 0o600)
}

// RestoreTest runs `pitr_exporter restore-test --kind=kind` on the suite's
// repository as the database's OS user and returns what it recorded (in
// the bucket, where the suite's pitr_exporter reads it) and its log.
// A pitr test recovers to target (random inside the window when zero).
func (s *Suite) RestoreTest(ctx context.Context, kind string, target time.Time) (restore.Result, string, error) {
	args := []string{"--config.file=" + s.restoreConf, "restore-test", "--kind=" + kind}
	if !target.IsZero() {
		args = append(args, "--target="+target.Format(time.RFC3339Nano))
	}
	cmd := exec.CommandContext(ctx, filepath.Join(s.restoreDir, "pitr_exporter"), args...)
	s.Primary.RunAsOwner(cmd)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var res restore.Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		return res, stderr.String(), fmt.Errorf("pitr_exporter restore-test printed no result (%v): %s", runErr, stderr.String())
	}
	return res, stderr.String(), nil
}

// Backup takes a pgBackRest backup of the primary (full, diff or incr).
func (s *Suite) Backup(typ string) { s.backup.Backup(typ) }
