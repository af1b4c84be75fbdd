// Package monitor runs pitr_exporter's checks in the background on an
// interval, each under a hard deadline, and keeps the last good result for
// scrapes to serve, with its time. A failing S3, a corrupt info file or a
// missing bucket is reported as an error (metric and log line naming the
// object) while the last good figures stay.
package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/config"
	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/repo"
	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/restore"
	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/s3store"
)

// Bucket is what the bucket checks found.
type Bucket struct {
	Checked             time.Time
	Encrypted           bool
	EncryptionAlgorithm string
	Versioned           bool
	// RestoreTests are the restore tests' records, by kind; a kind never
	// run is absent.
	RestoreTests map[string]restore.Record
	restoreSeen  map[string]time.Time // LastModified of each record read
}

// Replica is what the replica bucket holds of the WAL archive.
type Replica struct {
	Listed        time.Time
	NewestWALTime time.Time
	after         string
}

// Monitor owns the watchers and the latest results.
type Monitor struct {
	cfg     *config.Config
	watcher *repo.Watcher
	store   *s3store.Store
	replica *s3store.Store
	Stats   *s3store.Stats
	logger  *slog.Logger
	now     func() time.Time

	mu         sync.Mutex
	state      *repo.State
	bucket     Bucket
	rep        Replica
	lastOK     time.Time
	lastErr    error
	duration   time.Duration
	failures   map[string]float64 // by check
	repPrefix  string
	lastBucket time.Time
}

// New builds a Monitor; Run starts it.
func New(cfg *config.Config, layout repo.Layout, store, replica *s3store.Store, stats *s3store.Stats, opt repo.Options, logger *slog.Logger) *Monitor {
	return &Monitor{
		cfg: cfg, store: store, replica: replica, Stats: stats, logger: logger, now: time.Now,
		watcher:  repo.NewWatcher(layout, store, opt, logger),
		failures: map[string]float64{"repository": 0, "replica": 0, "bucket": 0, "restore_test": 0},
	}
}

