package main

import (
	"context"
	"crypto/sha1"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/config"
	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/pgbackrest"
	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/repo"
	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/s3store"
	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/wal"
	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/walg"
	"github.com/hotel-ops/hotel-ops/internal/metrictest"
	"github.com/hotel-ops/hotel-ops/internal/testenv"
)

// clocked drives a Watcher built as build() builds the Monitor's, with a
// clock of its own that advances one refresh interval per refresh: ten
// minutes of refreshes take a moment.
type clocked struct {
	w        *repo.Watcher
	stats    *s3store.Stats
	now      time.Time
	interval time.Duration
	n        int // refreshes so far
}

func newClocked(t testing.TB, cfg *config.Config) *clocked {
	t.Helper()
	layout, store, stats, g, err := buildRepository(cfg)
	if err != nil {
		t.Fatal(err)
	}
	opt := watcherOptions(cfg, g)
	return &clocked{w: repo.NewWatcher(layout, store, opt, discard()), stats: stats, now: time.Now(), interval: opt.Interval}
}

// refresh runs the next refresh and returns its state and S3 requests.
func (c *clocked) refresh(t testing.TB) (*repo.State, float64) {
	t.Helper()
	before := c.stats.Total()
	st, err := c.w.Refresh(context.Background(), c.now)
	if err != nil {
		t.Fatalf("refresh %d: %v", c.n, err)
	}
	c.now = c.now.Add(c.interval)
	c.n++
	return st, c.stats.Total() - before
}

func totalMissing(st *repo.State) uint64 {
	n := uint64(0)
	for _, v := range st.Missing {
		n += v
	}
	return n
}

// maxRequestsPerRefresh is what a refresh of a small, unchanged repository
// may cost with the re-check on: the 4 of the incremental listing and one
// page of the re-check.
const maxRequestsPerRefresh = 5

// TestDeletionSeenWithDefaultConfiguration deletes, from a real pgBackRest
// archive, a segment that recovery from the full backup needs but recovery
// from the incremental one does not, with the default refresh settings
// (full listing every hour): the gap shows, and the window starts at the
// incremental backup, within ten refreshes a minute apart.
func TestDeletionSeenWithDefaultConfiguration(t *testing.T) {
	r := newRig(t, rigOptions{DefaultRefresh: true})
	if d, got := config.Defaults().Refresh, r.cfg.Refresh; got.FullListEvery != d.FullListEvery || got.RecheckWithin != d.RecheckWithin || got.Interval != d.Interval || d.RecheckWithin > model.Duration(10*time.Minute) {
		t.Fatalf("not the default refresh settings: %+v", r.cfg.Refresh)
	}
	r.fullThenIncr()

	c := newClocked(t, r.cfg)
	st, _ := c.refresh(t)
	if len(st.Backups) != 2 || totalMissing(st) != 0 || !st.WindowStart.Equal(st.Backups[0].Stop) {
		t.Fatalf("before the deletion: %d backups, missing %v, window from %s", len(st.Backups), st.Missing, st.WindowStart)
	}
	full, incr := st.Backups[0], st.Backups[1]
	victim := full.WALStart.Number + 1
	if victim >= incr.WALStart.Number {
		t.Fatalf("no segment between the backups: full starts at %v, incr at %v", full.WALStart, incr.WALStart)
	}
	// Past the first pass, so the deletion falls in the passes' steady pace.
	for range 15 {
		if _, n := c.refresh(t); n > maxRequestsPerRefresh {
			t.Errorf("refresh %d of an unchanged repository: %v S3 requests, want at most %d", c.n, n, maxRequestsPerRefresh)
		}
	}
	geo, _ := wal.NewGeometry(wal.DefaultSegmentSize)
	name := geo.Name(wal.Segment{Timeline: 1, Number: victim})
	files, _ := filepath.Glob(filepath.Join(r.s3.Dir, r.br.Bucket, "repo/archive/main/15-1", name[:16], name+"-*"))
	if len(files) != 1 {
		t.Fatalf("segment %s: files %v", name, files)
	}
	if err := os.Remove(files[0]); err != nil {
		t.Fatal(err)
	}
	deletedAt := c.now
	seen := 0
	for i := 1; i <= 10 && seen == 0; i++ {
		st, n := c.refresh(t)
		if n > maxRequestsPerRefresh {
			t.Errorf("refresh %d after the deletion: %v S3 requests, want at most %d", i, n, maxRequestsPerRefresh)
		}
		if totalMissing(st) > 0 {
			seen = i
			if st.Missing[1] != 1 || !st.WindowStart.Equal(incr.Stop) || st.DeletedSegments != 1 {
				t.Errorf("seen: missing %v, window from %s (want the incr backup's end %s), %d deleted", st.Missing, st.WindowStart, incr.Stop, st.DeletedSegments)
			}
			if st.RecheckComplete.Before(deletedAt) {
				t.Errorf("the re-check's last complete pass %s is before the deletion %s", st.RecheckComplete, deletedAt)
			}
		}
	}
	if seen == 0 {
		t.Fatalf("the deleted segment %s was not seen within 10 refreshes a minute apart", name)
	}
	t.Logf("deleted segment seen at refresh %d after the deletion (%d simulated minutes)", seen, seen)
}

