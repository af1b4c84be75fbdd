package repo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
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
	// FullListEvery forces a complete listing this often: the backstop for
	// what the re-check does not cover (segments before the oldest backup,
	// deleted history files).
	FullListEvery time.Duration
	// RecheckWithin bounds how long a change to the keys recovery needs (a
	// deleted segment, one archived late behind the listing) goes unseen:
	// every key from the oldest backup's WAL start on is listed again
	// within this time, a slice per refresh. Zero means 10 minutes.
	RecheckWithin time.Duration
	// Interval is how often Refresh is called; the re-check spreads a pass
	// over the refreshes that RecheckWithin holds. Zero means 1 minute.
	Interval time.Duration
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

	Segments  int64                   // archived segment objects
	Timelines map[uint32]*wal.Runs    // segments present, per timeline
	Histories map[uint32][]wal.Switch // per timeline with a history file
	// NewestTimeline is the newest timeline, from its segments or, right
	// after a promotion, from its history file alone.
	NewestTimeline uint32
	// ChainTimeline and NewestSegment are the newest segment by WAL
	// position on the chain to NewestTimeline (see wal.ChainEnd): on the
	// parent timeline while the newest has no segment archived yet.
	ChainTimeline uint32
	NewestSegment uint64
	// NewestWALTime is when that segment was archived: its object's
	// LastModified when first seen, so a later copy of it (or of any older
	// segment) does not move it.
	NewestWALTime time.Time

	// Missing counts, per timeline, the segments absent from the chain that
	// recovery from the oldest backup to the newest segment replays.
	Missing map[uint32]uint64
	// WindowStart and WindowEnd bound the points recoverable: from the end
	// of the oldest backup whose WAL chain to the newest segment is
	// unbroken, to the newest archived segment. Zero when there is none.
	WindowStart, WindowEnd time.Time

	// DeletedSegments counts the segments found gone, since the watcher
	// started, from the keys recovery needs (the oldest backup's WAL start
	// on): by the re-check or by a complete listing.
	DeletedSegments uint64
	// RecheckComplete is when the last re-check pass over those keys
	// ended, or the last complete listing.
	RecheckComplete time.Time
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
	rc       recheck
	deleted  uint64

	// The chain's newest segment, its history and its time as first seen:
	// kept across refreshes so a re-upload does not move the time.
	end     wal.Segment
	endHist []wal.Switch
	endAt   time.Time
}

type walState struct {
	folders   []string // sorted folder keys under the prefix; none for a flat layout
	segments  int64
	sets      map[uint32]*wal.Runs
	histories map[uint32][]wal.Switch
	newestTL  uint32
	// top holds, per timeline, the LastModified of its highest segment as
	// first seen, so the chain's end usually needs no request of its own.
	top     map[uint32]stamp
	lastKey string
}

type stamp struct {
	n  uint64
	at time.Time
}

func newWALState() walState {
	return walState{sets: map[uint32]*wal.Runs{}, histories: map[uint32][]wal.Switch{}, top: map[uint32]stamp{}}
}

