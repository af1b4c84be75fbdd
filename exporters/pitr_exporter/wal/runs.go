package wal

import "sort"

// Run is a contiguous range of segment numbers, both ends included.
type Run struct{ First, Last uint64 }

// Runs is a set of segment numbers kept as sorted, disjoint, non-adjacent
// runs. Archived WAL is nearly contiguous, so this stays tiny.
type Runs struct{ runs []Run }

// Add inserts n.
func (r *Runs) Add(n uint64) {
	rs := r.runs
	// Fast path: appending in order, the common case of a listing.
	if k := len(rs); k > 0 {
		last := &rs[k-1]
		if n == last.Last+1 {
			last.Last = n
			return
		}
		if n > last.Last+1 {
			r.runs = append(rs, Run{n, n})
			return
		}
	} else {
		r.runs = append(rs, Run{n, n})
		return
	}
	i := sort.Search(len(rs), func(i int) bool { return rs[i].Last+1 >= n })
	switch {
	case i < len(rs) && rs[i].First <= n && n <= rs[i].Last:
		return // present
	case i < len(rs) && rs[i].Last+1 == n:
		rs[i].Last = n
		if i+1 < len(rs) && rs[i+1].First == n+1 { // joins the next run
			rs[i].Last = rs[i+1].Last
			r.runs = append(rs[:i+1], rs[i+2:]...)
		}
	case i < len(rs) && n+1 == rs[i].First:
		rs[i].First = n
	default:
		r.runs = append(rs, Run{})
		copy(r.runs[i+1:], r.runs[i:])
		r.runs[i] = Run{n, n}
	}
}

// Contains reports whether n is in the set.
func (r *Runs) Contains(n uint64) bool {
	i := sort.Search(len(r.runs), func(i int) bool { return r.runs[i].Last >= n })
	return i < len(r.runs) && r.runs[i].First <= n
}

// Missing counts the numbers of [first, last] not in the set.
func (r *Runs) Missing(first, last uint64) uint64 {
	if last < first {
		return 0
	}
	have := uint64(0)
	for _, run := range r.runs {
		lo, hi := max(run.First, first), min(run.Last, last)
		if lo <= hi {
			have += hi - lo + 1
		}
	}
	return last - first + 1 - have
}

// Max returns the largest number, and false for an empty set.
func (r *Runs) Max() (uint64, bool) {
	if len(r.runs) == 0 {
		return 0, false
	}
	return r.runs[len(r.runs)-1].Last, true
}

// Min returns the smallest number, and false for an empty set.
func (r *Runs) Min() (uint64, bool) {
	if len(r.runs) == 0 {
		return 0, false
	}
	return r.runs[0].First, true
}

// Len is the number of runs (not of segments).
func (r *Runs) Len() int { return len(r.runs) }

// Clone returns an independent copy.
func (r *Runs) Clone() *Runs { return &Runs{runs: append([]Run(nil), r.runs...)} }

// Merge adds every number of o.
func (r *Runs) Merge(o *Runs) {
	for _, run := range o.runs {
		if k := len(r.runs); k == 0 || run.First > r.runs[k-1].Last+1 {
			r.runs = append(r.runs, run) // disjoint and after: the common case
			continue
		}
		for n := run.First; n <= run.Last; n++ {
			r.Add(n)
		}
	}
}

// Count is the number of numbers of [first, last] in the set.
func (r *Runs) Count(first, last uint64) uint64 {
	n := uint64(0)
	for _, run := range r.runs {
		lo, hi := max(run.First, first), min(run.Last, last)
		if lo <= hi {
			n += hi - lo + 1
		}
	}
	return n
}

// MaxAtMost returns the largest number not above n, and false when there
// is none.
func (r *Runs) MaxAtMost(n uint64) (uint64, bool) {
	i := sort.Search(len(r.runs), func(i int) bool { return r.runs[i].First > n })
	if i == 0 {
		return 0, false
	}
	return min(r.runs[i-1].Last, n), true
}

// Replace makes the part of the set within [first, last] what it is in
// with (nil: empty), leaving the rest alone, and returns how many numbers
// it removed. A listing of a key range is the truth for that range: what
// the set holds there and the listing lacks was deleted.
func (r *Runs) Replace(first, last uint64, with *Runs) (removed uint64) {
	if last < first {
		return 0
	}
	var out []Run
	for _, run := range r.runs {
		if run.Last < first || run.First > last {
			out = append(out, run)
			continue
		}
		lo, hi := max(run.First, first), min(run.Last, last)
		if with == nil {
			removed += hi - lo + 1
		} else {
			removed += with.Missing(lo, hi)
		}
		if run.First < first {
			out = append(out, Run{run.First, first - 1})
		}
		if run.Last > last {
			out = append(out, Run{last + 1, run.Last})
		}
	}
	if with != nil {
		for _, run := range with.runs {
			if lo, hi := max(run.First, first), min(run.Last, last); lo <= hi {
				out = append(out, Run{lo, hi})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].First < out[j].First })
	// Re-join what touches: a run cut at first-1 and a kept one from first.
	r.runs = r.runs[:0]
	for _, run := range out {
		if k := len(r.runs); k > 0 && run.First <= r.runs[k-1].Last+1 {
			r.runs[k-1].Last = max(r.runs[k-1].Last, run.Last)
			continue
		}
		r.runs = append(r.runs, run)
	}
	return removed
}
