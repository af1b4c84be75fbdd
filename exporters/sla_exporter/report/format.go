package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// unitScale is what a unit's values are multiplied by on a chart or in
// a table: a percent unit is a 0–1 ratio shown as 0–100.
func unitScale(unit string) float64 {
	if unit == "percent" {
		return 100
	}
	return 1
}

// unitLabel is a value axis's label for a unit.
func unitLabel(unit string) string {
	switch unit {
	case "s":
		return "seconds (s)"
	case "percent":
		return "percent (%)"
	case "":
		return "value"
	}
	return unit
}

// formatValue writes a value in its unit: 0.512 s, 99.95%, 12.5 req/s.
func formatValue(v float64, unit string) string {
	if math.IsNaN(v) {
		return "no data"
	}
	n := strconv.FormatFloat(v*unitScale(unit), 'g', 4, 64)
	switch unit {
	case "percent":
		return n + "%"
	case "":
		return n
	}
	return n + " " + unit
}

// formatRatio writes an availability as a percentage with enough digits
// to tell 99.99% from 99.989%.
func formatRatio(v float64) string {
	if math.IsNaN(v) {
		return "no data"
	}
	return strconv.FormatFloat(v*100, 'f', 3, 64) + "%"
}

// formatShare writes a 0–1 share as a whole or one-decimal percentage.
func formatShare(v float64) string {
	if math.IsNaN(v) {
		return "no data"
	}
	return strconv.FormatFloat(v*100, 'f', 1, 64) + "%"
}

// formatDuration writes a repair time or interval: 3h25m, 45m, 2d4h.
func formatDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0m"
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < 24*time.Hour:
		s := strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
		if strings.HasSuffix(s, "h0m") {
			s = strings.TrimSuffix(s, "0m")
		}
		return s
	}
	days := int(d / (24 * time.Hour))
	rest := (d - time.Duration(days)*24*time.Hour).Round(time.Hour)
	return fmt.Sprintf("%dd%dh", days, int(rest.Hours()))
}

// formatStep writes a chart step as PromQL does: 30m, 2h.
func formatStep(d time.Duration) string { return model.Duration(d).String() }

// formatMinutes writes downtime in minutes, the unit SLAs quote.
func formatMinutes(d time.Duration) string {
	return strconv.FormatFloat(d.Minutes(), 'f', 1, 64) + " min"
}

// formatCount writes a count that Prometheus may have extrapolated to a
// fraction (increase): rounded to a whole number.
func formatCount(v float64) string {
	if math.IsNaN(v) {
		return "no data"
	}
	return strconv.FormatFloat(math.Round(v), 'f', 0, 64)
}

// formatTime writes an instant in the report's time zone.
func formatTime(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return "—"
	}
	return t.In(loc).Format("2006-01-02 15:04")
}

// crossingText says when a forecast series reaches its warning level.
func crossingText(f ForecastSeries) string {
	switch f.Crossing {
	case CrossingCrossed:
		return "crossed (already at or above the warning level)"
	case CrossingNever:
		return "not within 365 days"
	case CrossingIn:
		return "in " + strconv.FormatFloat(f.Days, 'f', 1, 64) + " days"
	}
	return "unknown (too few points)"
}
