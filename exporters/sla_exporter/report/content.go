package report

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/incidents"
)

// doc is the report laid out as headings, lines, tables and charts: the
// HTML page and the PDF both render it, so the two say the same things.
type doc struct {
	Title     string // "Hotel Ops — Weekly report 2026-W48"
	TitleJA   string // "週次レポート"
	Meta      []string
	Sections  []section
	Generated time.Time
}

type section struct {
	ID                 string // the HTML element id: sla, trends, incidents, capacity, security
	Heading, HeadingJA string
	NotConfigured      bool
	Errors             []string
	Notes              []string
	Facts              []fact
	Charts             []Chart
	Tables             []table
}

// fact is one figure with its verdict against a target, if it has one.
type fact struct {
	Label, Value string
	State        string // "ok", "bad" or ""
}

type table struct {
	Caption string
	Head    []string
	Rows    [][]cell
}

type cell struct {
	Text  string
	State string // "ok", "bad" or ""
}

func state(ok bool) string {
	if ok {
		return "ok"
	}
	return "bad"
}

// layout lays the report out with its charts.
func layout(r *Report, charts []Chart) doc {
	loc := r.Period.Start.Location()
	kind, kindJA := "Weekly report", "週次レポート"
	if r.Monthly() {
		kind, kindJA = "Monthly report", "月次レポート"
	}
	d := doc{
		Title:     r.Title + " — " + kind + " " + r.Period.Name,
		TitleJA:   kindJA,
		Generated: r.Generated,
		Meta: []string{
			fmt.Sprintf("Period: %s to %s (%s)", formatTime(r.Period.Start, loc), formatTime(r.Period.End, loc), loc),
			"Generated: " + formatTime(r.Generated, loc),
		},
	}
	if !r.Complete() {
		d.Meta = append(d.Meta, "The period is still running: figures up to "+formatTime(r.Until, loc)+".")
	}
	byID := map[string][]Chart{}
	for _, c := range charts {
		byID[c.Section] = append(byID[c.Section], c)
	}
	d.Sections = append(d.Sections, slaSection(r), trendsSection(r), incidentsSection(r))
	if r.Capacity != nil {
		d.Sections = append(d.Sections, capacitySection(r))
	}
	if r.Security != nil {
		d.Sections = append(d.Sections, securitySection(r))
	}
	for i := range d.Sections {
		d.Sections[i].Charts = byID[d.Sections[i].ID]
	}
	return d
}

func withStatus(s section, st Status) section {
	s.NotConfigured, s.Errors = st.NotConfigured, append(s.Errors, st.Errors...)
	return s
}

func slaSection(r *Report) section {
	s := withStatus(section{ID: "sla", Heading: "SLA achievement", HeadingJA: "SLA達成状況"}, r.SLA.Status)
	if len(r.SLA.Results) == 0 {
		if s.NotConfigured || len(s.Errors) > 0 {
			return s
		}
		s.Notes = append(s.Notes, "No SLO is configured.")
		return s
	}
	t := table{Head: []string{"SLO", "kind", "objective", "achieved", "", "error budget left", "downtime", "measured"}}
	partial := false
	for _, x := range r.SLA.Results {
		down := formatMinutes(x.Down)
		if x.MaintenanceDown > 0 {
			down += " (+" + formatMinutes(x.MaintenanceDown) + " in planned maintenance)"
		}
		measured := formatShare(x.Coverage()) + " of " + formatDuration(x.Elapsed)
		if x.Kind == "requests" {
			down = fmt.Sprintf("%s of %s requests failed", formatCount(x.Total-x.Good), formatCount(x.Total))
			measured = formatCount(x.Total) + " requests"
		}
		if x.NoData() {
			// Nothing measured is no figure: never "100 % met".
			t.Rows = append(t.Rows, []cell{
				{Text: x.SLO}, {Text: x.Kind}, {Text: formatRatio(x.Objective)},
				{Text: "no data", State: "bad"}, {Text: "unknown", State: "bad"}, {Text: "–"}, {Text: "–"}, {Text: measured, State: "bad"},
			})
			continue
		}
		if x.Kind == "uptime" && x.Coverage() < 0.99 {
			partial = true
		}
		verdict := "missed"
		if x.Met() {
			verdict = "met"
		}
		t.Rows = append(t.Rows, []cell{
			{Text: x.SLO}, {Text: x.Kind}, {Text: formatRatio(x.Objective)},
			{Text: formatRatio(x.Ratio), State: state(x.Met())}, {Text: verdict, State: state(x.Met())},
			{Text: formatShare(x.BudgetRemaining), State: state(x.BudgetRemaining >= 0)}, {Text: down}, {Text: measured},
		})
	}
	s.Tables = append(s.Tables, t)
	s.Notes = append(s.Notes, "Achieved is over the time measured, outside planned maintenance unless it counts; "+
		"the error budget is the whole period's, so a short outage in a mostly unmeasured period can miss the objective and leave budget.")
	if partial {
		s.Notes = append(s.Notes, "Some uptime was not measured (the up expression had no value): the achieved figures cover only the measured share.")
	}
	return s
}

