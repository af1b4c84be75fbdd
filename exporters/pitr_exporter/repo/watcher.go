package repo

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/s3store"
	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/wal"
)

// Options tune a Watcher.
type Options struct {
	Geometry wal.Geometry
	// FullListEvery forces a complete listing this often: only a complete
	// listing sees deleted objects.
	FullListEvery time.Duration
	// RelistWindow: while a segment among the newest this many is missing,
	// listing restarts just before it, so a segment archived out of order
	// (parallel archive-push) is not missed. One page covers 1,000.
	RelistWindow uint64
}

// State is what one refresh found. It is not changed after Refresh returns.
type State struct {
	Time      time.Time
	Backups   []Backup // oldest first
	Encrypted bool

	Segments       int64                   // archived segment objects
	Timelines      map[uint32]*wal.Runs    // segments present, per timeline
	Histories      map[uint32][]wal.Switch // per timeline with a history file
	NewestTimeline uint32
	NewestSegment  uint64
	NewestWALTime  time.Time // when the newest segment was archived (its LastModified)

	// Missing counts, per timeline, the segments absent from the chain that
	// recovery from the oldest backup to the newest segment replays.
	Missing map[uint32]uint64
	// WindowStart and WindowEnd bound the points recoverable: from the end
	// of the oldest backup whose WAL chain to the newest segment is
	// unbroken, to the newest archived segment. Zero when there is none.
	WindowStart, WindowEnd time.Time
}

// Watcher refreshes the State of one repository.
type Watcher struct {
	layout Layout
	store  *s3store.Store
	opt    Options
	logger *slog.Logger

	prefix   string
	after    string // last key listed under prefix
	lastFull time.Time
	wal      walState
}

type walState struct {
	folders   []string // sorted folder keys under the prefix; none for a flat layout
	segments  int64
	sets      map[uint32]*wal.Runs
	histories map[uint32][]wal.Switch
	newestTL  uint32
	newestSeg uint64
	newestAt  time.Time
	lastKey   string
}

func newWALState() walState {
	return walState{sets: map[uint32]*wal.Runs{}, histories: map[uint32][]wal.Switch{}}
}

// NewWatcher builds a watcher; nothing is read until Refresh.
func NewWatcher(layout Layout, store *s3store.Store, opt Options, logger *slog.Logger) *Watcher {
	if opt.RelistWindow == 0 {
		opt.RelistWindow = 256
	}
	return &Watcher{layout: layout, store: store, opt: opt, logger: logger, wal: newWALState()}
}

// Prefix is the WAL prefix of the last successful refresh.
func (w *Watcher) Prefix() string { return w.prefix }

// Refresh reads what changed. On error the watcher keeps what it had, so
// the next refresh resumes; the caller keeps serving the last good State.
func (w *Watcher) Refresh(ctx context.Context, now time.Time) (*State, error) {
	backups, prefix, encrypted, err := w.layout.Catalog(ctx, w.store)
	if err != nil {
		return nil, err
	}
	full := prefix != w.prefix || w.opt.FullListEvery <= 0 || now.Sub(w.lastFull) >= w.opt.FullListEvery
	if full {
		fresh, err := w.listAll(ctx, prefix)
		if err != nil {
			return nil, err
		}
		w.wal, w.prefix, w.lastFull = fresh, prefix, now
	} else if err := w.listNew(ctx, prefix, w.after, &w.wal); err != nil {
		return nil, err // what was listed before the error is kept: keys only add up
	}
	w.after = w.wal.lastKey
	if gap, ok := w.recentGap(); ok {
		if k := prefix + w.layout.SegmentKey(gap); k < w.after {
			w.after = k
		}
	}
	return w.state(now, backups, encrypted), nil
}