// Run refreshes now and then every interval until ctx ends.
func (m *Monitor) Run(ctx context.Context) {
	t := time.NewTicker(time.Duration(m.cfg.Refresh.Interval))
	defer t.Stop()
	for {
		m.RefreshOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RefreshOnce runs one refresh under the configured deadline.
func (m *Monitor) RefreshOnce(parent context.Context) {
	ctx, cancel := context.WithTimeout(parent, time.Duration(m.cfg.Refresh.Timeout))
	defer cancel()
	start := m.now()
	st, err := m.watcher.Refresh(ctx, start)
	m.mu.Lock()
	m.duration = time.Since(start)
	if err != nil {
		m.failures["repository"]++
		m.lastErr = err
		m.logger.Error("Refresh failed; serving the last good figures", "err", err)
	} else {
		m.state, m.lastOK, m.lastErr = st, m.now(), nil
	}
	// The replica holds the archive under the same keys (S3 replication
	// keeps them); the watcher keeps the last prefix that listed well.
	prefix := m.watcher.Prefix()
	bucketDue := m.now().Sub(m.lastBucket) >= time.Duration(m.cfg.Refresh.BucketChecks)
	m.mu.Unlock()

	if m.replica != nil && prefix != "" {
		m.refreshReplica(ctx, prefix)
	}
	if bucketDue {
		m.checkBucket(ctx)
	}
}

func (m *Monitor) refreshReplica(ctx context.Context, prefix string) {
	m.mu.Lock()
	rep := m.rep
	if m.repPrefix != prefix {
		rep, m.repPrefix = Replica{}, prefix
	}
	m.mu.Unlock()
	newest := rep.NewestWALTime
	err := m.replica.List(ctx, prefix, rep.after, func(o s3store.Object) error {
		if o.Key > rep.after {
			rep.after = o.Key
		}
		if isSegmentKey(o.Key) && o.LastModified.After(newest) {
			newest = o.LastModified
		}
		return nil
	})
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		m.failures["replica"]++
		m.logger.Error("Listing the replica bucket failed", "bucket", m.replica.Bucket(), "err", err)
		return
	}
	rep.NewestWALTime, rep.Listed = newest, m.now()
	m.rep = rep
}

// isSegmentKey skips history files and backup labels in the replica: only
// WAL segments prove the copy is current.
func isSegmentKey(key string) bool {
	name := key[strings.LastIndexByte(key, '/')+1:]
	return len(name) >= 24 && !strings.Contains(name, ".history") && !strings.Contains(name, ".backup") && !strings.Contains(name, ".partial")
}

func (m *Monitor) checkBucket(ctx context.Context) {
	var b Bucket
	var errs []string
	var err error
	if b.Encrypted, b.EncryptionAlgorithm, err = m.store.Encryption(ctx); err != nil {
		errs = append(errs, err.Error())
	}
	if b.Versioned, err = m.store.Versioning(ctx); err != nil {
		errs = append(errs, err.Error())
	}
	m.mu.Lock()
	prev := m.bucket
	m.mu.Unlock()
	tests, seen, rerr := m.readRestoreTests(ctx, prev)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lastBucket = m.now()
	if rerr != nil {
		m.failures["restore_test"]++
		m.logger.Error("Reading the restore test results failed; keeping the last ones read", "bucket", m.store.Bucket(), "prefix", m.cfg.RestoreTest.ResultPrefix, "err", rerr)
	}
	m.bucket.RestoreTests, m.bucket.restoreSeen = tests, seen
	if len(errs) > 0 {
		m.failures["bucket"]++
		m.logger.Error("Bucket checks failed", "bucket", m.store.Bucket(), "err", strings.Join(errs, "; "))
		return
	}
	b.Checked = m.now()
	b.RestoreTests, b.restoreSeen = tests, seen
	m.bucket = b
}

// readRestoreTests lists the result prefix (one request) and reads only
// the records that changed since the last read. A record that cannot be
// read keeps its last good version.
func (m *Monitor) readRestoreTests(ctx context.Context, prev Bucket) (map[string]restore.Record, map[string]time.Time, error) {
	tests, seen := map[string]restore.Record{}, map[string]time.Time{}
	for k, v := range prev.RestoreTests {
		tests[k] = v
	}
	for k, v := range prev.restoreSeen {
		seen[k] = v
	}
	prefix := m.cfg.RestoreTest.ResultPrefix
	var objs []s3store.Object
	err := m.store.ListFolders(ctx, prefix, "", func(o s3store.Object, folder bool) error {
		if !folder {
			objs = append(objs, o)
		}
		return nil
	})
	if err != nil {
		return tests, seen, err
	}
	var errs []string
	for _, kind := range []string{restore.KindBackup, restore.KindPITR} {
		key := restore.Key(prefix, kind)
		if !slices.ContainsFunc(objs, func(o s3store.Object) bool { return o.Key == key }) {
			delete(tests, kind) // removed from the bucket: no record any more
			delete(seen, kind)
			continue
		}
		for _, o := range objs {
			if o.Key != key || o.LastModified.Equal(seen[kind]) {
				continue
			}
			data, err := m.store.Get(ctx, key, 1<<20)
			if err == nil {
				var rec restore.Record
				if rec, err = restore.ParseRecord(data); err == nil {
					tests[kind], seen[kind] = rec, o.LastModified
					continue
				}
			}
			errs = append(errs, fmt.Sprintf("%s: %v", key, err))
		}
	}
	if len(errs) > 0 {
		return tests, seen, errors.New(strings.Join(errs, "; "))
	}
	return tests, seen, nil
}

// Snapshot is a consistent copy of the latest results.
type Snapshot struct {
	State      *repo.State // nil before the first success
	Bucket     Bucket
	Replica    Replica
	HasReplica bool
	LastOK     time.Time
	Healthy    bool // the last refresh succeeded
	Duration   time.Duration
	Failures   map[string]float64
}

// Snapshot returns the latest results.
func (m *Monitor) Snapshot() Snapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := map[string]float64{}
	for k, v := range m.failures {
		f[k] = v
	}
	return Snapshot{
		State: m.state, Bucket: m.bucket, Replica: m.rep, HasReplica: m.replica != nil,
		LastOK: m.lastOK, Healthy: m.state != nil && m.lastErr == nil, Duration: m.duration, Failures: f,
	}
}