func trendsSection(r *Report) section {
	s := withStatus(section{ID: "trends", Heading: "Performance trends", HeadingJA: "パフォーマンス分析・トレンド"}, r.Trends.Status)
	if s.NotConfigured {
		return s
	}
	s.Notes = append(s.Notes, fmt.Sprintf("One point every %s, the value of each expression at that instant.", formatStep(r.Trends.Step)))
	t := table{Head: []string{"trend", "series", "mean", "max", "target", "time over target"}}
	for _, tr := range r.Trends.Trends {
		if tr.Err != "" {
			t.Rows = append(t.Rows, []cell{{Text: tr.Name}, {Text: "query failed", State: "bad"}, {}, {}, {}, {}})
			continue
		}
		if len(tr.Series) == 0 {
			t.Rows = append(t.Rows, []cell{{Text: tr.Name}, {Text: "no data", State: "bad"}, {}, {}, {}, {}})
		}
		for _, ser := range tr.Series {
			mean, top, over, n := summarize(ser.Points, tr.Target)
			target, overText, overState := "—", "—", ""
			if tr.Target != 0 {
				target = formatValue(tr.Target, tr.Unit)
				if n > 0 {
					overText, overState = formatShare(over), state(over == 0)
				}
			}
			t.Rows = append(t.Rows, []cell{{Text: tr.Name}, {Text: legendName(ser.Labels)},
				{Text: formatValue(mean, tr.Unit)}, {Text: formatValue(top, tr.Unit)}, {Text: target}, {Text: overText, State: overState}})
		}
	}
	s.Tables = append(s.Tables, t)
	return s
}

// summarize is the mean and maximum of the finite values, and the share
// of them above target.
func summarize(points []Point, target float64) (mean, top, over float64, n int) {
	top = math.Inf(-1)
	var sum float64
	var above int
	for _, pt := range points {
		if !finite(pt.V) {
			continue
		}
		n++
		sum += pt.V
		top = math.Max(top, pt.V)
		if pt.V > target {
			above++
		}
	}
	if n == 0 {
		return math.NaN(), math.NaN(), math.NaN(), 0
	}
	return sum / float64(n), top, float64(above) / float64(n), n
}

func incidentsSection(r *Report) section {
	s := withStatus(section{ID: "incidents", Heading: "Incidents", HeadingJA: "インシデント分析"}, r.Incidents.Status)
	if !r.Incidents.OK() {
		return s
	}
	f := r.Incidents.Figures
	mttr, mtbf := "no incident resolved", "∞ (no critical incident)"
	if f.Resolved > 0 {
		mttr = formatDuration(f.MTTR)
	}
	if f.MTBF > 0 {
		mtbf = strconv.FormatFloat(f.MTBF.Hours(), 'f', 1, 64) + " h"
	}
	mttrState := state(r.Incidents.MTTRMet())
	if f.Resolved == 0 {
		mttrState = ""
	}
	s.Facts = []fact{
		{Label: "Incidents opened", Value: strconv.Itoa(f.Count)},
		{Label: "Resolved", Value: strconv.Itoa(f.Resolved)},
		{Label: "MTTR (target ≤ 4 h)", Value: mttr, State: mttrState},
		{Label: "MTBF (target ≥ 720 h)", Value: mtbf, State: state(r.Incidents.MTBFMet())},
		{Label: "Automation rate", Value: fmt.Sprintf("%s (%d of %d resolved)", formatShare(f.AutomationRate), f.Automated, f.Resolved)},
	}
	if f.Count == 0 {
		s.Notes = append(s.Notes, "No incident was opened in the period.")
		return s
	}
	s.Tables = append(s.Tables, incidentTable("", f.Incidents, r))
	return s
}

