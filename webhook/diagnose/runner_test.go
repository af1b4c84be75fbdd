package diagnose

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

func names(checks []Check) []string {
	var out []string
	for _, c := range checks {
		out = append(out, c.Name)
	}
	return out
}

func TestForMatchers(t *testing.T) {
	tcp := func(name string, matchers ...string) Check {
		return Check{Name: name, Type: "tcp", Addr: "127.0.0.1:1", Matchers: matchers}
	}
	r := newRunner(t,
		tcp("always"),
		tcp("db", `service="db"`),
		tcp("db-critical", `service="db"`, `severity=~"critical|page"`),
		tcp("not-api", `service!="api"`),
		tcp("no-team", `team=""`),
	)
	cases := []struct {
		labels map[string]string
		want   []string
	}{
		{nil, []string{"always", "db", "db-critical", "not-api", "no-team"}},
		{map[string]string{}, []string{"always", "not-api", "no-team"}},
		{map[string]string{"service": "db", "severity": "warning"}, []string{"always", "db", "not-api", "no-team"}},
		{map[string]string{"service": "db", "severity": "page", "team": "ops"}, []string{"always", "db", "db-critical", "not-api"}},
		{map[string]string{"service": "api"}, []string{"always", "no-team"}},
		// A label value that looks like a matcher is only a value.
		{map[string]string{"service": `db", severity="critical`}, []string{"always", "not-api", "no-team"}},
	}
	for _, tc := range cases {
		if got := names(r.For(tc.labels)); !slices.Equal(got, tc.want) {
			t.Errorf("For(%v) = %v, want %v", tc.labels, got, tc.want)
		}
	}
}

// Run runs only the checks For selects, in their order.
func TestRunSelects(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
	}))
	defer srv.Close()
	r := newRunner(t,
		Check{Name: "api", Type: "http", URL: srv.URL + "/api", Matchers: []string{`service="api"`}},
		Check{Name: "db", Type: "http", URL: srv.URL + "/db", Matchers: []string{`service="db"`}},
		Check{Name: "front", Type: "http", URL: srv.URL + "/front"},
	)
	res := r.Run(context.Background(), map[string]string{"service": "db"})
	var ran []string
	for _, x := range res {
		ran = append(ran, x.Name)
	}
	if !slices.Equal(ran, []string{"db", "front"}) {
		t.Fatalf("Run ran %v, want db and front", ran)
	}
	mu.Lock()
	slices.Sort(paths)
	got := slices.Clone(paths)
	paths = nil
	mu.Unlock()
	if !slices.Equal(got, []string{"/db", "/front"}) {
		t.Errorf("server saw %v, want /db and /front", got)
	}
	if res := r.Run(context.Background(), nil); len(res) != 3 || res[0].Name != "api" || res[2].Name != "front" {
		t.Errorf("Run(nil) = %v, want every check in order", res)
	}
}

// The checks of a run overlap: the server sees all three requests in
// flight at once (each answers after 300ms).
func TestRunParallel(t *testing.T) {
	var mu sync.Mutex
	var starts, ends []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		starts = append(starts, time.Now())
		mu.Unlock()
		time.Sleep(300 * time.Millisecond)
		mu.Lock()
		ends = append(ends, time.Now())
		mu.Unlock()
	}))
	defer srv.Close()
	var checks []Check
	for _, n := range []string{"a", "b", "c"} {
		checks = append(checks, Check{Name: n, Type: "http", URL: srv.URL + "/" + n})
	}
	r := newRunner(t, checks...)
	start := time.Now()
	res := r.Run(context.Background(), nil)
	took := time.Since(start)
	for i, x := range res {
		wantStatus(t, x, StatusOK)
		if x.Name != checks[i].Name {
			t.Errorf("result %d is %s, want %s", i, x.Name, checks[i].Name)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(starts) != 3 || len(ends) != 3 {
		t.Fatalf("server saw %d requests (%d ended), want 3", len(starts), len(ends))
	}
	if last, first := slices.MaxFunc(starts, time.Time.Compare), slices.MinFunc(ends, time.Time.Compare); !last.Before(first) {
		t.Errorf("the requests did not overlap: the last began %v after the first ended", last.Sub(first))
	}
	if took >= 800*time.Millisecond {
		t.Errorf("three 300ms checks took %v", took)
	}
}

// A canceled context fails every check at once, rather than hanging.
func TestRunCanceled(t *testing.T) {
	srv := httptest.NewServer(sleepHandler(5*time.Second, http.StatusOK))
	defer srv.Close()
	r := newRunner(t, Check{Name: "api", Type: "http", URL: srv.URL})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	res := r.Run(ctx, nil)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Run took %v after its context was canceled", took)
	}
	wantStatus(t, res[0], StatusFailed)
	if res[0].Detail != "canceled" {
		t.Errorf("detail %q, want canceled", res[0].Detail)
	}
}

