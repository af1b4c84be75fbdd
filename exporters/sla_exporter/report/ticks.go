package report

import (
	"math"
	"strconv"
	"time"

	"gonum.org/v1/plot"
)

// dayTicks marks the x axis (Unix seconds) at midnights in the period's
// time zone, so a day on the chart is a day of the report and not a UTC
// one: every day when the axis spans a week (8 midnights, with weekdays),
// else every few days with a minor tick on the others: at most 8 labels,
// which fit the narrowest chart without running into each other.
type dayTicks struct{ loc *time.Location }

func (d dayTicks) Ticks(lo, hi float64) []plot.Tick {
	start := time.Unix(int64(math.Floor(lo)), 0).In(d.loc)
	end := time.Unix(int64(math.Ceil(hi)), 0).In(d.loc)
	n := int(end.Sub(start).Hours()/24) + 1
	every := 1
	for _, e := range []int{1, 2, 3, 5, 7, 14, 28} {
		every = e
		if n/e <= 8 {
			break
		}
	}
	format := "01/02"
	if every == 1 {
		format = "Mon 01/02"
	}
	y, m, day := start.Date()
	var ticks []plot.Tick
	for i := 0; ; i++ {
		// Counted in calendar days, not 24 h steps: a day is 23 or 25
		// hours across a daylight saving change.
		t := time.Date(y, m, day+i, 0, 0, 0, 0, d.loc)
		if t.After(end) {
			break
		}
		v := float64(t.Unix())
		if v < lo {
			continue
		}
		tick := plot.Tick{Value: v}
		if i%every == 0 {
			tick.Label = t.Format(format)
		}
		ticks = append(ticks, tick)
	}
	return ticks
}

// countTicks marks a count axis at whole numbers only.
type countTicks struct{}

func (countTicks) Ticks(lo, hi float64) []plot.Tick {
	// 1, 2, 5, 10, 20, 50, ...: at most 10 labels.
	step := 1.0
	for i := 0; (hi-lo)/step > 10; i++ {
		step = []float64{2, 5, 10}[i%3] * math.Pow(10, float64(i/3))
	}
	var ticks []plot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi; v += step {
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', 0, 64)})
	}
	return ticks
}
