package incidents

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/config"
	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/period"
	"github.com/hotel-ops/hotel-ops/internal/metrictest"
	"github.com/hotel-ops/hotel-ops/internal/testenv"
)

// figureSeries is what a gathering says of the figures (not the health
// series), to compare two gatherings.
func figureSeries(s metrictest.Sample) map[string]float64 {
	return s.Pick("sla_incident", "sla_automation_ratio")
}

// incidentsSeries is the sla_incidents series of the current period p.
func incidentsSeries(p period.Period, severity, category string) string {
	return fmt.Sprintf(`sla_incidents{category="%s",period="%s",severity="%s",span="month",which="current"}`, category, p.Name, severity)
}

func waitGauge(t *testing.T, reg prometheus.Gatherer, series string, want float64) metrictest.Sample {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		s := metrictest.Gather(t, reg)
		if v, ok := s[series]; ok && v == want {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not become %v within 15s: %v", series, want, s.Pick("sla_escalator"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The collector against a real escalator: Run refreshes in the background
// and the series say what escalator holds; when escalator dies, up turns
// 0 and the last figures stay; a scrape never calls escalator; once it is
// back, a refresh brings up back to 1.
func TestCollectorAgainstRealEscalator(t *testing.T) {
	tokyo := mustTokyo(t)
	e := startEscalator(t)
	began := time.Now()
	starts := began.Add(-time.Minute).UTC().Truncate(time.Second)
	db := alert{"PostgresDown", "critical", "database", "primary down", starts}
	slow := alert{"SlowQueries", "warning", "latency", "slow", starts}
	_, firedTo := e.deliver(t, db, "firing")
	e.deliver(t, slow, "firing")
	time.Sleep(100 * time.Millisecond)
	resolvedFrom, _ := e.deliver(t, db, "resolved")
	afterPosts := time.Now()

	c, err := New(&config.Escalator{URL: e.URL, TokenFile: e.TokenFile, Refresh: model.Duration(100 * time.Millisecond)}, tokyo, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry() // checks Collect against Describe
	reg.MustRegister(c)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	s := waitGauge(t, reg, "sla_escalator_up", 1)
	cur, _ := period.Containing("month", time.Now(), tokyo)
	if !cur.Contains(began) {
		t.Skipf("a Tokyo month began during the test (%s)", cur.Name)
	}
	prev := cur.Previous()
	l := func(which string, p period.Period) string {
		return fmt.Sprintf(`{period="%s",span="month",which="%s"}`, p.Name, which)
	}
	want := map[string]float64{
		incidentsSeries(cur, "critical", "database"):    1,
		incidentsSeries(cur, "warning", "latency"):      1,
		"sla_incidents_resolved" + l("current", cur):    1,
		"sla_incidents_automated" + l("current", cur):   0,
		"sla_automation_ratio" + l("current", cur):      0,
		"sla_incidents_resolved" + l("previous", prev):  0,
		"sla_incidents_automated" + l("previous", prev): 0,
	}
	got := figureSeries(s)
	mttr, okM := got["sla_incident_mttr_seconds"+l("current", cur)]
	mtbf, okB := got["sla_incident_mtbf_seconds"+l("current", cur)]
	delete(got, "sla_incident_mttr_seconds"+l("current", cur))
	delete(got, "sla_incident_mtbf_seconds"+l("current", cur))
	if !maps.Equal(got, want) {
		t.Errorf("series\n%v\nwant (beside MTTR and MTBF)\n%v", got, want)
	}
	// One resolved incident: its repair lies between the requests. One
	// critical incident: MTBF is the month's elapsed part at the refresh.
	if lo, hi := resolvedFrom.Sub(firedTo).Seconds(), afterPosts.Sub(began).Seconds(); !okM || mttr < lo || mttr > hi {
		t.Errorf("MTTR %v (present %v), want between %v and %v", mttr, okM, lo, hi)
	}
	if lo, hi := cur.Elapsed(afterPosts).Seconds(), cur.Elapsed(time.Now()).Seconds(); !okB || mtbf < lo || mtbf > hi {
		t.Errorf("MTBF %v (present %v), want between %v and %v", mtbf, okB, lo, hi)
	}
	if ts := s.Get(t, "sla_escalator_last_success_timestamp_seconds"); ts < float64(afterPosts.Unix()) {
		t.Errorf("last success %v, before the incidents were posted (%v)", ts, afterPosts.Unix())
	}

	// Escalator dies: the background refresh fails, the figures stay.
	e.Kill()
	killed := time.Now()
	s = waitGauge(t, reg, "sla_escalator_up", 0)
	if after := figureSeries(s); !maps.Equal(after, figureSeries(metrictest.Gather(t, reg))) || len(after) != len(want)+2 {
		t.Errorf("figures while escalator is down: %v, want the last good ones", after)
	}
	if ts := s.Get(t, "sla_escalator_last_success_timestamp_seconds"); ts > float64(killed.UnixNano())/1e9 {
		t.Errorf("last success %v after escalator was killed at %v", ts, killed)
	}

	// With Run stopped, scrapes change nothing: they never call escalator.
	cancel()
	<-done
	errs := metrictest.Gather(t, reg).Get(t, "sla_escalator_refresh_errors_total")
	if errs < 1 {
		t.Errorf("refresh errors %v while escalator was down, want at least 1", errs)
	}
	for range 3 {
		if got := metrictest.Gather(t, reg).Get(t, "sla_escalator_refresh_errors_total"); got != errs {
			t.Fatalf("a scrape refreshed: errors %v, then %v", errs, got)
		}
	}

	// Back again (same store): one refresh and up is 1.
	e.start(t)
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	s = metrictest.Gather(t, reg)
	if s.Get(t, "sla_escalator_up") != 1 || s.Get(t, "sla_escalator_last_success_timestamp_seconds") < float64(killed.Unix()) {
		t.Errorf("after escalator came back: %v", s.Pick("sla_escalator"))
	}
	if n := s.Get(t, incidentsSeries(cur, "warning", "latency")); n != 1 {
		t.Errorf("after the restart, %v open warning incidents, want 1", n)
	}
}

// Before any success there are only the health series: up 0, last
// success 0 (so that time() - x alerts), an error counted, no figures.
func TestCollectorBeforeFirstSuccess(t *testing.T) {
	dir := t.TempDir()
	tok := filepath.Join(dir, "token")
	const secret = "tok-SECRET-42"
	if err := os.WriteFile(tok, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	port := testenv.FreePort(t) // nothing listens there
	c, err := New(&config.Escalator{URL: fmt.Sprintf("http://127.0.0.1:%d", port), TokenFile: tok}, mustTokyo(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Refresh(context.Background()); err == nil {
		t.Fatal("refresh from a closed port succeeded")
	} else if strings.Contains(err.Error(), secret) {
		t.Errorf("error carries the token: %v", err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	s := metrictest.Gather(t, reg)
	for series, want := range map[string]float64{"sla_escalator_up": 0, "sla_escalator_last_success_timestamp_seconds": 0, "sla_escalator_refresh_errors_total": 1} {
		if got := s.Get(t, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	if f := figureSeries(s); len(f) != 0 {
		t.Errorf("figures before any success: %v", f)
	}
}

// New reads the token at once, so that a missing file stops the exporter
// at start rather than at the first refresh.
func TestNewNeedsTheToken(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-token")
	_, err := New(&config.Escalator{URL: "http://127.0.0.1:1", TokenFile: missing}, mustTokyo(t), nil)
	if err == nil || !strings.Contains(err.Error(), "escalator token") {
		t.Fatalf("missing token file: %v", err)
	}
	if _, err := New(nil, mustTokyo(t), nil); err == nil {
		t.Error("no escalator section: no error")
	}
}