// TestReuploadDoesNotMoveNewestArchived copies old segments again (a
// re-copy, a bucket restored) and the newest one too: no new WAL, so the
// RPO and the window's end stay, even when every refresh lists everything.
func TestReuploadDoesNotMoveNewestArchived(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.br.Backup("full")
	r.pg.Exec("SELECT txid_current()")
	r.pg.Exec("SELECT pg_switch_wal()")
	r.pg.Exec("SELECT txid_current()")
	last := switchWAL(t, r.pg)
	before := r.eventually(t, "the switched segments archived", func(sample) bool {
		st := r.mon.Snapshot().State
		return st != nil && st.NewestSegment == last.Number
	})
	files := r.segmentFiles(t)
	time.Sleep(1100 * time.Millisecond) // object times have one-second resolution
	c := r.client(t)
	root := filepath.Join(r.s3.Dir, r.br.Bucket) + "/"
	for _, f := range []string{files[0], files[len(files)-1]} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		syn := &synthetic{s3: r.s3, bucket: r.br.Bucket, client: c}
		syn.put(t, f[len(root):], data)
	}
	st := r.mon.Snapshot().State
	m := r.refresh(t)
	if got, was := m.Get(t, "pitr_wal_last_archived_timestamp_seconds"), before.Get(t, "pitr_wal_last_archived_timestamp_seconds"); got != was {
		t.Errorf("re-uploading old segments moved the newest archived time from %v to %v", was, got)
	}
	if got, was := m.Get(t, "pitr_window_end_timestamp_seconds"), before.Get(t, "pitr_window_end_timestamp_seconds"); got != was {
		t.Errorf("re-uploading old segments moved the window's end from %v to %v", was, got)
	}
	// The test can fail: the copies are newer than anything archived.
	info, err := os.Stat(files[0])
	if err != nil || !info.ModTime().After(st.NewestWALTime) {
		t.Fatalf("the re-upload did not change the object's time: %v %v (newest archived %s)", info.ModTime(), err, st.NewestWALTime)
	}
	if m.Get(t, "pitr_wal_missing_segments{timeline=\"1\"}") != 0 {
		t.Errorf("re-uploads counted as gaps")
	}
}