// listAll lists the whole archive: one level first, then every folder in
// parallel (pgBackRest files WAL in a folder per timeline and 4 GiB; on S3
// a listing is one request per 1,000 keys, so folders listed side by side
// finish sooner).
func (w *Watcher) listAll(ctx context.Context, prefix string) (walState, error) {
	st := newWALState()
	err := w.store.ListFolders(ctx, prefix, "", func(o s3store.Object, folder bool) error {
		if folder {
			st.folders = append(st.folders, o.Key)
			return nil
		}
		return w.add(ctx, prefix, o, &st)
	})
	if err != nil {
		return st, err
	}
	parts := make([]walState, len(st.folders))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(listWorkers)
	for i, f := range st.folders {
		parts[i] = newWALState()
		g.Go(func() error { return w.listKeys(gctx, prefix, f, "", &parts[i]) })
	}
	if err := g.Wait(); err != nil {
		return st, err
	}
	for i := range parts {
		st.merge(&parts[i])
	}
	return st, nil
}

// listWorkers bounds parallel folder listings.
const listWorkers = 8

// listNew lists what sorts after the key after. In a foldered archive that
// is the folder holding after, from there, and any folder or top-level
// object newer than it (one level listing); in a flat one, the prefix.
func (w *Watcher) listNew(ctx context.Context, prefix, after string, st *walState) error {
	if len(st.folders) == 0 {
		return w.listKeys(ctx, prefix, prefix, after, st)
	}
	from := sort.SearchStrings(st.folders, after) // first folder >= after
	if from > 0 && strings.HasPrefix(after, st.folders[from-1]) {
		from-- // after is inside that folder
	}
	for _, f := range st.folders[min(from, len(st.folders)-1):] {
		if err := w.listKeys(ctx, prefix, f, max(after, f), st); err != nil {
			return err
		}
	}
	last := st.folders[len(st.folders)-1]
	var fresh []string
	err := w.store.ListFolders(ctx, prefix, last, func(o s3store.Object, folder bool) error {
		if folder {
			if o.Key != last {
				fresh = append(fresh, o.Key)
			}
			return nil
		}
		return w.add(ctx, prefix, o, st)
	})
	if err != nil {
		return err
	}
	for _, f := range fresh {
		st.folders = append(st.folders, f)
		if err := w.listKeys(ctx, prefix, f, "", st); err != nil {
			return err
		}
	}
	return nil
}

// listKeys lists every key under sub (a folder, or the prefix) after after.
func (w *Watcher) listKeys(ctx context.Context, prefix, sub, after string, st *walState) error {
	return w.store.List(ctx, sub, after, func(o s3store.Object) error { return w.add(ctx, prefix, o, st) })
}

// add records one listed object.
func (w *Watcher) add(ctx context.Context, prefix string, o s3store.Object, st *walState) error {
	if o.Key > st.lastKey {
		st.lastKey = o.Key
	}
	rel := strings.TrimPrefix(o.Key, prefix)
	kind, seg, err := w.layout.ParseKey(rel)
	if err != nil {
		w.logger.Warn("Ignoring an object that is not what its name says", "key", o.Key, "err", err)
		return nil
	}
	switch kind {
	case KeySegment:
		r := st.sets[seg.Timeline]
		if r == nil {
			r = &wal.Runs{}
			st.sets[seg.Timeline] = r
		}
		if !r.Contains(seg.Number) {
			r.Add(seg.Number)
			st.segments++
		}
		st.noteNewest(seg.Timeline, seg.Number)
		if o.LastModified.After(st.newestAt) {
			st.newestAt = o.LastModified
		}
	case KeyHistory:
		if _, ok := st.histories[seg.Timeline]; ok {
			return nil
		}
		data, err := w.store.Get(ctx, o.Key, 1<<20)
		if err != nil {
			return err
		}
		h, err := w.layout.History(rel, data)
		if err != nil {
			return fmt.Errorf("history file %s: %w", o.Key, err)
		}
		st.histories[seg.Timeline] = h
		if seg.Timeline > st.newestTL { // a promotion with no segment yet
			n := uint64(0)
			if len(h) > 0 {
				n = w.opt.Geometry.SegmentOf(h[len(h)-1].LSN)
			}
			st.newestTL, st.newestSeg = seg.Timeline, n
		}
	}
	return nil
}

