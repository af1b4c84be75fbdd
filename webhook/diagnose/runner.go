package diagnose

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"

	"github.com/hotel-ops/hotel-ops/internal/yamlconf"
)

// abandonAfter is how long past its timeout Run waits for a probe that
// does not return: every client here honours its context, but the first
// notification of an incident must not depend on that.
const abandonAfter = time.Second

// errClosed is the failure of a check run after Close.
var errClosed = errors.New("diagnostics are shut down")

// prober is one check's probe and the client it keeps between runs.
type prober interface {
	// probe runs the check once, bounded by ctx. An error is a failure
	// (described by describeError); an outcome with failed set is a
	// service that answered, but not as expected.
	probe(ctx context.Context) (outcome, error)
	close() error
}

// outcome is what a probe saw when the service answered. The detail is
// head, then ", slower than …" when degraded, then ", " tail.
type outcome struct {
	latency time.Duration
	head    string // "HTTP 200 in 12 ms"
	tail    string // "expected 200-399", "5 clients"
	failed  bool
}

type entry struct {
	check    Check
	matchers labels.Matchers
	prober   prober
}

// Runner holds the checks and their clients. Database pools and Redis
// clients are opened on a check's first run, so a service that is down
// when escalator starts shows as a failed check rather than stopping it,
// and are reused by later runs; Close closes them. A Runner is safe for
// concurrent use (an incident's checks and the daily summary may overlap).
type Runner struct {
	entries   []*entry
	transport *http.Transport // shared by the http checks

	mu     sync.Mutex
	closed bool
}

// New validates the checks (as escalator.yml's "diagnostics[i]") and
// prepares their probes; it connects to nothing and reads no secret yet.
func New(checks []Check) (*Runner, error) {
	var errs []error
	seen := map[string]int{}
	for i := range checks {
		path := fmt.Sprintf("diagnostics[%d]", i)
		if err := checks[i].Validate(path); err != nil {
			errs = append(errs, err)
		}
		if j, dup := seen[checks[i].Name]; dup && checks[i].Name != "" {
			// Results are told apart by name, in messages and the console.
			errs = append(errs, yamlconf.Fieldf(path+".name", "%q is also the name of diagnostics[%d]", checks[i].Name, j))
		} else {
			seen[checks[i].Name] = i
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("diagnostics: %w", err)
	}
	r := &Runner{transport: newTransport()}
	client := &http.Client{
		Transport: r.transport,
		// A health endpoint's redirect is its answer (3xx is expected by
		// default): following it would probe another service, and would
		// take the bearer token along to the same host.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	for _, c := range checks {
		e := &entry{check: c}
		e.check.Matchers = slices.Clone(c.Matchers)
		e.check.ExpectStatus = slices.Clone(c.ExpectStatus)
		for _, s := range c.Matchers {
			m, err := labels.ParseMatcher(s) // validated above
			if err != nil {
				return nil, fmt.Errorf("diagnostics: check %s: %w", c.Name, err)
			}
			e.matchers = append(e.matchers, m)
		}
		ec := &e.check
		switch c.Type {
		case TypeHTTP:
			e.prober = &httpProbe{c: ec, client: client}
		case TypePostgres:
			e.prober = &postgresProbe{c: ec}
		case TypeRedis:
			e.prober = &redisProbe{c: ec}
		case TypeTCP:
			e.prober = &tcpProbe{c: ec}
		}
		r.entries = append(r.entries, e)
	}
	return r, nil
}

// Close closes the clients the checks opened. Later runs fail.
func (r *Runner) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	var errs []error
	for _, e := range r.entries {
		if err := e.prober.close(); err != nil {
			errs = append(errs, fmt.Errorf("closing check %s: %w", e.check.Name, err))
		}
	}
	r.transport.CloseIdleConnections()
	return errors.Join(errs...)
}

func (r *Runner) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// For returns the checks that apply to an incident's labels, in the
// configuration's order: those whose matchers all match. Labels nil means
// every check (the daily summary).
func (r *Runner) For(lbls map[string]string) []Check {
	var out []Check
	for _, e := range r.selectEntries(lbls) {
		c := e.check // a copy the caller may change without touching the Runner
		c.Matchers = slices.Clone(c.Matchers)
		c.ExpectStatus = slices.Clone(c.ExpectStatus)
		out = append(out, c)
	}
	return out
}

func (r *Runner) selectEntries(lbls map[string]string) []*entry {
	if lbls == nil {
		return r.entries
	}
	// Labels come from alerts, that is from anyone who can make one: they
	// only select checks, and never reach a URL, a query or a command.
	set := make(model.LabelSet, len(lbls))
	for k, v := range lbls {
		set[model.LabelName(k)] = model.LabelValue(v)
	}
	var out []*entry
	for _, e := range r.entries {
		if e.matchers.Matches(set) {
			out = append(out, e)
		}
	}
	return out
}

// Run runs the checks that apply to labels (nil: every check) at once,
// each bounded by its own timeout and by ctx, and returns their results in
// the checks' order. It never fails: a check that cannot even start (a
// missing secret, a Runner closed) is a failed result.
func (r *Runner) Run(ctx context.Context, lbls map[string]string) []Result {
	entries := r.selectEntries(lbls)
	results := make([]Result, len(entries))
	var wg sync.WaitGroup
	for i, e := range entries {
		wg.Go(func() { results[i] = r.runOne(ctx, e) })
	}
	wg.Wait()
	return results
}

func (r *Runner) runOne(ctx context.Context, e *entry) Result {
	c := &e.check
	res := Result{Name: c.Name, Type: c.Type, At: time.Now()}
	if r.isClosed() {
		return failed(res, errClosed.Error())
	}
	timeout := c.timeout()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	type answer struct {
		out outcome
		err error
	}
	done := make(chan answer, 1) // buffered: an abandoned probe does not leak blocked
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- answer{err: fmt.Errorf("internal error: %v", p)}
			}
		}()
		out, err := e.prober.probe(ctx)
		done <- answer{out, err}
	}()
	var a answer
	select {
	case a = <-done:
	case <-ctx.Done():
		grace := time.NewTimer(abandonAfter)
		defer grace.Stop()
		select {
		case a = <-done:
		case <-grace.C:
			a.err = fmt.Errorf("check abandoned: %w", ctx.Err())
		}
	}

	res.Latency = a.out.latency
	if a.err != nil {
		if res.Latency == 0 {
			res.Latency = time.Since(res.At)
		}
		return failed(res, describeError(a.err, timeout))
	}
	parts := []string{a.out.head}
	switch {
	case a.out.failed:
		res.Status = StatusFailed
	case c.MaxLatency > 0 && a.out.latency > time.Duration(c.MaxLatency):
		res.Status = StatusDegraded
		parts = append(parts, "slower than "+time.Duration(c.MaxLatency).String())
	default:
		res.Status = StatusOK
	}
	if a.out.tail != "" {
		parts = append(parts, a.out.tail)
	}
	res.Detail = oneLine(strings.Join(parts, ", "))
	return res
}

func failed(res Result, detail string) Result {
	res.Status = StatusFailed
	res.Detail = oneLine(detail)
	return res
}