// TestPromotionWithQuietNewTimeline fails over to a standby that archives
// with pgBackRest once promoted. Until the new timeline's first segment
// fills there is no gap: the chain ends at the old timeline's newest
// segment, where the window's end and the RPO stay. Then the new
// timeline's first segment is archived and counted.
func TestPromotionWithQuietNewTimeline(t *testing.T) {
	r := newRig(t, rigOptions{DefaultRefresh: true})
	r.br.Backup("full")
	sb := testenv.StartStandby(t, r.pg, "standby")
	// The standby pushes to the same stanza once it is the primary; the
	// relative %p pgBackRest resolves against pg1-path, so that is its own.
	sb.Exec("ALTER SYSTEM SET archive_mode = 'on'")
	sb.Exec("ALTER SYSTEM SET archive_timeout = 0") // quiet: no segment switch by time
	sb.SetArchiveCommand(testenv.PgBackRestArchiveCommand(r.br.ConfigFile, "main") + " --pg1-path=" + sb.DataDir())
	sb.Stop()
	sb.Start()

	r.pg.Exec("SELECT txid_current()")
	last := switchWAL(t, r.pg)
	r.eventually(t, "the old primary's last segment archived", func(s sample) bool {
		st := r.mon.Snapshot().State
		return st != nil && st.NewestSegment == last.Number
	})
	r.pg.Stop() // the failover: the standby has everything it streamed
	before := r.refresh(t)
	if missing := sumSeries(before, "pitr_wal_missing_segments"); missing != 0 {
		t.Fatalf("before the promotion: %v segments missing", missing)
	}
	sb.Exec("SELECT pg_promote()")
	archive := filepath.Join(r.s3.Dir, r.br.Bucket, "repo/archive/main/15-1")
	waitFor(t, "00000002.history archived", func() bool {
		_, err := os.Stat(filepath.Join(archive, "00000002.history"))
		return err == nil
	})
	m := r.refresh(t)
	if m.Get(t, "pitr_wal_timeline") != 2 {
		t.Errorf("timeline %v after the promotion, want 2", m["pitr_wal_timeline"])
	}
	if missing := sumSeries(m, "pitr_wal_missing_segments"); missing != 0 {
		t.Errorf("promoted, timeline 2 without a segment yet: %v segments counted missing (%v)", missing, m.Pick("pitr_wal_missing_segments"))
	}
	for _, k := range []string{"pitr_window_end_timestamp_seconds", "pitr_wal_last_archived_timestamp_seconds", "pitr_window_start_timestamp_seconds"} {
		if m.Get(t, k) != before.Get(t, k) {
			t.Errorf("%s moved from %v to %v with no new WAL", k, before[k], m[k])
		}
	}

	sb.Exec("CREATE TABLE after_failover AS SELECT 1 AS x")
	first := switchWAL(t, sb)
	if first.Timeline != 2 {
		t.Fatalf("the new primary switched out of %v", first)
	}
	geo, _ := wal.NewGeometry(wal.DefaultSegmentSize)
	waitFor(t, "timeline 2's first segment archived", func() bool {
		files, _ := filepath.Glob(filepath.Join(archive, "0000000200000000", geo.Name(first)+"-*"))
		return len(files) == 1
	})
	m2 := r.refresh(t)
	st := r.mon.Snapshot().State
	if st.ChainTimeline != 2 || st.NewestSegment != first.Number || m2.Get(t, "pitr_wal_segments") != before.Get(t, "pitr_wal_segments")+1 {
		t.Errorf("timeline 2's segment: chain ends at %d/%d, %v segments (was %v)", st.ChainTimeline, st.NewestSegment, m2["pitr_wal_segments"], before["pitr_wal_segments"])
	}
	if missing := sumSeries(m2, "pitr_wal_missing_segments"); missing != 0 || m2.Get(t, `pitr_wal_missing_segments{timeline="2"}`) != 0 {
		t.Errorf("with timeline 2's first segment: missing %v", m2.Pick("pitr_wal_missing_segments"))
	}
	if m2.Get(t, "pitr_window_end_timestamp_seconds") < before.Get(t, "pitr_window_end_timestamp_seconds") {
		t.Errorf("the window's end went back: %v, was %v", m2["pitr_window_end_timestamp_seconds"], before["pitr_window_end_timestamp_seconds"])
	}
}

// defaultRefresh gives cfg the default refresh settings.
func defaultRefresh(cfg *config.Config) *config.Config {
	cfg.Refresh = config.Defaults().Refresh
	return cfg
}

