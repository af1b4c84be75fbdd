package config

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/common/model"

	"github.com/hotel-ops/hotel-ops/internal/yamlconf"
)

// RestoreTest is how `pitr_exporter restore-test` restores the repository
// into a scratch directory, checks the result and where it records it.
type RestoreTest struct {
	// PgBackRestConfig is the stanza's pgbackrest.conf (its repository
	// settings); pg1-path is overridden with the scratch directory.
	PgBackRestConfig string `yaml:"pgbackrest_config"`
	// ScratchDir holds one restore at a time, and nothing else: the test
	// removes what it finds there from an earlier run that was killed.
	ScratchDir string `yaml:"scratch_dir"`
	// PGBinDir holds postgres and pg_controldata; default
	// /usr/lib/postgresql/<the backup's PG_VERSION>/bin.
	PGBinDir string `yaml:"pg_bindir"`
	// KeepFree is what the restore must leave free on the scratch
	// directory's filesystem: bytes ("20GiB") or a share of it ("10%").
	// The test refuses to start when the restore's estimate would cross it
	// and stops when the filesystem does.
	KeepFree string `yaml:"keep_free"`
	// WALAllowance is added to the backup's size in that estimate: WAL
	// fetched for replay and the server's own files.
	WALAllowance string `yaml:"wal_allowance"`
	// Deadline bounds the whole test, clean-up excepted; default the
	// tier's RTO, since a restore slower than that has failed anyway.
	Deadline model.Duration `yaml:"deadline"`
	// EndMargin keeps random targets this far before the window's end:
	// recovery to a time stops at the first commit after it, so a target in
	// the last moments of the archive may have none to stop at.
	EndMargin model.Duration `yaml:"end_margin"`
	// Settings are extra postgresql.conf lines for the scratch server
	// (shared_buffers = 128MB). Its port, sockets, archiving and
	// replication are always set by the test.
	Settings []string `yaml:"settings"`
	// Checks run on the recovered database, read-only.
	Checks []Check `yaml:"checks"`
	// ResultPrefix is where results are written in the repository's
	// bucket, one object per kind; default <repository.path>/hotel-ops/restore-test/<stanza>/.
	ResultPrefix string `yaml:"result_prefix"`

	KeepFreeBytes, KeepFreeShare float64 `yaml:"-"` // parsed KeepFree: one is set
	WALAllowanceBytes            uint64  `yaml:"-"`
}

// Check is one query on the recovered database. It returns one row of one
// column, a number or a timestamp; $1, when the query uses it, is the
// recovery target (timestamptz).
type Check struct {
	Name     string `yaml:"name"`
	Database string `yaml:"database"` // default postgres
	SQL      string `yaml:"sql"`
	// Min fails a number below it (a table that must not be empty).
	Min *float64 `yaml:"min"`
	// NotAfterTarget fails a timestamp after the target: a row the
	// recovery should not have replayed.
	NotAfterTarget bool `yaml:"not_after_target"`
	// MaxBeforeTarget fails a timestamp older than target minus this (or
	// NULL): the recovered data is staler than it should be.
	MaxBeforeTarget model.Duration `yaml:"max_before_target"`
}

// ScratchOverrides are the settings the test always gives the scratch
// server itself (restore.OverriddenSettings; a test keeps the two equal).
var ScratchOverrides = []string{
	"listen_addresses", "port", "unix_socket_directories", "unix_socket_permissions",
	"archive_mode", "archive_cleanup_command", "recovery_end_command", "recovery_min_apply_delay",
	"hot_standby", "primary_conninfo", "primary_slot_name", "synchronous_standby_names",
	"hba_file", "ident_file", "external_pid_file", "ssl", "huge_pages", "default_transaction_isolation",
	"logging_collector", "log_destination", "log_min_messages", "lc_messages", "cluster_name",
}

func defaultRestoreTest() RestoreTest {
	return RestoreTest{
		PgBackRestConfig: "/etc/pgbackrest/pgbackrest.conf",
		KeepFree:         "10%",
		WALAllowance:     "1GiB",
		EndMargin:        model.Duration(60e9),
	}
}