// NewWatcher builds a watcher; nothing is read until Refresh.
func NewWatcher(layout Layout, store *s3store.Store, opt Options, logger *slog.Logger) *Watcher {
	if opt.RelistWindow == 0 {
		opt.RelistWindow = 256
	}
	if opt.RecheckWithin <= 0 {
		opt.RecheckWithin = 10 * time.Minute
	}
	if opt.Interval <= 0 {
		opt.Interval = time.Minute
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
	sort.SliceStable(backups, func(i, j int) bool { return backups[i].Stop.Before(backups[j].Stop) })
	start := rangeStart(backups)
	full := prefix != w.prefix || w.opt.FullListEvery <= 0 || now.Sub(w.lastFull) >= w.opt.FullListEvery
	if full {
		fresh, err := w.listAll(ctx, prefix)
		if err != nil {
			return nil, err
		}
		if prefix == w.prefix {
			if n := w.wal.replaceFrom(start, &fresh); n > 0 {
				w.deleted += n
				w.logger.Warn("WAL segments recovery needs were deleted", "count", n, "seen_by", "full listing")
			}
			fresh.keepFirstSeen(&w.wal)
		} else { // the first listing, or another archive: nothing carries over
			w.end, w.endHist, w.endAt = wal.Segment{}, nil, time.Time{}
			// Later complete listings leave the passes' pace alone: they
			// are extra visits, and a pass started anew after each would
			// leave its last keys unlisted for longer than RecheckWithin.
			w.rc = firstPass(now, w.opt.RecheckWithin, w.opt.Interval, fresh.countFrom(start)+len(backups)+len(fresh.histories))
		}
		w.wal, w.prefix, w.lastFull = fresh, prefix, now
		w.rc.done = now // a complete listing lists the whole range too
	} else {
		if err := w.listNew(ctx, prefix, w.after, &w.wal); err != nil {
			return nil, err // what was listed before the error is kept: keys only add up
		}
		if err := w.listParentTails(ctx, prefix); err != nil {
			return nil, err
		}
		if err := w.recheckStep(ctx, prefix, start, len(backups), now); err != nil {
			return nil, err
		}
	}
	w.after = w.wal.lastKey
	if gap, ok := w.recentGap(); ok {
		if k := prefix + w.layout.SegmentKey(gap); k < w.after {
			w.after = k
		}
	}
	if err := w.findEnd(ctx, prefix); err != nil {
		return nil, err
	}
	return w.state(now, backups, encrypted), nil
}

// rangeStart is the first segment recovery from any retained backup needs:
// the re-check covers the keys from there on. Zero (everything) without
// backups.
func rangeStart(backups []Backup) wal.Segment {
	var s wal.Segment
	for i, b := range backups {
		if i == 0 || segLess(b.WALStart, s) {
			s = b.WALStart
		}
	}
	return s
}

// segLess orders segments as both layouts' keys sort: by timeline, then
// number.
func segLess(a, b wal.Segment) bool {
	return a.Timeline < b.Timeline || a.Timeline == b.Timeline && a.Number < b.Number
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
		_, _, err := w.add(ctx, prefix, o, &st)
		return err
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

// pageKeys is how many keys one listing request returns (s3store asks for
// S3's maximum).
const pageKeys = 1000

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
		_, _, err := w.add(ctx, prefix, o, st)
		return err
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

// errEnough stops a listing that has read what it came for.
var errEnough = errors.New("listed enough")

// listParentTails lists, for each ancestor of the newest timeline whose
// segments stop short of its switch point, what follows its newest
// segment. After a promotion the old primary may still be archiving its
// last segments, whose keys sort before the new timeline's, where the
// incremental listing has moved on. One request per such timeline, while
// the gap is within RelistWindow of the switch.
func (w *Watcher) listParentTails(ctx context.Context, prefix string) error {
	for _, sw := range w.wal.histories[w.wal.newestTL] {
		r := w.wal.sets[sw.Parent]
		first := w.opt.Geometry.SegmentOf(sw.LSN) // the child's from here
		if r == nil || first == 0 {
			continue
		}
		m, ok := r.MaxAtMost(first - 1)
		if !ok || m+1 >= first || first-1-m > w.opt.RelistWindow {
			continue
		}
		after := prefix + w.layout.SegmentKey(wal.Segment{Timeline: sw.Parent, Number: m + 1})
		if after >= w.wal.lastKey {
			continue // the incremental listing covers it
		}
		listed := 0
		err := w.store.List(ctx, prefix, after, func(o s3store.Object) error {
			kind, seg, err := w.add(ctx, prefix, o, &w.wal)
			if err != nil {
				return err
			}
			listed++
			if kind == KeySegment && (seg.Timeline != sw.Parent || seg.Number >= first) || listed >= pageKeys {
				return errEnough
			}
			return nil
		})
		if err != nil && !errors.Is(err, errEnough) {
			return err
		}
	}
	return nil
}

// listKeys lists every key under sub (a folder, or the prefix) after after.
func (w *Watcher) listKeys(ctx context.Context, prefix, sub, after string, st *walState) error {
	return w.store.List(ctx, sub, after, func(o s3store.Object) error {
		_, _, err := w.add(ctx, prefix, o, st)
		return err
	})
}

// add records one listed object and says what it was.
func (w *Watcher) add(ctx context.Context, prefix string, o s3store.Object, st *walState) (KeyKind, wal.Segment, error) {
	if o.Key > st.lastKey {
		st.lastKey = o.Key
	}
	rel := strings.TrimPrefix(o.Key, prefix)
	kind, seg, err := w.layout.ParseKey(rel)
	if err != nil {
		w.logger.Warn("Ignoring an object that is not what its name says", "key", o.Key, "err", err)
		return KeyOther, wal.Segment{}, nil
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
		if top, _ := r.Max(); top == seg.Number {
			st.noteTop(seg.Timeline, stamp{seg.Number, o.LastModified})
		}
		st.newestTL = max(st.newestTL, seg.Timeline)
	case KeyHistory:
		st.newestTL = max(st.newestTL, seg.Timeline) // a promotion, maybe with no segment yet
		if _, ok := st.histories[seg.Timeline]; ok {
			return kind, seg, nil
		}
		data, err := w.store.Get(ctx, o.Key, 1<<20)
		if err != nil {
			return kind, seg, err
		}
		h, err := w.layout.History(rel, data)
		if err != nil {
			return kind, seg, fmt.Errorf("history file %s: %w", o.Key, err)
		}
		st.histories[seg.Timeline] = h
	}
	return kind, seg, nil
}

// noteTop records the time of a timeline's highest segment; for the same
// segment the earlier time stays (a copy made later is not new WAL).
func (st *walState) noteTop(tl uint32, s stamp) {
	if old, ok := st.top[tl]; ok && old.n > s.n || ok && old.n == s.n && !s.at.Before(old.at) {
		return
	}
	st.top[tl] = s
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
	for tl, s := range o.top {
		st.noteTop(tl, s)
	}
	st.segments += o.segments
	st.newestTL = max(st.newestTL, o.newestTL)
	if o.lastKey > st.lastKey {
		st.lastKey = o.lastKey
	}
}

// keepFirstSeen carries over the times of highest segments that a fresh
// listing found again, so a complete listing after a re-upload does not
// move them either.
func (st *walState) keepFirstSeen(old *walState) {
	for tl, s := range st.top {
		if o, ok := old.top[tl]; ok && o.n == s.n && o.at.Before(s.at) {
			st.top[tl] = o
		}
	}
}

// replaceFrom makes everything from segment start on what fresh holds,
// and returns how many segments that removed.
func (st *walState) replaceFrom(start wal.Segment, fresh *walState) uint64 {
	removed := uint64(0)
	for tl, r := range st.sets {
		if tl < start.Timeline {
			continue
		}
		lo := uint64(0)
		if tl == start.Timeline {
			lo = start.Number
		}
		removed += r.Clone().Replace(lo, math.MaxUint64, fresh.sets[tl])
	}
	return removed
}

// replaceRange takes a listing of the keys from segment from to segment to
// (to the end of the archive when toEnd) as the truth: the segments known
// there that it lacks were deleted; it returns how many.
func (st *walState) replaceRange(from, to wal.Segment, toEnd bool, listed map[uint32]*wal.Runs) uint64 {
	removed := uint64(0)
	for tl, r := range st.sets {
		if tl < from.Timeline || !toEnd && tl > to.Timeline {
			continue
		}
		lo, hi := uint64(0), uint64(math.MaxUint64)
		if tl == from.Timeline {
			lo = from.Number
		}
		if !toEnd && tl == to.Timeline {
			hi = to.Number
		}
		n := r.Replace(lo, hi, listed[tl])
		if n == 0 {
			continue
		}
		removed += n
		st.segments -= int64(n)
		if s, ok := st.top[tl]; ok && !r.Contains(s.n) {
			delete(st.top, tl) // the next highest's time is looked up when needed
		}
	}
	return removed
}

// countFrom is the number of known segments whose keys sort from segment
// from on.
func (st *walState) countFrom(from wal.Segment) int {
	n := uint64(0)
	for tl, r := range st.sets {
		switch {
		case tl > from.Timeline:
			n += r.Count(0, math.MaxUint64)
		case tl == from.Timeline:
			n += r.Count(from.Number, math.MaxUint64)
		}
	}
	return int(n)
}

// recentGap finds the oldest segment missing among the newest RelistWindow
// of the newest timeline.
func (w *Watcher) recentGap() (wal.Segment, bool) {
	r := w.wal.sets[w.wal.newestTL]
	if r == nil {
		return wal.Segment{}, false
	}
	hi, ok := r.Max()
	if !ok {
		return wal.Segment{}, false
	}
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

// maxEndLookups bounds the requests findEnd makes for segments that vanish
// as they are looked up.
const maxEndLookups = 8

// findEnd settles the chain's newest segment and its time. The time is
// that of the object as first seen: usually known from the listing; after
// the highest segment was deleted, or on a parent timeline whose own
// segments go on past the switch, one listing of that segment's key.
func (w *Watcher) findEnd(ctx context.Context, prefix string) error {
	for range maxEndLookups {
		end, hist, ok := wal.ChainEnd(w.opt.Geometry, w.wal.sets, w.wal.histories[w.wal.newestTL], w.wal.newestTL)
		if !ok {
			w.end, w.endHist, w.endAt = wal.Segment{}, nil, time.Time{}
			return nil
		}
		w.endHist = hist
		if end == w.end {
			return nil
		}
		if s, ok := w.wal.top[end.Timeline]; ok && s.n == end.Number {
			w.end, w.endAt = end, s.at
			return nil
		}
		at, found, err := w.segmentTime(ctx, prefix, end)
		if err != nil {
			return err
		}
		if found {
			if top, _ := w.wal.sets[end.Timeline].Max(); top == end.Number {
				w.wal.noteTop(end.Timeline, stamp{end.Number, at})
			}
			w.end, w.endAt = end, at
			return nil
		}
		// Deleted since it was listed: the one before it is the end.
		w.deleted += w.wal.replaceRange(end, end, false, nil)
	}
	return fmt.Errorf("the newest WAL segments under %s vanish as they are looked up (%d tried)", prefix, maxEndLookups)
}

// segmentTime lists the keys of one segment for its LastModified.
func (w *Watcher) segmentTime(ctx context.Context, prefix string, seg wal.Segment) (time.Time, bool, error) {
	var at time.Time
	found := false
	err := w.store.List(ctx, prefix+w.layout.SegmentKey(seg), "", func(o s3store.Object) error {
		kind, s, err := w.layout.ParseKey(strings.TrimPrefix(o.Key, prefix))
		if err == nil && kind == KeySegment && s == seg && (!found || o.LastModified.Before(at)) {
			at, found = o.LastModified, true
		}
		return nil
	})
	return at, found, err
}

func (w *Watcher) state(now time.Time, backups []Backup, encrypted bool) *State {
	s := &State{
		Time: now, Backups: backups, Encrypted: encrypted,
		Segments: w.wal.segments, Timelines: map[uint32]*wal.Runs{}, Histories: map[uint32][]wal.Switch{},
		NewestTimeline: w.wal.newestTL, ChainTimeline: w.end.Timeline, NewestSegment: w.end.Number, NewestWALTime: w.endAt,
		Missing: map[uint32]uint64{}, DeletedSegments: w.deleted, RecheckComplete: w.rc.done,
	}
	for tl, r := range w.wal.sets {
		s.Timelines[tl] = r.Clone()
	}
	for tl, h := range w.wal.histories {
		s.Histories[tl] = h
	}
	if s.ChainTimeline == 0 {
		return s
	}
	g := w.opt.Geometry
	// The chain the oldest usable backup needs: gaps before it do not count.
	chainFound := false
	for _, b := range backups {
		spans, ok := wal.Path(g, w.endHist, s.ChainTimeline, b.WALStart, s.NewestSegment)
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
	if !chainFound { // no backup: count gaps from the oldest segment of the chain's timeline
		if first, ok := s.Timelines[s.ChainTimeline].Min(); ok {
			spans, _ := wal.Path(g, w.endHist, s.ChainTimeline, wal.Segment{Timeline: s.ChainTimeline, Number: first}, s.NewestSegment)
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