// switchWAL writes the current segment out and returns it.
func switchWAL(t *testing.T, pg *testenv.Postgres) wal.Segment {
	t.Helper()
	var name string
	if err := pg.Connect("postgres").QueryRow(context.Background(), "SELECT pg_walfile_name(pg_switch_wal())").Scan(&name); err != nil {
		t.Fatal(err)
	}
	g, _ := wal.NewGeometry(wal.DefaultSegmentSize)
	seg, err := g.Parse(name)
	if err != nil {
		t.Fatal(err)
	}
	return seg
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 90s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// sumSeries adds every series of a metric name.
func sumSeries(s sample, name string) float64 {
	total := 0.0
	for _, v := range s.Pick(name + "{") {
		total += v
	}
	return total
}

// TestRecheckOnSyntheticArchives runs the default refresh settings over
// 2,500 segments in both layouts, a minute of simulated time per refresh:
// a segment archived late deep inside the chain (where no incremental
// listing looks) is found, and ten segments deleted one before each of ten
// refreshes are each seen within ten refreshes, while the refreshes cost on
// average little more than the incremental listing's.
func TestRecheckOnSyntheticArchives(t *testing.T) {
	s3 := testenv.StartS3(t)
	for _, layout := range []string{"pgbackrest", "walg"} {
		t.Run(layout, func(t *testing.T) {
			syn := newSynthetic(t, s3, layout)
			a := newSyntheticArchive(t, syn, layout)
			a.backup(t, 2, time.Now().Add(-time.Hour))
			const late = 1000
			a.segments(t, 1, 2, late)
			a.segments(t, 1, late+1, 2502)
			c := newClocked(t, defaultRefresh(syn.config(t, layout, a.path)))
			st, _ := c.refresh(t)
			if st.Missing[1] != 1 || st.Segments != 2499 || !st.WindowStart.IsZero() {
				t.Fatalf("first refresh: missing %v, %d segments, window from %s", st.Missing, st.Segments, st.WindowStart)
			}
			requests := 0.0
			step := func() *repo.State {
				st, n := c.refresh(t)
				requests += n
				return st
			}
			for range 12 {
				step()
			}
			a.segments(t, 1, late, late+1)
			found := 0
			for i := 1; i <= 10 && found == 0; i++ {
				if st := step(); st.Missing[1] == 0 {
					found = i
					if st.Segments != 2500 || st.WindowStart.IsZero() {
						t.Errorf("late segment found: %d segments, window from %s", st.Segments, st.WindowStart)
					}
				}
			}
			if found == 0 {
				t.Fatalf("segment %d, archived late, not found within 10 refreshes", late)
			}
			// One deletion before each of ten refreshes, spread over the
			// pass's pages: whichever slice a refresh lists, each is seen
			// within ten refreshes of its deletion.
			victims := []uint64{300, 1300, 2300, 700, 1700, 2450, 1100, 2100, 500, 1500}
			deletedAt, seenAt := map[uint64]int{}, map[uint64]int{}
			for c.n < 100 && len(seenAt) < len(victims) {
				if k := len(deletedAt); k < len(victims) {
					a.remove(t, 1, victims[k])
					deletedAt[victims[k]] = c.n
				}
				st := step()
				for v, at := range deletedAt {
					if _, ok := seenAt[v]; !ok && !st.Timelines[1].Contains(v) {
						seenAt[v] = c.n - at
					}
				}
				if len(seenAt) == len(victims) && (st.Missing[1] != uint64(len(victims)) || st.DeletedSegments != uint64(len(victims)) || st.Segments != 2500-int64(len(victims))) {
					t.Errorf("all seen: missing %v, %d deleted, %d segments", st.Missing, st.DeletedSegments, st.Segments)
				}
			}
			worst := 0
			for _, v := range victims {
				d, ok := seenAt[v]
				if !ok || d > 10 {
					t.Errorf("segment %d deleted before refresh %d: seen after %d refreshes (%v), want at most 10", v, deletedAt[v], d, ok)
				}
				worst = max(worst, d)
			}
			refreshes := float64(c.n - 1)
			avg := requests / refreshes
			t.Logf("%s: late segment found %d refreshes after it was archived, deletions seen after at most %d; %.2f S3 requests a refresh over %v", layout, found, worst, avg, refreshes)
			if avg > 4+1 {
				t.Errorf("%.2f S3 requests a refresh on average, want at most 5", avg)
			}
		})
	}
}

// syntheticArchive writes segments of either layout as files of the S3
// server's posix backend.
type syntheticArchive struct {
	syn    *synthetic
	layout string
	path   string // the repository's path in the bucket
}

func newSyntheticArchive(t *testing.T, syn *synthetic, layout string) *syntheticArchive {
	a := &syntheticArchive{syn: syn, layout: layout, path: "/repo"}
	if layout == "walg" {
		a.path = "db"
	}
	return a
}

func (a *syntheticArchive) key(seg wal.Segment) string {
	name := a.syn.geo.Name(seg)
	if a.layout == "walg" {
		return "db/wal_005/" + name + ".lz4"
	}
	return fmt.Sprintf("repo/archive/main/15-1/%s/%s-%x.gz", name[:16], name, sha1.Sum([]byte(name)))
}

// backup records one full backup starting at segment start of timeline 1.
func (a *syntheticArchive) backup(t *testing.T, start uint64, stop time.Time) {
	if a.layout == "pgbackrest" {
		a.syn.pgbackrestInfo(t, start, stop)
		return
	}
	name := a.syn.geo.Name(wal.Segment{Timeline: 1, Number: start})
	a.syn.put(t, "db/basebackups_005/base_"+name+"_backup_stop_sentinel.json", fmt.Appendf(nil,
		`{"StartTime":%q,"FinishTime":%q,"UncompressedSize":1000}`, stop.Add(-time.Minute).UTC().Format(time.RFC3339Nano), stop.UTC().Format(time.RFC3339Nano)))
}

// segments writes segments [from, to) of a timeline.
func (a *syntheticArchive) segments(t *testing.T, tl uint32, from, to uint64) {
	for n := from; n < to; n++ {
		p := filepath.Join(a.syn.s3.Dir, a.syn.bucket, a.key(wal.Segment{Timeline: tl, Number: n}))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func (a *syntheticArchive) remove(t *testing.T, tl uint32, n uint64) {
	if err := os.Remove(filepath.Join(a.syn.s3.Dir, a.syn.bucket, a.key(wal.Segment{Timeline: tl, Number: n}))); err != nil {
		t.Fatal(err)
	}
}

// TestLateParentSegmentsAfterPromotion: the old primary archives its last
// segments after the new timeline's history file was listed, whose key
// sorts after them. The next refresh finds them (without waiting for the
// re-check), and the chain ends at the newest of them until the new
// timeline has a segment; in both layouts.
func TestLateParentSegmentsAfterPromotion(t *testing.T) {
	s3 := testenv.StartS3(t)
	for _, layout := range []string{"pgbackrest", "walg"} {
		t.Run(layout, func(t *testing.T) {
			syn := newSynthetic(t, s3, layout)
			a := newSyntheticArchive(t, syn, layout)
			a.backup(t, 2, time.Now().Add(-time.Hour))
			a.segments(t, 1, 2, 7)                                    // 2..6
			history := "1\t0/9000028\tno recovery target specified\n" // timeline 2 from segment 9
			if layout == "walg" {
				syn.put(t, "db/wal_005/00000002.history", []byte(history))
			} else {
				syn.put(t, "repo/archive/main/15-1/00000002.history", []byte(history))
			}
			c := newClocked(t, defaultRefresh(syn.config(t, layout, a.path)))
			st, _ := c.refresh(t)
			if st.NewestTimeline != 2 || st.ChainTimeline != 1 || st.NewestSegment != 6 || totalMissing(st) != 0 || st.WindowStart.IsZero() {
				t.Fatalf("promoted, no segment of 2 yet: timeline %d, chain end %d/%d, missing %v, window from %s", st.NewestTimeline, st.ChainTimeline, st.NewestSegment, st.Missing, st.WindowStart)
			}
			time.Sleep(1100 * time.Millisecond) // the late ones are newer objects
			a.segments(t, 1, 7, 9)              // 7 and 8, the last before the switch
			st, n := c.refresh(t)
			if st.ChainTimeline != 1 || st.NewestSegment != 8 || st.Segments != 7 || !st.NewestWALTime.After(st.WindowStart) {
				t.Errorf("late segments of timeline 1: chain end %d/%d, %d segments", st.ChainTimeline, st.NewestSegment, st.Segments)
			}
			if n > maxRequestsPerRefresh+1 { // the tail's listing and the newest's time
				t.Errorf("%v requests", n)
			}
			a.segments(t, 2, 9, 10)
			st, _ = c.refresh(t)
			if st.ChainTimeline != 2 || st.NewestSegment != 9 || totalMissing(st) != 0 || st.WindowStart.IsZero() {
				t.Errorf("timeline 2's first segment: chain end %d/%d, missing %v, window from %s", st.ChainTimeline, st.NewestSegment, st.Missing, st.WindowStart)
			}
			before := c.stats.Total()
			c.refresh(t)
			if n := c.stats.Total() - before; n > maxRequestsPerRefresh {
				t.Errorf("unchanged after the promotion: %v requests", n)
			}
		})
	}
}

// TestNoWindowNoSeries: with a gap between the only backup and the newest
// segment there is no window, and its series are absent rather than 0 (the
// rules read absence while pitr_up is 1); the re-check's figures are there.
func TestNoWindowNoSeries(t *testing.T) {
	s3 := testenv.StartS3(t)
	syn := newSynthetic(t, s3, "repo")
	a := newSyntheticArchive(t, syn, "pgbackrest")
	a.backup(t, 2, time.Now().Add(-time.Hour))
	a.segments(t, 1, 2, 5)
	a.segments(t, 1, 6, 9) // 5 lost
	mon, err := build(syn.config(t, "pgbackrest", "/repo"), discard())
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(mon)
	mon.RefreshOnce(context.Background())
	m := metrictest.Gather(t, reg)
	if m.Get(t, "pitr_up") != 1 || m.Get(t, `pitr_wal_missing_segments{timeline="1"}`) != 1 {
		t.Fatalf("up %v, missing %v", m["pitr_up"], m.Pick("pitr_wal_missing_segments"))
	}
	if w := m.Pick("pitr_window_start", "pitr_window_end"); len(w) != 0 {
		t.Errorf("no window, yet %v", w)
	}
	if m.Get(t, "pitr_wal_recheck_last_complete_timestamp_seconds") < float64(time.Now().Add(-time.Minute).Unix()) || m.Get(t, "pitr_wal_deleted_segments_total") != 0 {
		t.Errorf("re-check figures after the first listing: %v", m.Pick("pitr_wal_recheck", "pitr_wal_deleted"))
	}
	a.segments(t, 1, 5, 6) // found again (the next complete listing, here)
	mon, err = build(syn.config(t, "pgbackrest", "/repo"), discard())
	if err != nil {
		t.Fatal(err)
	}
	reg = prometheus.NewPedanticRegistry()
	reg.MustRegister(mon)
	mon.RefreshOnce(context.Background())
	if m := metrictest.Gather(t, reg); m.Get(t, "pitr_window_start_timestamp_seconds") == 0 || m.Get(t, "pitr_window_end_timestamp_seconds") == 0 {
		t.Errorf("a window, yet %v", m.Pick("pitr_window_start", "pitr_window_end"))
	}
}

// TestLayoutsSortByPosition checks what the re-check and the chain's end
// rely on in both layouts: segment keys sort by timeline, then number
// (across pgBackRest's folders too), and SegmentKey is a prefix of a
// segment's keys that sorts before them.
func TestLayoutsSortByPosition(t *testing.T) {
	g, _ := wal.NewGeometry(wal.DefaultSegmentSize)
	layouts := map[string]repo.Layout{
		"pgbackrest": &pgbackrest.Layout{Path: "/repo", Stanza: "main", Geometry: g},
		"walg":       &walg.Layout{Path: "db", Geometry: g},
	}
	prefixes := map[string]string{"pgbackrest": "repo/archive/main/15-1/", "walg": "db/wal_005/"}
	var segs []wal.Segment
	for _, s := range [][2]uint64{{1, 0}, {1, 1}, {1, 255}, {1, 256}, {1, 4096}, {2, 3}, {2, 300}, {0x10, 1}, {0x10, 1 << 20}} {
		segs = append(segs, wal.Segment{Timeline: uint32(s[0]), Number: s[1]})
	}
	for name, l := range layouts {
		a := &syntheticArchive{syn: &synthetic{geo: g}, layout: name}
		for i, s := range segs {
			key := a.key(s)
			rel, ok := strings.CutPrefix(key, prefixes[name])
			if !ok {
				t.Fatalf("%s: key %s outside %s", name, key, prefixes[name])
			}
			if kind, got, err := l.ParseKey(rel); err != nil || kind != repo.KeySegment || got != s {
				t.Errorf("%s: %s parses as %v %v %v", name, rel, kind, got, err)
			}
			if sk := l.SegmentKey(s); !strings.HasPrefix(rel, sk) {
				t.Errorf("%s: SegmentKey %s is not a prefix of %s", name, sk, rel)
			}
			if i > 0 && a.key(segs[i-1]) >= key {
				t.Errorf("%s: %s sorts after %s", name, a.key(segs[i-1]), key)
			}
		}
	}
}