// DefaultResultPrefix keeps results next to the repository they test, in
// a folder neither pgBackRest (archive/, backup/) nor WAL-G reads.
func DefaultResultPrefix(r Repository) string {
	p := strings.Trim(path.Join(strings.Trim(r.Path, "/"), "hotel-ops/restore-test", r.Stanza), "/")
	return p + "/"
}

var checkName = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

func (r *RestoreTest) validate() []error {
	var errs []error
	add := func(p, format string, args ...any) {
		errs = append(errs, yamlconf.Fieldf("restore_test."+p, format, args...))
	}
	if r.KeepFree == "" {
		add("keep_free", "required: what the test must leave free (10%%, 20GiB)")
	} else {
		if s, ok := strings.CutSuffix(r.KeepFree, "%"); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			if err != nil || v < 0 || v >= 100 {
				add("keep_free", "want a share from 0%% to 99%%, got %q", r.KeepFree)
			}
			r.KeepFreeShare = v / 100
		} else if b, err := ParseBytes(r.KeepFree); err != nil {
			add("keep_free", "%v", err)
		} else {
			r.KeepFreeBytes = float64(b)
		}
		if r.KeepFreeShare == 0 && r.KeepFreeBytes == 0 {
			add("keep_free", "must be above 0: it is also what stops a restore that fills the disk")
		}
	}
	if b, err := ParseBytes(r.WALAllowance); err != nil {
		add("wal_allowance", "%v", err)
	} else {
		r.WALAllowanceBytes = b
	}
	if r.Deadline < 0 || r.EndMargin < 0 {
		add("deadline", "deadline and end_margin must not be negative")
	}
	if r.ResultPrefix != "" && (strings.HasPrefix(r.ResultPrefix, "/") || !strings.HasSuffix(r.ResultPrefix, "/")) {
		add("result_prefix", "want a key prefix without a leading slash and ending in /, got %q", r.ResultPrefix)
	}
	// The server's socket lives in <scratch_dir>/run: its path must fit a
	// Unix socket address (107 bytes).
	if len(path.Clean(r.ScratchDir)+"/run/.s.PGSQL.5432") > 107 {
		add("scratch_dir", "too long for the scratch server's socket path (%d bytes; at most %d)", len(r.ScratchDir), 107-len("/run/.s.PGSQL.5432"))
	}
	seen := map[string]bool{}
	for i, c := range r.Checks {
		p := fmt.Sprintf("checks[%d]", i)
		if !checkName.MatchString(c.Name) {
			add(p+".name", "want a name of lower-case letters, digits and _, got %q", c.Name)
		} else if seen[c.Name] {
			add(p+".name", "%q is used twice", c.Name)
		}
		seen[c.Name] = true
		if strings.TrimSpace(c.SQL) == "" {
			add(p+".sql", "required")
		}
		if c.Min != nil && (c.NotAfterTarget || c.MaxBeforeTarget > 0) {
			add(p, "min is for numbers, not_after_target and max_before_target for timestamps: not both")
		}
	}
	for i, s := range r.Settings {
		name, _, ok := strings.Cut(s, "=")
		if !ok {
			add(fmt.Sprintf("settings[%d]", i), "want a postgresql.conf line such as \"shared_buffers = 128MB\", got %q", s)
		} else if slices.Contains(ScratchOverrides, strings.TrimSpace(name)) {
			add(fmt.Sprintf("settings[%d]", i), "%s is set by the test itself (the scratch server must not listen, archive or replicate)", strings.TrimSpace(name))
		}
	}
	return errs
}

// ParseBytes reads a size: a number of bytes, or one with a unit (kB, MB,
// GB, TB as powers of 1000; KiB, MiB, GiB, TiB as powers of 1024).
func ParseBytes(s string) (uint64, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   float64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"kB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}}
	mult := 1.0
	for _, u := range units {
		if n, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("want a size such as 20GiB or 500MB, got %q", s)
	}
	return uint64(v * mult), nil
}
