package main

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hotel-ops/hotel-ops/webhook/payload"
)

// The storm's deliveries are what escalator accepts, shaped as
// Alertmanager sends them: a fault's alerts share one start, a group is
// sent again grown and then resolved, a flapping group resolves at once,
// and the peers' copies differ only where Alertmanager peers differ.
func TestStormShape(t *testing.T) {
	const n, grow = 10, 5
	interval := time.Second
	g := newGenerator(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), n, grow, interval, 0.1, 0.5, 42)
	hex16 := regexp.MustCompile(`^[0-9a-f]{16}$`)
	stages := map[*group][]int{}
	period := 2 * time.Millisecond
	for i := 0; i < 3000; i++ {
		d := g.next(time.Duration(i) * period)
		stages[d.group] = append(stages[d.group], d.stage)
		var hashes []string
		for peer := 0; peer < 2; peer++ {
			body, err := d.body(peer)
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := payload.Parse(bytes.NewReader(body))
			if err != nil {
				t.Fatalf("delivery %d (%s): escalator refuses it: %v\n%s", d.seq, stageNames[d.stage], err, body)
			}
			hashes = append(hashes, parsed.Hash)
			var raw struct {
				Version         string  `json:"version"`
				TruncatedAlerts *uint64 `json:"truncatedAlerts"`
				ExternalURL     string  `json:"externalURL"`
				CommonLabels    map[string]string
				Alerts          []struct {
					Status, Fingerprint string
					StartsAt, EndsAt    string
				} `json:"alerts"`
			}
			if err := json.Unmarshal(body, &raw); err != nil {
				t.Fatal(err)
			}
			if raw.Version != "4" || raw.TruncatedAlerts == nil || *raw.TruncatedAlerts != 0 || raw.ExternalURL != peerURL(peer) {
				t.Fatalf("delivery %d: version %q, truncatedAlerts %v, externalURL %q", d.seq, raw.Version, raw.TruncatedAlerts, raw.ExternalURL)
			}
			if raw.CommonLabels["fault"] == "" || raw.CommonLabels["instance"] != "" {
				t.Errorf("delivery %d: commonLabels %v", d.seq, raw.CommonLabels)
			}
			for _, a := range raw.Alerts {
				if !hex16.MatchString(a.Fingerprint) {
					t.Errorf("fingerprint %q", a.Fingerprint)
				}
				if (a.Status == "firing") != (a.EndsAt == "0001-01-01T00:00:00Z") {
					t.Errorf("%s alert ends at %s", a.Status, a.EndsAt)
				}
			}
		}
		if hashes[0] != hashes[1] {
			t.Errorf("delivery %d: the peers' copies are different deliveries to escalator", d.seq)
		}
		switch d.stage {
		case stageFire:
			if len(d.alerts) != n || d.firing() != n {
				t.Fatalf("first delivery: %d alerts, %d firing", len(d.alerts), d.firing())
			}
			for _, a := range d.alerts {
				if !a.def.startsAt.Equal(d.alerts[0].def.startsAt) {
					t.Fatalf("the alerts of a fault start apart: %v, %v", a.def.startsAt, d.alerts[0].def.startsAt)
				}
			}
		case stageGrow:
			if len(d.alerts) != n+grow || d.firing() != n+grow || d.alerts[0].def != d.group.wave1[0] {
				t.Fatalf("re-send: %d alerts, %d firing", len(d.alerts), d.firing())
			}
			if !d.group.wave2[0].startsAt.After(d.group.wave1[0].startsAt) {
				t.Errorf("the alerts that joined do not start later")
			}
		case stageResolve:
			if d.firing() != 0 {
				t.Fatalf("resolve: %d firing", d.firing())
			}
		}
	}
	var full, flapping int
	for gr, st := range stages {
		got := formatStages(st)
		switch {
		case gr.flapping && got != "fire resolve":
			t.Errorf("flapping group %d: %s", gr.n, got)
		case gr.flapping:
			flapping++
		case got == "fire grow resolve":
			full++
		case got != "fire" && got != "fire grow":
			t.Errorf("group %d: %s", gr.n, got)
		}
	}
	// 3,000 deliveries over 6 s with a 1 s interval: most groups lived
	// their whole life; about a tenth flapped.
	if full < 600 || flapping < 30 {
		t.Errorf("%d whole groups, %d flapping", full, flapping)
	}
}

