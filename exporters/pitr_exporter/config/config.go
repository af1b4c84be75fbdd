// Package config reads pitr_exporter's YAML configuration: the repository
// and its bucket, an optional replica bucket in another region, the backup
// policy (defaults from SPEC-2025-016) and the refresh cadence.
package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hotel-ops/hotel-ops/internal/secret"

	"github.com/prometheus/common/model"

	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/s3store"
	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/wal"
	"github.com/hotel-ops/hotel-ops/internal/yamlconf"
)

// Config is the whole file.
type Config struct {
	Repository Repository     `yaml:"repository"`
	S3         s3store.Config `yaml:"s3"`
	Replica    *Replica       `yaml:"replica"`
	Policy     Policy         `yaml:"policy"`
	Refresh    Refresh        `yaml:"refresh"`
	// RestoreTest configures `pitr_exporter restore-test`; the exporter
	// itself only reads where results are kept (ResultPrefix).
	RestoreTest RestoreTest `yaml:"restore_test"`
}

// Repository says which tool's layout to read and where.
type Repository struct {
	Type           string `yaml:"type"`             // pgbackrest or walg
	Path           string `yaml:"path"`             // pgBackRest repo1-path, or WAL-G's prefix inside the bucket
	Stanza         string `yaml:"stanza"`           // pgBackRest stanza
	CipherPassFile string `yaml:"cipher_pass_file"` // pgBackRest repo1-cipher-pass, for encrypted repositories
	WALSegmentSize uint64 `yaml:"wal_segment_size"` // bytes; default 16 MiB
	// Tier is the data's class in the spec's RTO/RPO table (critical, high,
	// medium, low): it sets the default RPO and RTO and labels the
	// repository, so rules can hold each repository to its own tier.
	Tier string `yaml:"tier"`
}

// Objectives are the spec's RTO and RPO of one tier (災害復旧計画 / RTO/RPO目標).
type Objectives struct{ RTO, RPO time.Duration }

// Tiers is SPEC-2025-016's RTO/RPO table.
var Tiers = map[string]Objectives{
	"critical": {RTO: time.Hour, RPO: 15 * time.Minute},
	"high":     {RTO: 4 * time.Hour, RPO: time.Hour},
	"medium":   {RTO: 8 * time.Hour, RPO: 4 * time.Hour},
	"low":      {RTO: 24 * time.Hour, RPO: 24 * time.Hour},
}

// Replica is a copy of the WAL archive in another bucket (another region).
type Replica struct {
	S3 s3store.Config `yaml:"s3"`
}

// Schedule is one backup type's policy.
type Schedule struct {
	Daily     string         `yaml:"daily"` // HH:MM in the policy's time zone
	Every     model.Duration `yaml:"every"`
	Retention model.Duration `yaml:"retention"`
}

// Policy is what the backups must achieve.
type Policy struct {
	Timezone   string              `yaml:"timezone"`
	Backups    map[string]Schedule `yaml:"backups"` // full, diff, incr
	PITRWindow model.Duration      `yaml:"pitr_window"`
	RPO        model.Duration      `yaml:"rpo"` // default: the tier's
	RTO        model.Duration      `yaml:"rto"` // default: the tier's

	Location *time.Location `yaml:"-"`
}

// Refresh is the background cadence.
type Refresh struct {
	Interval      model.Duration `yaml:"interval"`
	Timeout       model.Duration `yaml:"timeout"`
	FullListEvery model.Duration `yaml:"full_list_interval"`
	// RecheckWithin bounds how long a deleted or late segment inside the
	// window goes unseen: the keys recovery needs are listed again, a slice
	// per refresh, within this time.
	RecheckWithin model.Duration `yaml:"recheck_within"`
	BucketChecks  model.Duration `yaml:"bucket_check_interval"`
}

// Defaults encodes SPEC-2025-016's backup section: a full backup daily at
// 03:00 kept 30 days, an incremental every 6 hours kept 7 days, PITR over 7
// days, RPO 15 minutes (critical data), in Asia/Tokyo.
func Defaults() Config {
	return Config{
		Repository: Repository{Type: "pgbackrest", Stanza: "main", WALSegmentSize: wal.DefaultSegmentSize, Tier: "critical"},
		Policy: Policy{
			Timezone: "Asia/Tokyo",
			Backups: map[string]Schedule{
				"full": {Daily: "03:00", Retention: model.Duration(30 * 24 * time.Hour)},
				"incr": {Every: model.Duration(6 * time.Hour), Retention: model.Duration(7 * 24 * time.Hour)},
			},
			PITRWindow: model.Duration(7 * 24 * time.Hour),
		},
		RestoreTest: defaultRestoreTest(),
		Refresh: Refresh{
			Interval:      model.Duration(time.Minute),
			Timeout:       model.Duration(30 * time.Second),
			FullListEvery: model.Duration(time.Hour),
			RecheckWithin: model.Duration(10 * time.Minute),
			BucketChecks:  model.Duration(10 * time.Minute),
		},
	}
}

// Load reads a configuration file over the defaults. An entry under
// policy.backups replaces the default schedule of its type whole; types
// not named keep theirs.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return Parse(path, data)
}

