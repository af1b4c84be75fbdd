package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hotel-ops/hotel-ops/internal/testenv"
	"github.com/hotel-ops/hotel-ops/internal/yamlconf"
	"github.com/hotel-ops/hotel-ops/webhook/config"
)

const maintAMConfig = "route: {receiver: nowhere}\nreceivers: [{name: nowhere}]\n"

// maintConfig writes an escalator configuration with two planned stops;
// amSection is its alertmanager: line ("" for none).
func maintConfig(t *testing.T, amSection string) string {
	dir := t.TempDir()
	path := filepath.Join(dir, "escalator.yml")
	conf := fmt.Sprintf(`store: {path: %s}
channels:
  oncall: {type: webhook, url: http://127.0.0.1:1/oncall}
policies:
  - name: critical
    matchers: ['severity="critical"']
    steps: [{after: 0s, notify: [oncall]}]
%s
maintenance:
  - name: monthly
    max: 1h
    silences:
      - ['severity="critical"', 'service="hotel-app"']
      - ['alertname=~"Node.*"', 'instance!="db-1"']
  - name: quarterly
    max: 4h
    silences:
      - ['severity=~"critical|warning"', 'service!~"pay.*"']
`, filepath.Join(dir, "escalator.db"), amSection)
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// escalator runs the binary and returns its output and exit code.
func escalator(t *testing.T, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(binary(t), args...).CombinedOutput()
	code := exitCode(err)
	if code < 0 {
		t.Fatalf("running escalator %v: %v", args, err)
	}
	return string(out), code
}

type amSilence struct {
	ID        string
	CreatedBy string
	Comment   string
	StartsAt  time.Time
	EndsAt    time.Time
	Matchers  []struct {
		Name    string
		Value   string
		IsRegex bool
		IsEqual *bool
	}
	Status struct{ State string }
}

// matchers renders a silence's matchers from the API's fields, sorted.
func (s amSilence) matchers() string {
	var out []string
	for _, m := range s.Matchers {
		eq := m.IsEqual == nil || *m.IsEqual
		out = append(out, fmt.Sprintf("%s regex=%v equal=%v %s", m.Name, m.IsRegex, eq, m.Value))
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}

// silencesOf is Alertmanager's silences created by the stop, any state,
// read straight from its API.
func silencesOf(t *testing.T, am *testenv.Alertmanager, stop string) []amSilence {
	t.Helper()
	resp, err := http.Get(am.URL + "/api/v2/silences")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var all []amSilence
	if err := json.NewDecoder(resp.Body).Decode(&all); err != nil {
		t.Fatal(err)
	}
	var out []amSilence
	for _, s := range all {
		if s.CreatedBy == "escalator maintenance "+stop {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].matchers() < out[j].matchers() })
	return out
}

func states(ss []amSilence) map[string]int {
	out := map[string]int{}
	for _, s := range ss {
		out[s.Status.State]++
	}
	return out
}

// alertState posts a firing alert and returns its state in Alertmanager
// (active, suppressed) and the silences muting it.
func alertState(t *testing.T, am *testenv.Alertmanager, name string, ls map[string]string) (string, []string) {
	t.Helper()
	ls["alertname"] = name
	b, _ := json.Marshal([]map[string]any{{"labels": ls}})
	resp, err := http.Post(am.URL+"/api/v2/alerts", "application/json", strings.NewReader(string(b)))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("posting an alert: %v %v", err, resp)
	}
	resp.Body.Close()
	resp, err = http.Get(am.URL + "/api/v2/alerts?filter=alertname%3D%22" + name + "%22")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var alerts []struct {
		Status struct {
			State      string
			SilencedBy []string
		}
	}
	json.NewDecoder(resp.Body).Decode(&alerts)
	if len(alerts) != 1 {
		t.Fatalf("alert %s: %d in Alertmanager", name, len(alerts))
	}
	return alerts[0].Status.State, alerts[0].Status.SilencedBy
}

func near(got, want time.Time, within time.Duration) bool {
	d := got.Sub(want)
	return d > -within && d < within
}