func formatStages(st []int) string {
	var names []string
	for _, s := range st {
		names = append(names, stageNames[s])
	}
	return strings.Join(names, " ")
}

// With no growth, the re-send repeats the first delivery: escalator
// sees a duplicate, as of a re-send at repeat_interval.
func TestRepeatIsDuplicate(t *testing.T) {
	g := newGenerator(time.Now(), 3, 0, time.Millisecond, 0, 1, 1)
	first := g.next(0)
	again := g.next(time.Second)
	if again.group != first.group || again.stage != stageGrow {
		t.Fatalf("second delivery: group %d stage %s", again.group.n, stageNames[again.stage])
	}
	var hashes []string
	for _, d := range []*delivery{first, again} {
		b, _ := d.body(0)
		p, err := payload.Parse(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, p.Hash)
	}
	if hashes[0] != hashes[1] {
		t.Error("the repeat is a new delivery to escalator")
	}
}

func TestLoopbackOnly(t *testing.T) {
	for _, c := range []struct {
		target string
		ok     bool
	}{
		{"http://127.0.0.1:9096", true}, {"http://[::1]:9096/", true}, {"http://localhost:9096", true},
		{"http://127.1.2.3:80", true}, {"http://10.0.0.1:9096", false}, {"http://escalator.example:9096", false},
		{"ftp://127.0.0.1", false}, {"127.0.0.1:9096", false},
	} {
		if _, err := checkTarget(c.target, false); (err == nil) != c.ok {
			t.Errorf("%s: %v", c.target, err)
		}
	}
	if _, err := checkTarget("http://10.0.0.1:9096", true); err != nil {
		t.Errorf("--allow-remote: %v", err)
	}
	for dsn, ok := range map[string]bool{
		"postgres://u@127.0.0.1:5432/db":       true,
		"host=/var/run/postgresql dbname=db":   true,
		"postgres://u@db.example/db":           false,
		"postgres://u@127.0.0.1,db.example/db": false,
	} {
		if err := checkDSN(dsn, false); (err == nil) != ok {
			t.Errorf("%s: %v", dsn, err)
		}
	}
}

// The receiver's keys are matched with the run's incidents: doubled
// keys, unknown ones, and lateness from the due time.
func TestAnalyseNotifications(t *testing.T) {
	tr := newTracker()
	start := time.Now()
	tr.inc["inc-a"] = &incRef{critical: true, hasFire: true, fireAt: time.Second, hasResolve: true, resolveAt: 3 * time.Second, fired: true}
	tr.inc["inc-b"] = &incRef{critical: true, hasFire: true, fireAt: time.Second, fired: true}
	arrivals := map[string]arrival{
		"inc-a/0/oncall":       {count: 2, first: start.Add(time.Second + 5*time.Millisecond)},
		"inc-a/1/manager":      {count: 1, first: start.Add(16*time.Second + 7*time.Millisecond)},
		"inc-a/resolve/oncall": {count: 1, first: start.Add(3*time.Second + 9*time.Millisecond)},
		"other/0/oncall":       {count: 1, first: start},
	}
	n := analyseNotifications(tr, start, arrivals, 5, 15*time.Second)
	if n.DoubledKeys != 1 || n.DoubledMax != 2 || n.Unknown != 1 || n.Step0 != 1 || n.Step1 != 1 || n.Resolve != 1 {
		t.Errorf("%+v", n)
	}
	if n.Step0Expect != 2 || n.Step0Missing != 1 {
		t.Errorf("step 0: %d expected, %d missing", n.Step0Expect, n.Step0Missing)
	}
	for kind, want := range map[string]float64{"step0": 5, "step1": 7, "resolve": 9} {
		if got := n.Lateness[kind].Max; got != want {
			t.Errorf("lateness %s: %v ms, want %v", kind, got, want)
		}
	}
}

// The command line shown in the report keeps a DSN's password out.
func TestCommandLineMasksDSN(t *testing.T) {
	got := commandLine([]string{"storm", "--pg-dsn=postgres://u:pw@127.0.0.1/db", "--pg-dsn", "postgres://u:pw@127.0.0.1/db", "--rate=5"})
	if strings.Contains(got, "pw") || got != "escalator-load storm --pg-dsn=… --pg-dsn … --rate=5" {
		t.Errorf("%s", got)
	}
}
