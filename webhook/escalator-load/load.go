package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"
)

// answer is escalator's reply to a delivery it stored.
type answer struct {
	Duplicate bool `json:"duplicate"`
	Opened    int  `json:"opened"`
	Resolved  int  `json:"resolved"`
}

// result is one copy of one delivery, posted and answered.
type result struct {
	seq      int
	peer     int
	stage    int
	alerts   int
	sched    time.Duration // when it was due, from the start
	held     time.Duration // past its due, waiting for the answer to its group's previous copy from the same peer
	sendLag  time.Duration // how late it left after it was due and free to go (open loop)
	latency  time.Duration // answer − due, or − the previous copy's answer when held (open loop); answer − sent
	code     int           // 0: no answer
	err      string
	ans      answer
	measured bool // after the warm-up, before the end
}

// incRef is what the run knows of one incident (alert occurrence). The
// times are offsets from the start of the run.
type incRef struct {
	critical, flapping  bool
	hasFire, hasResolve bool
	fireAt, resolveAt   time.Duration // first firing / resolved copy, due (open loop) or sent
	fireLast            time.Duration // the last firing copy, the same
	fired, resolved     bool          // a copy of that status was answered 200
}

// tracker collects the results and the incidents' times.
type tracker struct {
	mu      sync.Mutex
	results []result
	inc     map[string]*incRef
}

func newTracker() *tracker { return &tracker{inc: map[string]*incRef{}} }

// due records that a copy of d leaves at offset at.
func (t *tracker) due(d *delivery, at time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, a := range d.alerts {
		r := t.inc[a.def.incident]
		if r == nil {
			r = &incRef{critical: a.def.critical, flapping: a.def.flapping}
			t.inc[a.def.incident] = r
		}
		switch {
		case a.resolved && (!r.hasResolve || at < r.resolveAt):
			r.resolveAt, r.hasResolve = at, true
		case !a.resolved:
			if !r.hasFire || at < r.fireAt {
				r.fireAt, r.hasFire = at, true
			}
			r.fireLast = max(r.fireLast, at)
		}
	}
}

func (t *tracker) add(d *delivery, r result) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.results = append(t.results, r)
	if r.code != http.StatusOK {
		return
	}
	for _, a := range d.alerts {
		if ref := t.inc[a.def.incident]; ref != nil {
			if a.resolved {
				ref.resolved = true
			} else {
				ref.fired = true
			}
		}
	}
}

// poster posts deliveries as one Alertmanager peer does: its own client
// and connections.
type poster struct {
	client *http.Client
	url    string
	token  string
}

func newPoster(target, token string, timeout time.Duration) *poster {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        0,
		MaxIdleConnsPerHost: 4096,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &poster{client: &http.Client{Transport: tr, Timeout: timeout}, url: target + "/api/v1/alerts", token: token}
}

// post sends one body; code 0 when no answer came.
func (p *poster) post(ctx context.Context, body []byte) (int, answer, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return 0, answer{}, err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Alertmanager/0.35.0 (escalator-load)")
	req.Header.Set("Authorization", "Bearer "+p.token)
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, answer{}, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	var a answer
	if resp.StatusCode == http.StatusOK {
		_ = json.Unmarshal(b, &a)
		return resp.StatusCode, a, ""
	}
	return resp.StatusCode, a, fmt.Sprintf("%d %s", resp.StatusCode, bytes.TrimSpace(b))
}

// copyJob is one peer's copy of a delivery, with its body made ahead.
// An Alertmanager peer sends a group's notifications one after the
// other: a copy leaves only once the peer's previous copy of the same
// group was answered (prev is closed), and closes done when answered.
type copyJob struct {
	d     *delivery
	peer  int
	body  []byte
	sched time.Duration
	prev  <-chan struct{} // nil for a group's first
	done  chan struct{}
}

// free waits until c may leave: its previous copy answered. It returns
// how long that took, 0 when it was free already.
func (c copyJob) free(ctx context.Context) time.Duration {
	if c.prev == nil {
		return 0
	}
	select {
	case <-c.prev:
		return 0
	default:
	}
	t0 := time.Now()
	select {
	case <-c.prev:
	case <-ctx.Done():
	}
	return time.Since(t0)
}

// shape is the load's common settings.
type shape struct {
	peers   int
	skew    time.Duration
	warmup  time.Duration
	measure time.Duration
	gen     *generator
	rng     *rand.Rand
}