// start creates the stop's silences (on the first peer that answers) with
// its matchers until now+max; a duration above max is refused; start
// again adds nothing and extends nothing; status lists; end expires.
func TestMaintenanceStartStatusEnd(t *testing.T) {
	am := testenv.StartAlertmanager(t, maintAMConfig)
	dead := fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))
	cfg := maintConfig(t, fmt.Sprintf("alertmanager: {urls: [%s, %s]}", dead, am.URL))
	flag := "--config.file=" + cfg
	binary(t) // built before the clock is read

	before := time.Now()
	out, code := escalator(t, flag, "maintenance", "start", "monthly", "--comment=CHG-42 by tanaka")
	after := time.Now()
	if code != 0 {
		t.Fatalf("start: exit %d\n%s", code, out)
	}
	monthly := silencesOf(t, am, "monthly")
	if len(monthly) != 2 || states(monthly)["active"] != 2 {
		t.Fatalf("after start: %+v\n%s", monthly, out)
	}
	wantMatchers := []string{
		"alertname regex=true equal=true Node.*; instance regex=false equal=false db-1",
		"service regex=false equal=true hotel-app; severity regex=false equal=true critical",
	}
	for i, s := range monthly {
		if got := s.matchers(); got != wantMatchers[i] {
			t.Errorf("silence %d matchers: %s, want %s", i, got, wantMatchers[i])
		}
		if s.EndsAt.Before(before.Add(time.Hour-time.Second)) || s.EndsAt.After(after.Add(time.Hour+time.Second)) {
			t.Errorf("silence %s ends at %s, want now+1h (started between %s and %s)", s.ID, s.EndsAt, before, after)
		}
		if !near(s.StartsAt, before, 5*time.Second) {
			t.Errorf("silence %s starts at %s, want now (%s)", s.ID, s.StartsAt, before)
		}
		for _, w := range []string{"monthly", "max 1h", "CHG-42 by tanaka"} {
			if !strings.Contains(s.Comment, w) {
				t.Errorf("silence %s comment %q lacks %q", s.ID, s.Comment, w)
			}
		}
		if !strings.Contains(out, s.ID) || !strings.Contains(out, "created on "+am.URL) {
			t.Errorf("start output does not report silence %s created on %s:\n%s", s.ID, am.URL, out)
		}
	}
	// The silences mute what they match, critical included, and nothing else.
	if st, by := alertState(t, am, "HotelAppDown", map[string]string{"severity": "critical", "service": "hotel-app"}); st != "suppressed" || len(by) != 1 {
		t.Errorf("a critical hotel-app alert during the stop: %s %v", st, by)
	}
	if st, _ := alertState(t, am, "NodeDiskHigh", map[string]string{"severity": "critical", "instance": "db-1"}); st != "active" {
		t.Errorf("an alert of db-1, which the stop excludes: %s", st)
	}

	out, code = escalator(t, flag, "maintenance", "start", "monthly")
	if code != 0 || !strings.Contains(out, "already started") || !strings.Contains(out, "not extended") {
		t.Errorf("start again: exit %d\n%s", code, out)
	}
	if again := silencesOf(t, am, "monthly"); len(again) != 2 {
		t.Errorf("start again made silences: %d", len(again))
	}

	out, code = escalator(t, flag, "maintenance", "start", "quarterly", "--duration=5h")
	if code != 2 || !strings.Contains(out, "exceeds the max") || !strings.Contains(out, "4h") {
		t.Errorf("--duration above max: exit %d\n%s", code, out)
	}
	if q := silencesOf(t, am, "quarterly"); len(q) != 0 {
		t.Errorf("a refused start made silences: %+v", q)
	}
	before = time.Now()
	out, code = escalator(t, flag, "maintenance", "start", "quarterly", "--duration=30m")
	quarterly := silencesOf(t, am, "quarterly")
	if code != 0 || len(quarterly) != 1 || !near(quarterly[0].EndsAt, before.Add(30*time.Minute), 5*time.Second) {
		t.Fatalf("start --duration=30m: exit %d %+v\n%s", code, quarterly, out)
	}
	if got := quarterly[0].matchers(); got != "service regex=true equal=false pay.*; severity regex=true equal=true critical|warning" {
		t.Errorf("quarterly matchers: %s", got)
	}

	out, code = escalator(t, flag, "maintenance", "status")
	if code != 0 {
		t.Fatalf("status: exit %d\n%s", code, out)
	}
	for _, s := range append(monthly, quarterly...) {
		if !strings.Contains(out, s.ID) || !strings.Contains(out, stamp(s.EndsAt)) {
			t.Errorf("status lacks silence %s until %s:\n%s", s.ID, stamp(s.EndsAt), out)
		}
	}
	if !strings.Contains(out, "monthly (max 1h)") || !strings.Contains(out, "quarterly (max 4h)") {
		t.Errorf("status does not name the stops:\n%s", out)
	}

	// One silence expired by hand: start again recreates only it, ending
	// with the other, not an hour from now.
	req, _ := http.NewRequest(http.MethodDelete, am.URL+"/api/v2/silence/"+monthly[0].ID, nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("expiring a silence by hand: %v %v", err, resp)
	}
	time.Sleep(1100 * time.Millisecond) // so that an extension would show
	out, code = escalator(t, flag, "maintenance", "start", "monthly")
	monthly = silencesOf(t, am, "monthly")
	if code != 0 || len(monthly) != 3 || states(monthly)["active"] != 2 {
		t.Fatalf("start after one silence expired: exit %d %+v\n%s", code, monthly, out)
	}
	var ends []time.Time
	for _, s := range monthly {
		if s.Status.State == "active" {
			ends = append(ends, s.EndsAt)
		}
	}
	if !near(ends[0], ends[1], 10*time.Millisecond) {
		t.Errorf("the recreated silence ends at %s, the other at %s: the stop was extended", ends[0], ends[1])
	}

	out, code = escalator(t, flag, "maintenance", "end", "monthly")
	if code != 0 || !strings.Contains(out, "ended: 2 silences expired") {
		t.Errorf("end: exit %d\n%s", code, out)
	}
	if st := states(silencesOf(t, am, "monthly")); st["expired"] != 3 {
		t.Errorf("after end: monthly silences %v", st)
	}
	if st := states(silencesOf(t, am, "quarterly")); st["active"] != 1 {
		t.Errorf("ending monthly touched quarterly: %v", st)
	}
	out, code = escalator(t, flag, "maintenance", "status")
	if code != 0 || strings.Contains(out, "monthly") || !strings.Contains(out, quarterly[0].ID) {
		t.Errorf("status after ending monthly: exit %d\n%s", code, out)
	}
	out, code = escalator(t, flag, "maintenance", "end", "monthly")
	if code != 0 || !strings.Contains(out, "nothing to end") {
		t.Errorf("end again: exit %d\n%s", code, out)
	}
	for _, cmd := range []string{"start", "end"} {
		out, code = escalator(t, flag, "maintenance", cmd, "weekly")
		if code != 2 || !strings.Contains(out, `no planned stop "weekly"`) || !strings.Contains(out, "monthly, quarterly") {
			t.Errorf("%s of an unknown stop: exit %d\n%s", cmd, code, out)
		}
	}
	escalator(t, flag, "maintenance", "end", "quarterly")
	if st, _ := alertState(t, am, "HotelAppDown", map[string]string{"severity": "critical", "service": "hotel-app"}); st != "active" {
		t.Errorf("a critical alert after the stops ended: %s", st)
	}
	out, code = escalator(t, flag, "maintenance", "status")
	if code != 0 || !strings.Contains(out, "no planned stop is active") {
		t.Errorf("status with none: exit %d\n%s", code, out)
	}
}

