package restore

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/config"
	"github.com/hotel-ops/hotel-ops/exporters/pitr_exporter/repo"
)

func TestPlanPicksATargetInsideTheWindowAndTheNewestBackupBeforeIt(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	st := &repo.State{
		Backups: []repo.Backup{
			{Label: "full", Stop: t0},
			{Label: "incr1", Stop: t0.Add(6 * time.Hour)},
			{Label: "incr2", Stop: t0.Add(12 * time.Hour)},
		},
		WindowStart: t0, WindowEnd: t0.Add(13 * time.Hour),
	}
	cfg := &config.Config{RestoreTest: config.RestoreTest{EndMargin: model.Duration(time.Minute)}}
	r := &Runner{Config: cfg, Rand: rand.New(rand.NewPCG(1, 2))}
	seen := map[string]bool{}
	for i := 0; i < 2000; i++ {
		b, target, problem := r.plan(st, Options{Kind: KindPITR})
		if problem != "" {
			t.Fatal(problem)
		}
		if target.Before(st.WindowStart) || target.After(st.WindowEnd.Add(-time.Minute)) {
			t.Fatalf("target %s outside the window less its margin", target)
		}
		if target.Nanosecond()%1000 != 0 {
			t.Fatalf("target %s finer than PostgreSQL's microseconds", target)
		}
		if !b.Stop.Before(target) {
			t.Fatalf("backup %s ended at %s, not before the target %s", b.Label, b.Stop, target)
		}
		for _, other := range st.Backups {
			if other.Stop.Before(target) && other.Stop.After(b.Stop) {
				t.Fatalf("chose %s for %s; %s is newer and ended before it", b.Label, target, other.Label)
			}
		}
		seen[b.Label] = true
	}
	if len(seen) != 3 {
		t.Errorf("random targets used only backups %v", seen)
	}
	if b, _, _ := r.plan(st, Options{Kind: KindBackup}); b.Label != "incr2" {
		t.Errorf("backup test restores %s, not the newest", b.Label)
	}
	if _, _, problem := r.plan(&repo.State{Backups: st.Backups}, Options{Kind: KindPITR}); problem == "" {
		t.Error("no window, yet a random target")
	}
	if _, _, problem := r.plan(st, Options{Kind: KindPITR, Target: t0.Add(-time.Hour)}); problem == "" {
		t.Error("a target before every backup was planned")
	}
	short := *st
	short.WindowEnd = t0.Add(30 * time.Second)
	if _, _, problem := r.plan(&short, Options{Kind: KindPITR}); problem == "" {
		t.Error("a window shorter than the margin gave a target")
	}
}

func TestJudge(t *testing.T) {
	target := time.Date(2026, 12, 3, 4, 0, 0, 0, time.UTC)
	one := 1.0
	for _, c := range []struct {
		check config.Check
		value any
		bad   bool
	}{
		{config.Check{Min: &one}, int64(0), true},
		{config.Check{Min: &one}, int64(5), false},
		{config.Check{Min: &one}, nil, true},
		{config.Check{NotAfterTarget: true}, target.Add(time.Millisecond), true},
		{config.Check{NotAfterTarget: true}, target, false},
		{config.Check{MaxBeforeTarget: model.Duration(time.Minute)}, target.Add(-2 * time.Minute), true},
		{config.Check{MaxBeforeTarget: model.Duration(time.Minute)}, target.Add(-time.Second), false},
		{config.Check{MaxBeforeTarget: model.Duration(time.Minute)}, nil, true},
		{config.Check{}, "text", true},
	} {
		_, msg := judge(c.check, c.value, target)
		if (msg != "") != c.bad {
			t.Errorf("%+v on %v: %q", c.check, c.value, msg)
		}
	}
}

func TestNormalizeSetting(t *testing.T) {
	for in, want := range map[string]string{
		"shared_buffers = 128MB":         "shared_buffers=128MB",
		"work_mem='4MB'":                 "work_mem=4MB",
		"search_path = 'a, ''b'''":       "search_path=a, 'b'",
		"unix_socket_directories = '/x'": "unix_socket_directories=/x",
	} {
		if got := normalizeSetting(in); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}

func FuzzParseRecord(f *testing.F) {
	f.Add([]byte(`{"last_attempt":{"kind":"pitr","outcome":"success","finished":"2026-12-03T04:00:00Z","phases":{"fetch_seconds":1}},"last_success":{"kind":"pitr","outcome":"success","finished":"2026-12-03T04:00:00Z"}}`))
	f.Add([]byte(`{"last_attempt":{"kind":"backup","outcome":"restore_failed","finished":"2026-12-03T04:00:00Z"}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := ParseRecord(data)
		if err != nil {
			return
		}
		if rec.LastAttempt.Kind == "" || rec.LastAttempt.Finished.IsZero() {
			t.Fatalf("accepted a record without kind or time: %+v", rec)
		}
		if s := rec.LastSuccess; s != nil && s.Outcome != OutcomeSuccess {
			t.Fatalf("accepted a last success that failed: %+v", s)
		}
	})
}

func TestConfigRefusesTheOverriddenSettings(t *testing.T) {
	if got, want := OverriddenSettings(), config.ScratchOverrides; !slices.Equal(got, want) {
		t.Errorf("the scratch server's overrides %v, the configuration refuses %v", got, want)
	}
}
