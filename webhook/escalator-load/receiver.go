package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// receiver is the webhook channels' endpoint, on 127.0.0.1: it answers
// 200 after an optional delay (a slow chat service) and counts each
// notification by its Idempotency-Key, the key escalator gives a
// notification (incident/step/channel) and keeps across retries.
type receiver struct {
	URL   string
	srv   *http.Server
	delay time.Duration
	done  chan struct{}

	mu    sync.Mutex
	keys  map[string]*arrival
	total int
	last  time.Time
}

type arrival struct {
	count int
	first time.Time
}

func startReceiver(delay time.Duration) (*receiver, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &receiver{URL: "http://" + l.Addr().String(), delay: delay, keys: map[string]*arrival{}, done: make(chan struct{})}
	r.srv = &http.Server{Handler: http.HandlerFunc(r.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(r.done)
		_ = r.srv.Serve(l)
	}()
	return r, nil
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	now := time.Now()
	_, _ = io.Copy(io.Discard, req.Body)
	key := req.Header.Get("Idempotency-Key")
	r.mu.Lock()
	a := r.keys[key]
	if a == nil {
		a = &arrival{first: now}
		r.keys[key] = a
	}
	a.count++
	r.total++
	r.last = now
	r.mu.Unlock()
	if r.delay > 0 {
		select {
		case <-time.After(r.delay):
		case <-req.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "ok")
}

// quiet waits until no notification has arrived for `still`, and
// notBefore has passed (the last step that may come due), or until
// `within` has passed; it reports whether they had stopped arriving.
func (r *receiver) quiet(still, within time.Duration, notBefore time.Time) bool {
	deadline := time.Now().Add(within)
	start := time.Now()
	for {
		r.mu.Lock()
		last := r.last
		r.mu.Unlock()
		if last.IsZero() {
			last = start
		}
		if time.Since(last) >= still && time.Now().After(notBefore) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// snapshot copies the arrivals by key.
func (r *receiver) snapshot() (map[string]arrival, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]arrival, len(r.keys))
	for k, a := range r.keys {
		out[k] = *a
	}
	return out, r.total
}

func (r *receiver) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.srv.Shutdown(ctx); err != nil {
		_ = r.srv.Close()
	}
	<-r.done
}