// Without an alertmanager: section the commands refuse; with no peer
// answering they fail.
func TestMaintenanceNeedsAlertmanager(t *testing.T) {
	cfg := maintConfig(t, "")
	for _, args := range [][]string{{"start", "monthly"}, {"end", "monthly"}, {"status"}} {
		out, code := escalator(t, append([]string{"--config.file=" + cfg, "maintenance"}, args...)...)
		if code != 2 || !strings.Contains(out, "no alertmanager: section") {
			t.Errorf("%v without alertmanager: exit %d\n%s", args, code, out)
		}
	}
	dead := fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))
	cfg = maintConfig(t, "alertmanager: {urls: ["+dead+"]}")
	out, code := escalator(t, "--config.file="+cfg, "maintenance", "start", "monthly")
	if code != 1 || !strings.Contains(out, "no Alertmanager answered") || !strings.Contains(out, dead) {
		t.Errorf("start with Alertmanager down: exit %d\n%s", code, out)
	}
	out, code = escalator(t, "--config.file="+cfg, "check-config")
	if code != 0 {
		t.Errorf("check-config of a configuration with planned stops: exit %d\n%s", code, out)
	}
}

// A bad maintenance entry is refused, naming the field.
func TestMaintenanceConfigValidation(t *testing.T) {
	base := `store: {path: /tmp/x.db}
channels: {oncall: {type: webhook, url: http://127.0.0.1:1/oncall}}
policies: [{name: p, matchers: ['severity="critical"'], steps: [{after: 0s, notify: [oncall]}]}]
`
	good := base + "maintenance: [{name: monthly, max: 1h, silences: [['severity=\"critical\"']]}]\n"
	var c config.Config
	if err := yamlconf.Parse("good.yml", []byte(good), &c); err != nil {
		t.Fatalf("a good planned stop refused: %v", err)
	}
	if s := c.Stop("monthly"); s == nil || time.Duration(s.Max) != time.Hour || len(s.Silences) != 1 {
		t.Fatalf("parsed: %+v", c.Maintenance)
	}
	bad := base + `maintenance:
  - name: monthly
    max: 0s
    silences: [['severity="critical"'], [], ['severity=~"("'], ['instance=~".*"', 'job!="x"']]
  - name: monthly
    max: 1h
  - max: 1h
    silences: [['a="b"']]
`
	err := yamlconf.Parse("bad.yml", []byte(bad), &config.Config{})
	if err == nil {
		t.Fatal("a bad maintenance section was accepted")
	}
	for _, w := range []string{
		"maintenance[0].max: required",
		"maintenance[0].silences[1]: at least one matcher",
		`maintenance[0].silences[2]: "severity=~\"(\"": `,
		"maintenance[0].silences[3]: ",
		"must not match the empty string",
		`maintenance[1].name: "monthly": another planned stop has this name`,
		"maintenance[1].silences: at least one silence",
		"maintenance[2].name: required",
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("the error lacks %q:\n%v", w, err)
		}
	}
	if strings.Contains(err.Error(), "maintenance[0].silences[0]") || strings.Contains(err.Error(), "maintenance[2].silences") {
		t.Errorf("a good silence refused:\n%v", err)
	}
}
