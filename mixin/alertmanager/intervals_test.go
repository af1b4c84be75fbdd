package alertmanager

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/config"
	"github.com/prometheus/alertmanager/timeinterval"

	"github.com/hotel-ops/hotel-ops/mixin/spec"
)

func intervals(t *testing.T, cfg *config.Config, name string) []timeinterval.TimeInterval {
	t.Helper()
	for _, ti := range cfg.TimeIntervals {
		if ti.Name == name {
			return ti.TimeIntervals
		}
	}
	t.Fatalf("no time interval %q", name)
	return nil
}

func intervener(cfg *config.Config) *timeinterval.Intervener {
	m := map[string][]timeinterval.TimeInterval{}
	for _, ti := range cfg.TimeIntervals {
		m[ti.Name] = ti.TimeIntervals
	}
	return timeinterval.NewIntervener(m)
}

// notified returns the receivers an alert reaches at an instant: those of
// the routes it matches that are not muted then.
func notified(t *testing.T, cfg *config.Config, labels map[string]string, at time.Time) []string {
	t.Helper()
	iv := intervener(cfg)
	var out []string
	for _, r := range matched(cfg, labels) {
		muted, _, err := iv.Mutes(r.RouteOpts.MuteTimeIntervals, at)
		if err != nil {
			t.Fatal(err)
		}
		if !muted {
			out = append(out, r.RouteOpts.Receiver)
		}
	}
	return out
}

func TestTimeIntervals(t *testing.T) {
	s := merged(t)
	_, cfg := generated(t, s)
	var names []string
	for _, ti := range cfg.TimeIntervals {
		names = append(names, ti.Name)
	}
	if !slices.Equal(names, []string{"daily", "weekly", "monthly", "quarterly"}) {
		t.Errorf("time intervals %v", names)
	}
	for _, ti := range cfg.TimeIntervals {
		for _, i := range ti.TimeIntervals {
			if i.Location == nil || i.Location.String() != "Asia/Tokyo" {
				t.Errorf("%s: location %v, want the spec's Asia/Tokyo", ti.Name, i.Location)
			}
		}
	}
	daily := intervals(t, cfg, "daily")
	if len(daily) != 1 || len(daily[0].Times) != 1 || daily[0].Times[0] != (timeinterval.TimeRange{StartMinute: 3 * 60, EndMinute: 4 * 60}) || len(daily[0].Weekdays) != 0 {
		t.Errorf("daily window %+v, want every day 03:00-04:00", daily)
	}
	weekly := intervals(t, cfg, "weekly")
	if len(weekly) != 1 || len(weekly[0].Weekdays) != 1 || weekly[0].Weekdays[0].Begin != int(time.Sunday) || weekly[0].Weekdays[0].End != int(time.Sunday) {
		t.Errorf("weekly window %+v, want sundays", weekly)
	}
	if q := intervals(t, cfg, "quarterly"); len(q) != 3 {
		t.Errorf("quarterly window has %d intervals, want the spec's 3", len(q))
	}

	_, berlin := generated(t, merged(t, "timezone: Europe/Berlin\n"))
	for _, ti := range berlin.TimeIntervals {
		for _, i := range ti.TimeIntervals {
			if i.Location.String() != "Europe/Berlin" {
				t.Errorf("timezone override: %s is in %v", ti.Name, i.Location)
			}
		}
	}
}

func TestWeeklyWindowMutesDatabaseWarnings(t *testing.T) {
	_, cfg := generated(t, merged(t))
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	in := time.Date(2026, 11, 15, 2, 30, 0, 0, tokyo) // a Sunday, in the weekly window only
	if in.Weekday() != time.Sunday {
		t.Fatalf("%v is not a Sunday", in)
	}
	contains := false
	for _, ti := range intervals(t, cfg, "weekly") {
		contains = contains || ti.ContainsTime(in.UTC())
	}
	if !contains {
		t.Fatalf("the weekly interval does not contain %v", in)
	}

	warning := map[string]string{"alertname": "PostgresSlowQueries", "severity": "warning", "team": "database", "category": "database"}
	for _, r := range matched(cfg, warning) {
		if !slices.Contains(r.RouteOpts.MuteTimeIntervals, "weekly") {
			t.Errorf("route to %s of a database warning lacks the weekly mute: %v", r.RouteOpts.Receiver, r.RouteOpts.MuteTimeIntervals)
		}
	}
	if got := notified(t, cfg, warning, in); len(got) != 0 {
		t.Errorf("database warning during the weekly window reaches %v", got)
	}
	for _, out := range []time.Time{in.Add(24 * time.Hour), in.Add(3 * time.Hour)} { // Monday; Sunday after the window
		if got := notified(t, cfg, warning, out); !slices.Equal(got, []string{"escalator"}) {
			t.Errorf("database warning at %v reaches %v", out, got)
		}
	}
	critical := map[string]string{"alertname": "PostgresDown", "severity": "critical", "team": "database", "category": "database"}
	if got := notified(t, cfg, critical, in); !slices.Equal(got, []string{"escalator"}) {
		t.Errorf("database critical during the weekly window reaches %v", got)
	}
}