func (st *walState) noteNewest(tl uint32, n uint64) {
	if tl > st.newestTL || tl == st.newestTL && n >= st.newestSeg {
		st.newestTL, st.newestSeg = tl, n
	}
}

// merge adds what another listing of disjoint keys found.
func (st *walState) merge(o *walState) {
	for tl, r := range o.sets {
		if st.sets[tl] == nil {
			st.sets[tl] = &wal.Runs{}
		}
		st.sets[tl].Merge(r)
	}
	for tl, h := range o.histories {
		st.histories[tl] = h
	}
	st.segments += o.segments
	if o.newestTL > 0 {
		st.noteNewest(o.newestTL, o.newestSeg)
	}
	if o.newestAt.After(st.newestAt) {
		st.newestAt = o.newestAt
	}
	if o.lastKey > st.lastKey {
		st.lastKey = o.lastKey
	}
}

// recentGap finds the oldest segment missing among the newest RelistWindow
// of the newest timeline.
func (w *Watcher) recentGap() (wal.Segment, bool) {
	r := w.wal.sets[w.wal.newestTL]
	if r == nil {
		return wal.Segment{}, false
	}
	hi := w.wal.newestSeg
	lo := uint64(0)
	if hi > w.opt.RelistWindow {
		lo = hi - w.opt.RelistWindow
	}
	if first, ok := r.Min(); ok && first > lo {
		lo = first
	}
	if r.Missing(lo, hi) == 0 {
		return wal.Segment{}, false
	}
	for n := lo; n <= hi; n++ {
		if !r.Contains(n) {
			return wal.Segment{Timeline: w.wal.newestTL, Number: n}, true
		}
	}
	return wal.Segment{}, false
}

func (w *Watcher) state(now time.Time, backups []Backup, encrypted bool) *State {
	sort.SliceStable(backups, func(i, j int) bool { return backups[i].Stop.Before(backups[j].Stop) })
	s := &State{
		Time: now, Backups: backups, Encrypted: encrypted,
		Segments: w.wal.segments, Timelines: map[uint32]*wal.Runs{}, Histories: map[uint32][]wal.Switch{},
		NewestTimeline: w.wal.newestTL, NewestSegment: w.wal.newestSeg, NewestWALTime: w.wal.newestAt,
		Missing: map[uint32]uint64{},
	}
	for tl, r := range w.wal.sets {
		s.Timelines[tl] = r.Clone()
	}
	for tl, h := range w.wal.histories {
		s.Histories[tl] = h
	}
	if s.NewestTimeline == 0 {
		return s
	}
	hist := s.Histories[s.NewestTimeline]
	g := w.opt.Geometry
	// The chain the oldest usable backup needs: gaps before it do not count.
	chainFound := false
	for _, b := range backups {
		spans, ok := wal.Path(g, hist, s.NewestTimeline, b.WALStart, s.NewestSegment)
		if !ok {
			continue
		}
		missing := wal.MissingOn(s.Timelines, spans)
		if !chainFound {
			s.Missing, chainFound = missing, true
		}
		if total(missing) == 0 {
			s.WindowStart, s.WindowEnd = b.Stop, s.NewestWALTime
			break
		}
	}
	if !chainFound { // no backup: count gaps from the oldest segment of the newest timeline
		if first, ok := s.Timelines[s.NewestTimeline].Min(); ok {
			spans, _ := wal.Path(g, hist, s.NewestTimeline, wal.Segment{Timeline: s.NewestTimeline, Number: first}, s.NewestSegment)
			s.Missing = wal.MissingOn(s.Timelines, spans)
		}
	}
	return s
}

func total(m map[uint32]uint64) uint64 {
	t := uint64(0)
	for _, v := range m {
		t += v
	}
	return t
}
