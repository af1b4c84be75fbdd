// Package report writes the spec's weekly and monthly operations reports
// (週次レポート, 月次レポート): SLA achievement, performance trends and
// incidents every week; capacity forecast and security as well every
// month. Build gathers the figures from the sources that are configured;
// WriteHTML and WritePDF render the same report as a self-contained HTML
// page and as a PDF.
package report

import (
	"time"

	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/config"
	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/incidents"
	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/period"
	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/sla"
)

// The spec's targets the incident figures are measured against (SLA目標).
const (
	MTTRTarget = 4 * time.Hour   // 平均復旧時間(MTTR): 4時間以内
	MTBFTarget = 720 * time.Hour // 平均故障間隔(MTBF): 720時間以上
)

// Report is one period's report. Every section carries a Status: a source
// that is not configured or that failed leaves its section saying so,
// and the rest of the report stands.
type Report struct {
	Title  string
	Period period.Period
	// Generated is the "now" the report was built at; Until is where its
	// data ends: the period's end, or now while the period is running.
	Generated time.Time
	Until     time.Time

	SLA       SLASection
	Trends    TrendsSection
	Incidents IncidentsSection
	// Monthly reports only (nil in weekly ones).
	Capacity *CapacitySection
	Security *SecuritySection
}

// Monthly reports whether the report is the monthly one.
func (r *Report) Monthly() bool { return r.Period.Span == "month" }

// Complete reports whether the period had ended when the report was
// built: a running period's figures are as far as it has elapsed.
func (r *Report) Complete() bool { return !r.Until.Before(r.Period.End) }

// Status is how a section (or a part of one) fared.
type Status struct {
	// NotConfigured: its source is not configured; the section says so
	// and holds no figures.
	NotConfigured bool
	// Errors are the failures met while gathering it, one line each.
	Errors []string
}

// OK reports whether the section has figures and no errors.
func (s Status) OK() bool { return !s.NotConfigured && len(s.Errors) == 0 }

func (s *Status) fail(format string, err error) {
	s.Errors = append(s.Errors, format+": "+err.Error())
}

// SLASection is the SLA achievement of each SLO (SLA達成状況).
type SLASection struct {
	Status
	Results []sla.Result
}

// TrendsSection is the performance trends (パフォーマンス分析).
type TrendsSection struct {
	Status
	// Step is the resolution of every chart of the report.
	Step   time.Duration
	Trends []TrendResult
}

// TrendResult is one configured trend over the period.
type TrendResult struct {
	config.Trend
	Series []Series
	Err    string // the query failed: no series
}

// Series is one labelled time series of a query's result.
type Series struct {
	Labels string // e.g. {code="500"}; "" for a single unlabelled series
	Points []Point
}

// Point is one value of a series.
type Point struct {
	T time.Time
	V float64
}

// IncidentsSection is the incident analysis (インシデント分析).
type IncidentsSection struct {
	Status
	Figures incidents.Figures
}

// MTTRMet reports whether the MTTR is within the spec's 4 hours; with no
// incident resolved there is nothing to measure and it is not "met".
func (s IncidentsSection) MTTRMet() bool {
	return s.Figures.Resolved > 0 && s.Figures.MTTR <= MTTRTarget
}

// MTBFMet reports whether the MTBF is at least the spec's 720 hours (a
// period without a critical incident has an unbounded MTBF). A week is
// 168 hours, so a weekly report meets it only without any critical
// incident: that is the spec's figure, quoted as it is.
func (s IncidentsSection) MTBFMet() bool {
	return s.Figures.MTBF == 0 || s.Figures.MTBF >= MTBFTarget
}

// CapacitySection is the capacity forecast (容量計画).
type CapacitySection struct {
	Status
	Forecasts []ForecastResult
}

// ForecastResult is one configured resource.
type ForecastResult struct {
	config.Forecast
	Series []ForecastSeries
	Err    string
}

// Crossing says when a resource reaches its warning level.
type Crossing string

// The outcomes of a forecast.
const (
	CrossingIn      Crossing = "in"      // in Days days
	CrossingCrossed Crossing = "crossed" // at or above the warning already
	CrossingNever   Crossing = "never"   // not within the horizon (or falling)
	CrossingUnknown Crossing = "unknown" // too few points to fit a line
)

// Horizon is how far ahead a forecast looks: a crossing further away is
// "not within 365 days", as a straight line a year out says little.
const Horizon = 365 * 24 * time.Hour

// ForecastSeries is the forecast of one series of a resource.
type ForecastSeries struct {
	Series
	// Current is the value at the end of the data (the period's end).
	Current float64
	// Slope is the fitted growth per day; Intercept the fitted value at
	// Until: the line is Intercept + Slope × days after Until.
	Slope, Intercept float64
	Crossing         Crossing
	Days             float64 // CrossingIn: days after Until
}

// SecuritySection is the security status (セキュリティ状況).
type SecuritySection struct {
	// Incidents are escalator's incidents of category security opened in
	// the period; IncidentsStatus is that of the incident source.
	IncidentsStatus Status
	Incidents       []incidents.Incident
	// LoginFailures is the failed logins counted over the period.
	LoginStatus   Status
	LoginFailures float64
}

// Failures are the error lines of every section and part: a report with
// any is incomplete. The report command still writes it (what could be
// gathered is worth reading) and exits non-zero, so that a scheduled run
// says it.
func (r *Report) Failures() []string {
	var out []string
	out = append(out, r.SLA.Errors...)
	out = append(out, r.Trends.Errors...)
	for _, t := range r.Trends.Trends {
		if t.Err != "" {
			out = append(out, t.Name+": "+t.Err)
		}
	}
	out = append(out, r.Incidents.Errors...)
	if c := r.Capacity; c != nil {
		out = append(out, c.Errors...)
		for _, f := range c.Forecasts {
			if f.Err != "" {
				out = append(out, f.Name+": "+f.Err)
			}
		}
	}
	if s := r.Security; s != nil {
		out = append(out, s.IncidentsStatus.Errors...)
		out = append(out, s.LoginStatus.Errors...)
	}
	return out
}