// incidentTable lists incidents, oldest first.
func incidentTable(caption string, list []incidents.Incident, r *Report) table {
	loc := r.Period.Start.Location()
	t := table{Caption: caption, Head: []string{"opened", "alertname", "severity", "category", "resolved", "duration", "automated"}}
	for _, inc := range list {
		resolved, took := "open", "open for "+formatDuration(r.Generated.Sub(inc.OpenedAt))
		if !inc.ResolvedAt.IsZero() && !inc.ResolvedAt.After(r.Generated) {
			resolved, took = formatTime(inc.ResolvedAt, loc), formatDuration(inc.ResolvedAt.Sub(inc.OpenedAt))
		}
		auto := "no"
		if incidents.Automated(inc) {
			auto = "yes"
		}
		t.Rows = append(t.Rows, []cell{{Text: formatTime(inc.OpenedAt, loc)}, {Text: inc.Alertname},
			{Text: inc.Severity, State: map[bool]string{true: "bad"}[inc.Severity == "critical"]},
			{Text: inc.Category}, {Text: resolved}, {Text: took}, {Text: auto}})
	}
	return t
}

func capacitySection(r *Report) section {
	c := r.Capacity
	s := withStatus(section{ID: "capacity", Heading: "Capacity forecast", HeadingJA: "容量計画・リソース使用予測"}, c.Status)
	if s.NotConfigured {
		return s
	}
	s.Notes = append(s.Notes, "A least-squares line through the period's points (those of the chart); "+
		"the days are until that line reaches the warning level, from the end of the data.")
	t := table{Head: []string{"resource", "series", "at the end", "growth a day (% points)", "warning", "reaches warning"}}
	for _, fc := range c.Forecasts {
		if fc.Err != "" || len(fc.Series) == 0 {
			why := "no data"
			if fc.Err != "" {
				why = "query failed"
			}
			t.Rows = append(t.Rows, []cell{{Text: fc.Name}, {Text: why, State: "bad"}, {}, {}, {Text: formatShare(fc.Warning)}, {}})
			continue
		}
		for _, fs := range fc.Series {
			soon := fs.Crossing == CrossingCrossed || (fs.Crossing == CrossingIn && fs.Days < 90)
			growth := "—"
			if finite(fs.Slope) {
				growth = strconv.FormatFloat(fs.Slope*100, 'f', 2, 64)
			}
			t.Rows = append(t.Rows, []cell{{Text: fc.Name}, {Text: legendName(fs.Labels)},
				{Text: formatShare(fs.Current)}, {Text: growth}, {Text: formatShare(fc.Warning)},
				{Text: crossingText(fs), State: state(!soon)}})
		}
	}
	s.Tables = append(s.Tables, t)
	return s
}

func securitySection(r *Report) section {
	sec := r.Security
	s := section{ID: "security", Heading: "Security", HeadingJA: "セキュリティ状況"}
	s.NotConfigured = sec.IncidentsStatus.NotConfigured && sec.LoginStatus.NotConfigured
	if s.NotConfigured {
		return s
	}
	incs, logins := "not configured", "not configured"
	var incState, loginState string
	switch {
	case sec.IncidentsStatus.OK():
		incs, incState = strconv.Itoa(len(sec.Incidents)), state(len(sec.Incidents) == 0)
	case !sec.IncidentsStatus.NotConfigured:
		incs, incState = "unknown (see the error)", "bad"
	}
	switch {
	case sec.LoginStatus.OK():
		logins = formatCount(sec.LoginFailures)
	case !sec.LoginStatus.NotConfigured:
		logins, loginState = "unknown (see the error)", "bad"
	}
	for _, e := range sec.IncidentsStatus.Errors {
		s.Errors = append(s.Errors, "incidents: "+e)
	}
	s.Errors = append(s.Errors, sec.LoginStatus.Errors...)
	s.Facts = []fact{
		{Label: "Security incidents (escalator, category security)", Value: incs, State: incState},
		{Label: "Failed logins", Value: logins, State: loginState},
	}
	if len(sec.Incidents) > 0 {
		s.Tables = append(s.Tables, incidentTable("Security incidents", sec.Incidents, r))
	}
	return s
}