// No window mutes a critical: the monthly (5 h) and quarterly (8 h)
// windows hold planned stops of at most 1 h and 4 h, and a database that
// fails at 01:05 on the first Sunday must page at once, not at 06:00.
func TestNoWindowMutesACritical(t *testing.T) {
	s := merged(t)
	_, cfg := generated(t, s)
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []time.Time{
		time.Date(2026, 12, 6, 1, 5, 0, 0, tokyo),   // first Sunday: monthly window, and the weekly one
		time.Date(2026, 12, 26, 23, 0, 0, 0, tokyo), // last Saturday of a quarter: quarterly
		time.Date(2026, 12, 1, 3, 30, 0, 0, tokyo),  // the daily window
	} {
		for _, labels := range alertLabels(s) {
			if labels["severity"] != "critical" {
				continue
			}
			if got := notified(t, cfg, labels, at); len(got) == 0 {
				t.Errorf("%s at %v reaches nobody", labels["alertname"], at)
			}
		}
	}
	for _, bad := range []string{
		"maintenance: [{name: m, times: [{start: \"01:00\", end: \"06:00\"}], mutes: [{team: database}]}]\n",
		"maintenance: [{name: m, times: [{start: \"01:00\", end: \"06:00\"}], mutes: [{severity: critical}]}]\n",
	} {
		if _, err := spec.Merge(spec.Layer{Name: "override.yaml", Data: []byte(bad)}); err == nil || !strings.Contains(err.Error(), "warnings only") {
			t.Errorf("%q: %v, want a refusal of a window that mutes criticals", bad, err)
		}
	}
}

// alertLabels are the label sets the spec's alerts fire with (SLO alerts
// at both burn-rate severities), plus an info alert that only the
// catch-all route takes.
func alertLabels(s *spec.Spec) []map[string]string {
	var out []map[string]string
	for _, name := range s.AlertNames() {
		a := s.Alerts[name]
		sevs := []string{a.Severity}
		if a.SLO != "" {
			sevs = []string{"critical", "warning"}
		}
		for _, sev := range sevs {
			ls := map[string]string{"alertname": name, "severity": sev, "team": a.Team, "category": a.Category}
			for k, v := range a.Labels {
				ls[k] = v
			}
			out = append(out, ls)
		}
	}
	return append(out, map[string]string{"alertname": "Synthetic", "severity": "info", "team": "app", "category": "errors"})
}

// Every alert, every half hour across a quarter's end: an alert reaches
// nobody exactly when an open window mutes one of its groups, and
// otherwise reaches what it reaches outside any window.
func TestMaintenanceMutesExactlyWhatTheSpecSays(t *testing.T) {
	checkMutes(t, merged(t))
}

// The same with windows whose groups overlap in other ways: by alert
// name, across teams and severities, with a critical group.
func TestOverlappingMuteGroups(t *testing.T) {
	checkMutes(t, merged(t, `
maintenance:
  - name: backups
    times: [{start: "03:00", end: "04:00"}]
    mutes: [{alertname: BackupIncrTooOld, severity: warning}, {team: database, category: backup, severity: warning}]
  - name: drill
    times: [{weekdays: [sunday], start: "02:00", end: "05:00"}]
    mutes: [{team: security, severity: warning}, {severity: warning, category: backup}, {category: resource, severity: warning}]
`))
}

func checkMutes(t *testing.T, s *spec.Spec) {
	t.Helper()
	_, cfg := generated(t, s)
	iv := intervener(cfg)
	tz, err := time.LoadLocation(s.Timezone)
	if err != nil {
		t.Fatal(err)
	}
	covered := map[string]int{}
	for _, labels := range alertLabels(s) {
		var normal []string
		for _, r := range matched(cfg, labels) {
			normal = append(normal, r.RouteOpts.Receiver)
		}
		for at := time.Date(2026, 3, 20, 0, 0, 0, 0, tz); at.Before(time.Date(2026, 4, 8, 0, 0, 0, 0, tz)); at = at.Add(30 * time.Minute) {
			var mutedBy []string
			for _, w := range s.Maintenance {
				open, _, err := iv.Mutes([]string{w.Name}, at)
				if err != nil {
					t.Fatal(err)
				}
				if open && slices.ContainsFunc(w.Mutes, func(m map[string]string) bool { return subset(m, labels) }) {
					mutedBy = append(mutedBy, w.Name)
					covered[w.Name]++
				}
			}
			got := notified(t, cfg, labels, at)
			switch {
			case len(mutedBy) > 0 && len(got) > 0:
				t.Errorf("%v at %v: muted by %v, yet reaches %v", labels, at, mutedBy, got)
			case len(mutedBy) == 0 && !slices.Equal(got, normal):
				t.Errorf("%v at %v: no window mutes it, yet it reaches %v, not %v", labels, at, got, normal)
			}
		}
	}
	for _, w := range s.Maintenance {
		if covered[w.Name] == 0 {
			t.Errorf("window %s muted nothing in the tested span: the test proves nothing about it", w.Name)
		}
	}
}

func subset(m, labels map[string]string) bool {
	for k, v := range m {
		if labels[k] != v {
			return false
		}
	}
	return true
}