// Parse is Load on bytes read already.
func Parse(name string, data []byte) (*Config, error) {
	c := Defaults()
	if err := yamlconf.Parse(name, data, &c); err != nil {
		return nil, err
	}
	loc, _ := time.LoadLocation(c.Policy.Timezone) // validated
	c.Policy.Location = loc
	tier := Tiers[c.Repository.Tier] // validated
	if c.Policy.RPO == 0 {
		c.Policy.RPO = model.Duration(tier.RPO)
	}
	if c.Policy.RTO == 0 {
		c.Policy.RTO = model.Duration(tier.RTO)
	}
	if c.RestoreTest.ResultPrefix == "" {
		c.RestoreTest.ResultPrefix = DefaultResultPrefix(c.Repository)
	}
	if c.RestoreTest.Deadline == 0 {
		c.RestoreTest.Deadline = c.Policy.RTO
	}
	return &c, nil
}

// Validate implements yamlconf.Validator.
func (c *Config) Validate() error {
	var errs []error
	add := func(path, format string, args ...any) { errs = append(errs, yamlconf.Fieldf(path, format, args...)) }
	switch c.Repository.Type {
	case "pgbackrest":
		if c.Repository.Stanza == "" {
			add("repository.stanza", "required for pgbackrest")
		}
	case "walg":
	default:
		add("repository.type", "want pgbackrest or walg, got %q", c.Repository.Type)
	}
	if _, ok := Tiers[c.Repository.Tier]; !ok {
		add("repository.tier", "want critical, high, medium or low, got %q", c.Repository.Tier)
	}
	if _, err := wal.NewGeometry(c.Repository.WALSegmentSize); err != nil {
		add("repository.wal_segment_size", "%v", err)
	}
	checkS3 := func(path string, s s3store.Config) {
		if s.Endpoint == "" {
			add(path+".endpoint", "required (host:port)")
		} else if strings.Contains(s.Endpoint, "/") {
			add(path+".endpoint", "want host:port without a scheme or path, got %q", s.Endpoint)
		}
		if s.Bucket == "" {
			add(path+".bucket", "required")
		}
		if (s.AccessKeyFile == "") != (s.SecretKeyFile == "") {
			add(path, "access_key_file and secret_key_file go together (or neither, for AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
		}
	}
	checkS3("s3", c.S3)
	if c.Replica != nil {
		checkS3("replica.s3", c.Replica.S3)
	}
	if _, err := time.LoadLocation(c.Policy.Timezone); err != nil {
		add("policy.timezone", "%v", err)
	}
	for typ, s := range c.Policy.Backups {
		path := "policy.backups." + typ
		if typ != "full" && typ != "diff" && typ != "incr" {
			add(path, "want full, diff or incr")
		}
		if (s.Daily == "") == (s.Every == 0) {
			add(path, "give exactly one of daily (HH:MM) or every (a duration)")
		}
		if s.Daily != "" {
			if _, err := time.Parse("15:04", s.Daily); err != nil {
				add(path+".daily", "want HH:MM, got %q", s.Daily)
			}
		}
		if s.Retention <= 0 {
			add(path+".retention", "required and positive")
		}
	}
	if _, ok := c.Policy.Backups["full"]; !ok {
		add("policy.backups", "a full backup schedule is required")
	}
	if c.Policy.PITRWindow <= 0 {
		add("policy.pitr_window", "must be positive")
	}
	if c.Policy.RPO < 0 {
		add("policy.rpo", "must be positive")
	}
	if c.Policy.RTO < 0 {
		add("policy.rto", "must be positive")
	}
	errs = append(errs, c.RestoreTest.validate()...)
	if c.Refresh.Interval <= 0 || c.Refresh.Timeout <= 0 {
		add("refresh", "interval and timeout must be positive")
	}
	if c.Refresh.Timeout > c.Refresh.Interval {
		add("refresh.timeout", "must not exceed refresh.interval")
	}
	if c.Refresh.RecheckWithin <= 0 {
		add("refresh.recheck_within", "must be positive")
	}
	return errors.Join(errs...)
}

// CipherPass reads the repository's cipher pass, if any.
func (c *Config) CipherPass() (string, error) {
	if c.Repository.CipherPassFile == "" {
		return "", nil
	}
	pass, err := secret.Read(c.Repository.CipherPassFile, "")
	if err != nil {
		return "", fmt.Errorf("the repository's cipher pass: %w", err)
	}
	return pass, nil
}

// NextDue returns when the next backup of a schedule is due, given the start
// of the last one (zero if none: due now).
func (p *Policy) NextDue(s Schedule, last time.Time, now time.Time) time.Time {
	if last.IsZero() {
		return now
	}
	if s.Every > 0 {
		return last.Add(time.Duration(s.Every))
	}
	hm, _ := time.Parse("15:04", s.Daily)
	l := last.In(p.Location)
	slot := time.Date(l.Year(), l.Month(), l.Day(), hm.Hour(), hm.Minute(), 0, 0, p.Location)
	// A backup that started up to an hour before its slot (or any time
	// after it) counts for that slot; the next is due a day later.
	if !slot.After(l.Add(time.Hour)) {
		slot = slot.AddDate(0, 0, 1)
	}
	return slot
}
