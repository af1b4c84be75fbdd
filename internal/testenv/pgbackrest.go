package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

const installPgBackRest = "sudo apt-get install -y pgbackrest"

// PgBackRest is a pgBackRest stanza archiving a real primary's WAL into a
// bucket of the loopback S3 server.
type PgBackRest struct {
	Stanza     string
	ConfigFile string
	Bucket     string
	RepoPath   string // the repository's path inside the bucket

	pg *Postgres
	t  TB
}

// PgBackRestOptions tune StartPgBackRest.
type PgBackRestOptions struct {
	Bucket     string // default "pgbackrest"
	CipherPass string // encrypts the repository with aes-256-cbc when set
	// ReplicaBucket, when set, is a second repository (repo2, same layout
	// and cipher) in that bucket: archive-push writes every WAL segment to
	// both, as a copy in another region would hold them.
	ReplicaBucket string
}

// ArchiveCommand is the archive_command that pushes WAL with this stanza's
// configuration; pass it to StartPrimary before the stanza exists (WAL
// waits as .ready until the stanza is created).
func PgBackRestArchiveCommand(configFile, stanza string) string {
	return fmt.Sprintf("pgbackrest --config=%s --stanza=%s archive-push %%p", configFile, stanza)
}

// NewPgBackRestConfigPath returns a path for a pgBackRest configuration
// file that the postgres user can read, to give StartPrimary before
// StartPgBackRest writes it.
func NewPgBackRestConfigPath(t TB) string {
	t.Helper()
	LookPath(t, "pgbackrest", installPgBackRest)
	dir, err := os.MkdirTemp("", "hotelops-pgbackrest-")
	if err != nil {
		t.Fatalf("temp dir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "pgbackrest.conf")
}

// StartPgBackRest writes the configuration at configFile for primary and
// the S3 server, and creates the stanza.
func StartPgBackRest(t TB, configFile string, primary *Postgres, s3 *S3, opt PgBackRestOptions) *PgBackRest {
	t.Helper()
	if opt.Bucket == "" {
		opt.Bucket = "pgbackrest"
	}
	s3.MakeBucket(opt.Bucket)
	b := &PgBackRest{Stanza: "main", ConfigFile: configFile, Bucket: opt.Bucket, RepoPath: "/repo", pg: primary, t: t}
	dir := filepath.Dir(configFile)
	for _, sub := range []string{"log", "lock", "spool"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatalf("%v", err)
		}
		primary.chown(filepath.Join(dir, sub))
	}
	primary.chown(dir)
	// The CA file must be readable by the postgres user too.
	ca := filepath.Join(dir, "ca.pem")
	if data, err := os.ReadFile(s3.CAFile); err != nil || os.WriteFile(ca, data, 0o644) != nil {
		t.Fatalf("copying the CA: %v", err)
	}
	lines := []string{
		"[global]",
		"repo1-type=s3",
		"repo1-path=" + b.RepoPath,
		"repo1-s3-bucket=" + opt.Bucket,
		"repo1-s3-endpoint=localhost",
		fmt.Sprintf("repo1-storage-port=%d", s3.Port),
		"repo1-s3-region=us-east-1",
		"repo1-s3-key=" + s3.AccessKey,
		"repo1-s3-key-secret=" + s3.SecretKey,
		"repo1-s3-uri-style=path",
		"repo1-storage-ca-file=" + ca,
		"repo1-retention-full=30",
		"repo1-retention-full-type=time",
		"log-level-console=warn",
		"log-level-file=info",
		"log-path=" + filepath.Join(dir, "log"),
		"lock-path=" + filepath.Join(dir, "lock"),
		"spool-path=" + filepath.Join(dir, "spool"),
		"start-fast=y",
		"compress-type=gz",
		"archive-timeout=30",
	}
	if opt.CipherPass != "" {
		lines = append(lines, "repo1-cipher-type=aes-256-cbc", "repo1-cipher-pass="+opt.CipherPass)
	}
	if opt.ReplicaBucket != "" {
		s3.MakeBucket(opt.ReplicaBucket)
		var repo2 []string
		for _, l := range lines {
			if strings.HasPrefix(l, "repo1-") {
				l = "repo2-" + strings.TrimPrefix(l, "repo1-")
				if strings.HasPrefix(l, "repo2-s3-bucket=") {
					l = "repo2-s3-bucket=" + opt.ReplicaBucket
				}
				repo2 = append(repo2, l)
			}
		}
		lines = append(lines, repo2...)
	}
	lines = append(lines,
		"",
		"["+b.Stanza+"]",
		"pg1-path="+primary.DataDir(),
		fmt.Sprintf("pg1-port=%d", primary.Port),
		"pg1-socket-path="+primary.Dir,
		"pg1-user=postgres",
	)
	if err := os.WriteFile(configFile, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatalf("writing %s: %v", configFile, err)
	}
	primary.chown(configFile)
	b.Run("stanza-create")
	return b
}

// Run runs a pgBackRest command for the stanza as the cluster's owner.
func (b *PgBackRest) Run(command string, args ...string) string {
	b.t.Helper()
	all := append([]string{"--config=" + b.ConfigFile, "--stanza=" + b.Stanza}, args...)
	all = append(all, command)
	var out string
	var err error
	if os.Getuid() == 0 {
		out, err = run("runuser", append([]string{"-u", b.pg.owner.Username, "--", "pgbackrest"}, all...)...)
	} else {
		out, err = run("pgbackrest", all...)
	}
	if err != nil {
		b.t.Fatalf("pgbackrest %s: %v", command, err)
	}
	return out
}

// Backup takes a backup of the given type (full, diff or incr).
func (b *PgBackRest) Backup(typ string) {
	b.t.Helper()
	b.Run("backup", "--type="+typ)
}