type fakeProber struct {
	probeFn func(ctx context.Context) (outcome, error)
	closed  bool
}

func (f *fakeProber) probe(ctx context.Context) (outcome, error) { return f.probeFn(ctx) }
func (f *fakeProber) close() error                               { f.closed = true; return errors.New("fake close error") }

// swapProber replaces check i's probe, for what no real server does.
func swapProber(r *Runner, i int, f func(ctx context.Context) (outcome, error)) *fakeProber {
	p := &fakeProber{probeFn: f}
	r.entries[i].prober = p
	return p
}

func TestRunSurvivesPanicAndStuckProbe(t *testing.T) {
	r, err := New([]Check{
		{Name: "panics", Type: "tcp", Addr: "h:1"},
		{Name: "stuck", Type: "tcp", Addr: "h:1", Timeout: model.Duration(100 * time.Millisecond)},
		{Name: "fine", Type: "tcp", Addr: "h:1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	swapProber(r, 0, func(context.Context) (outcome, error) { panic("boom") })
	release := make(chan struct{})
	defer close(release)
	swapProber(r, 1, func(context.Context) (outcome, error) { <-release; return outcome{}, nil }) // ignores ctx
	fine := swapProber(r, 2, func(context.Context) (outcome, error) {
		return outcome{latency: time.Millisecond, head: "fine in 1 ms"}, nil
	})
	start := time.Now()
	res := r.Run(context.Background(), nil)
	if took := time.Since(start); took > 100*time.Millisecond+abandonAfter+time.Second {
		t.Errorf("Run took %v with a probe stuck past its timeout", took)
	}
	wantStatus(t, res[0], StatusFailed)
	if !strings.Contains(res[0].Detail, "internal error: boom") {
		t.Errorf("panic detail %q", res[0].Detail)
	}
	wantStatus(t, res[1], StatusFailed)
	if !strings.Contains(res[1].Detail, "timed out after 100ms") {
		t.Errorf("stuck detail %q", res[1].Detail)
	}
	wantStatus(t, res[2], StatusOK)

	if err := r.Close(); err == nil || !strings.Contains(err.Error(), "closing check fine") {
		t.Errorf("Close = %v, want the probes' close errors", err)
	}
	if !fine.closed {
		t.Error("Close did not close the probes")
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	res = r.Run(context.Background(), nil)
	for _, x := range res {
		if x.Status != StatusFailed || !strings.Contains(x.Detail, "shut down") {
			t.Errorf("after Close: %+v, want failed", x)
		}
	}
}

func TestSummary(t *testing.T) {
	got := Summary([]Result{
		{Name: "api", Type: "http", Status: StatusOK, Detail: "HTTP 200 in 12 ms"},
		{Name: "db", Type: "postgres", Status: StatusFailed, Detail: "connection refused"},
		{Name: "cache", Type: "redis", Status: StatusDegraded, Detail: "PONG in 800 ms, slower than 500ms"},
		{Name: "odd", Type: "tcp", Status: "", Detail: "two\nlines\tand\x1b[31mcolour"},
	})
	want := "✔ api (http): HTTP 200 in 12 ms\n" +
		"✖ db (postgres): connection refused\n" +
		"△ cache (redis): PONG in 800 ms, slower than 500ms\n" +
		"? odd (tcp): two lines and [31mcolour"
	if got != want {
		t.Errorf("Summary =\n%s\nwant\n%s", got, want)
	}
	if s := Summary(nil); s != "" {
		t.Errorf("Summary(nil) = %q", s)
	}
	long := Summary([]Result{{Name: "x", Type: "tcp", Status: StatusOK, Detail: strings.Repeat("é", 500)}})
	if n := len([]rune(long)); n > maxDetail+20 {
		t.Errorf("a long detail made a %d-rune line", n)
	}
}

func TestFormat(t *testing.T) {
	for d, want := range map[time.Duration]string{
		300 * time.Microsecond:   "<1 ms",
		12 * time.Millisecond:    "12 ms",
		1500 * time.Microsecond:  "2 ms",
		9999 * time.Millisecond:  "9999 ms",
		12345 * time.Millisecond: "12.3 s",
	} {
		if got := formatLatency(d); got != want {
			t.Errorf("formatLatency(%v) = %q, want %q", d, got, want)
		}
	}
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1258291: "1.2 MiB", 256 << 20: "256.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := formatBytes(n); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