// copies makes each peer's copy of d, due at d.at plus each peer's
// skew: the peers of an HA pair send the same group about together.
func (s *shape) copies(d *delivery) ([]copyJob, error) {
	jobs := make([]copyJob, 0, s.peers)
	for p := 0; p < s.peers; p++ {
		b, err := d.body(p)
		if err != nil {
			return nil, err
		}
		sched := d.at
		if s.peers > 1 && s.skew > 0 {
			sched += time.Duration(s.rng.Int64N(int64(s.skew)))
		}
		if d.group.lastDone == nil {
			d.group.lastDone = make([]chan struct{}, s.peers)
		}
		c := copyJob{d: d, peer: p, body: b, sched: sched, prev: d.group.lastDone[p], done: make(chan struct{})}
		d.group.lastDone[p] = c.done
		jobs = append(jobs, c)
	}
	if d.stage == stageResolve {
		// The group is over: its alerts' labels are no longer needed.
		for _, a := range d.alerts {
			a.def.labels, a.def.annotations = nil, nil
		}
	}
	return jobs, nil
}

// plan makes every copy of a storm of rate deliveries a second ahead,
// in the order due, so that making them costs nothing during the run
// (as BenchmarkStores makes its bodies before the clock starts).
func plan(s *shape, rate float64) ([]copyJob, error) {
	period := time.Duration(float64(time.Second) / rate)
	total := int((s.warmup + s.measure) / period)
	jobs := make([]copyJob, 0, total*s.peers)
	for i := 0; i < total; i++ {
		d := s.gen.next(time.Duration(i) * period)
		cs, err := s.copies(d)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, cs...)
	}
	return jobs, nil
}

// storm sends the planned copies, each at its due time whatever the
// answers to the earlier ones (an open loop, as Alertmanager sends): a
// latency is from the due time to the answer, so a stall counts for
// every delivery it delayed.
func storm(ctx context.Context, s *shape, posters []*poster, t *tracker, jobs []copyJob, start time.Time) error {
	var wg sync.WaitGroup
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := range jobs {
		c := jobs[i]
		jobs[i] = copyJob{} // the body is garbage once sent
		if wait := time.Until(start.Add(c.d.at)); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func(c copyJob) {
			defer wg.Done()
			defer close(c.done)
			due := start.Add(c.sched)
			if wait := time.Until(due); wait > 0 {
				time.Sleep(wait)
			}
			held := c.free(ctx)
			if held > 0 {
				// Held by its group's previous copy, as Alertmanager
				// holds it: due from when it was free to go.
				due = time.Now()
			}
			t.due(c.d, due.Sub(start))
			sent := time.Now()
			code, ans, errText := posters[c.peer].post(ctx, c.body)
			t.add(c.d, result{
				seq: c.d.seq, peer: c.peer, stage: c.d.stage, alerts: len(c.d.alerts), sched: c.sched, held: held,
				sendLag: sent.Sub(due), latency: time.Since(due), code: code, err: errText, ans: ans,
				measured: c.sched >= s.warmup,
			})
		}(c)
	}
	wg.Wait()
	return ctx.Err()
}

// throughput runs `senders` senders, each posting its next copy as soon
// as its previous one was answered, for the warm-up and the measurement.
// The copies are made by one goroutine, a few thousand ahead.
func throughput(ctx context.Context, s *shape, posters []*poster, t *tracker, senders, lag int, start time.Time) error {
	jobs := make(chan copyJob, 4096)
	errc := make(chan error, 1)
	prodCtx, stopProducing := context.WithCancel(ctx)
	defer stopProducing()
	go func() {
		defer close(jobs)
		for prodCtx.Err() == nil {
			// The group's deliveries are lag deliveries apart, whatever
			// the rate: the mixture is steady after the first 2×lag.
			d := s.gen.next(time.Duration(s.gen.seq) * s.gen.interval / time.Duration(lag))
			cs, err := s.copies(d)
			if err != nil {
				errc <- err
				return
			}
			for _, c := range cs {
				select {
				case jobs <- c:
				case <-prodCtx.Done():
					return
				}
			}
		}
	}()
	for len(jobs) < cap(jobs)-s.peers && time.Now().Before(start) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(time.Until(start))
	end := start.Add(s.warmup + s.measure)
	var wg sync.WaitGroup
	for i := 0; i < senders; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && time.Now().Before(end) {
				c, ok := <-jobs
				if !ok {
					return
				}
				held := c.free(ctx)
				sent := time.Now()
				t.due(c.d, sent.Sub(start))
				code, ans, errText := posters[c.peer].post(ctx, c.body)
				close(c.done)
				t.add(c.d, result{
					seq: c.d.seq, peer: c.peer, stage: c.d.stage, alerts: len(c.d.alerts), sched: sent.Sub(start), held: held,
					latency: time.Since(sent), code: code, err: errText, ans: ans,
					measured: sent.Sub(start) >= s.warmup,
				})
			}
		}()
	}
	wg.Wait()
	stopProducing()
	select {
	case err := <-errc:
		return err
	default:
	}
	return ctx.Err()
}
