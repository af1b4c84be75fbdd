// Package period is the calendar periods SLAs and reports are written
// for: an ISO week, a month, a quarter, a year, in one time zone. Contracts
// say "November in Tokyo", not "the last 30 days".
package period

import (
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// Period is [Start, End) in the location it was made in.
type Period struct {
	Span  string // week, month, quarter or year
	Name  string // 2026-W48, 2026-11, 2026-Q4, 2026
	Start time.Time
	End   time.Time
}

// Spans are the kinds of period, shortest first.
var Spans = []string{"week", "month", "quarter", "year"}

// Containing is the period of the span that contains t, in loc.
func Containing(span string, t time.Time, loc *time.Location) (Period, error) {
	t = t.In(loc)
	y, m, d := t.Date()
	var start time.Time
	switch span {
	case "week":
		// ISO 8601: weeks start on Monday.
		back := (int(t.Weekday()) + 6) % 7
		start = time.Date(y, m, d-back, 0, 0, 0, 0, loc)
	case "month":
		start = time.Date(y, m, 1, 0, 0, 0, 0, loc)
	case "quarter":
		start = time.Date(y, m-(m-1)%3, 1, 0, 0, 0, 0, loc)
	case "year":
		start = time.Date(y, 1, 1, 0, 0, 0, 0, loc)
	default:
		return Period{}, fmt.Errorf("unknown span %q (want week, month, quarter or year)", span)
	}
	return at(span, start), nil
}

// at is the period of span starting at start (the first instant of it).
func at(span string, start time.Time) Period {
	p := Period{Span: span, Start: start}
	y, m, d := start.Date()
	loc := start.Location()
	switch span {
	case "week":
		p.End = time.Date(y, m, d+7, 0, 0, 0, 0, loc)
		iy, iw := start.ISOWeek()
		p.Name = fmt.Sprintf("%04d-W%02d", iy, iw)
	case "month":
		p.End = time.Date(y, m+1, 1, 0, 0, 0, 0, loc)
		p.Name = fmt.Sprintf("%04d-%02d", y, int(m))
	case "quarter":
		p.End = time.Date(y, m+3, 1, 0, 0, 0, 0, loc)
		p.Name = fmt.Sprintf("%04d-Q%d", y, (int(m)-1)/3+1)
	case "year":
		p.End = time.Date(y+1, 1, 1, 0, 0, 0, 0, loc)
		p.Name = fmt.Sprintf("%04d", y)
	}
	return p
}

// Previous is the period of the same span just before p.
func (p Period) Previous() Period {
	q, _ := Containing(p.Span, p.Start.Add(-time.Nanosecond), p.Start.Location())
	return q
}

// Next is the period of the same span just after p.
func (p Period) Next() Period {
	q, _ := Containing(p.Span, p.End, p.End.Location())
	return q
}

// Duration is the period's length (a month of 30 days is 720 h).
func (p Period) Duration() time.Duration { return p.End.Sub(p.Start) }

// Elapsed is how much of the period lies before now: all of it once it
// has ended, none before it starts.
func (p Period) Elapsed(now time.Time) time.Duration {
	switch {
	case !now.After(p.Start):
		return 0
	case now.Before(p.End):
		return now.Sub(p.Start)
	}
	return p.Duration()
}

// Contains reports whether t falls in [Start, End).
func (p Period) Contains(t time.Time) bool { return !t.Before(p.Start) && t.Before(p.End) }

var (
	weekName    = regexp.MustCompile(`^(\d{4})-W(\d{2})$`)
	monthName   = regexp.MustCompile(`^(\d{4})-(\d{2})$`)
	quarterName = regexp.MustCompile(`^(\d{4})-Q([1-4])$`)
	yearName    = regexp.MustCompile(`^(\d{4})$`)
)

// Parse reads a period's name: 2026-W48 (ISO week), 2026-11, 2026-Q4 or
// 2026, in loc.
func Parse(name string, loc *time.Location) (Period, error) {
	num := func(s string) int { n, _ := strconv.Atoi(s); return n }
	switch {
	case weekName.MatchString(name):
		m := weekName.FindStringSubmatch(name)
		y, w := num(m[1]), num(m[2])
		// ISO week 1 is the week with January 4th in it.
		jan4 := time.Date(y, 1, 4, 0, 0, 0, 0, loc)
		first, _ := Containing("week", jan4, loc)
		p := at("week", first.Start.AddDate(0, 0, 7*(w-1)))
		if w < 1 || p.Name != name {
			return Period{}, fmt.Errorf("period %q: year %d has no ISO week %d", name, y, w)
		}
		return p, nil
	case monthName.MatchString(name):
		m := monthName.FindStringSubmatch(name)
		mon := num(m[2])
		if mon < 1 || mon > 12 {
			return Period{}, fmt.Errorf("period %q: no month %d", name, mon)
		}
		return at("month", time.Date(num(m[1]), time.Month(mon), 1, 0, 0, 0, 0, loc)), nil
	case quarterName.MatchString(name):
		m := quarterName.FindStringSubmatch(name)
		return at("quarter", time.Date(num(m[1]), time.Month(3*num(m[2])-2), 1, 0, 0, 0, 0, loc)), nil
	case yearName.MatchString(name):
		return at("year", time.Date(num(name), 1, 1, 0, 0, 0, 0, loc)), nil
	}
	return Period{}, fmt.Errorf("period %q: want 2026-W48, 2026-11, 2026-Q4 or 2026", name)
}
