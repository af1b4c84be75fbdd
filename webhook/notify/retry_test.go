package notify

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

func webhookTo(t *testing.T, rec *recorder) Notifier {
	t.Helper()
	n, err := New("hook", ChannelConfig{Type: "webhook", URL: rec.srv.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRetryUntilSuccess(t *testing.T) {
	rec := newRecorder(t, func(n int, w http.ResponseWriter) {
		if n < 2 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	if err := fast(webhookTo(t, rec), 5).Send(context.Background(), hostileMessage()); err != nil {
		t.Fatal(err)
	}
	reqs := rec.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d attempts, want 3", len(reqs))
	}
	// The same key on every attempt: that is what lets the receiver drop
	// the repeats of a delivery whose answer was lost.
	for i, r := range reqs {
		if k := r.Header.Get("Idempotency-Key"); k != "inc-42/2/ops" {
			t.Errorf("attempt %d: key %q", i, k)
		}
	}
}

func TestRetryStopsOnPermanent(t *testing.T) {
	rec := newRecorder(t, func(_ int, w http.ResponseWriter) { w.WriteHeader(http.StatusBadRequest) })
	err := fast(webhookTo(t, rec), 5).Send(context.Background(), hostileMessage())
	var se *StatusError
	if !IsPermanent(err) || !errors.As(err, &se) || se.StatusCode != 400 {
		t.Errorf("got %v", err)
	}
	if got := len(rec.requests()); got != 1 {
		t.Errorf("%d attempts, want 1", got)
	}
}

func TestRetryTimingStatusesAreNotPermanent(t *testing.T) {
	for _, code := range []int{408, 429, 500, 502, 503} {
		rec := newRecorder(t, func(n int, w http.ResponseWriter) {
			if n == 0 {
				w.WriteHeader(code)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})
		if err := fast(webhookTo(t, rec), 2).Send(context.Background(), hostileMessage()); err != nil {
			t.Errorf("%d: %v", code, err)
		}
		if got := len(rec.requests()); got != 2 {
			t.Errorf("%d: %d attempts, want 2", code, got)
		}
	}
}

func TestRetryGivesUp(t *testing.T) {
	rec := newRecorder(t, func(_ int, w http.ResponseWriter) { w.WriteHeader(http.StatusBadGateway) })
	err := fast(webhookTo(t, rec), 3).Send(context.Background(), hostileMessage())
	var se *StatusError
	if err == nil || !errors.As(err, &se) || se.StatusCode != 502 || IsPermanent(err) || !strings.Contains(err.Error(), "gave up after 3 attempts") {
		t.Errorf("got %v", err)
	}
	if got := len(rec.requests()); got != 3 {
		t.Errorf("%d attempts, want 3", got)
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	rec := throttledOnce(t, "1")
	// Backoff alone would wait about a millisecond.
	n := WithRetry(webhookTo(t, rec), 3, time.Millisecond, 5*time.Second)
	if err := n.Send(context.Background(), hostileMessage()); err != nil {
		t.Fatal(err)
	}
	reqs := rec.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d attempts", len(reqs))
	}
	if gap := reqs[1].At.Sub(reqs[0].At); gap < 900*time.Millisecond {
		t.Errorf("second attempt %v after the 429, want about 1s", gap)
	}
}

func TestRetryAfterCappedAtMax(t *testing.T) {
	rec := throttledOnce(t, "3600")
	start := time.Now()
	if err := WithRetry(webhookTo(t, rec), 2, time.Millisecond, 50*time.Millisecond).Send(context.Background(), hostileMessage()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v: Retry-After not capped", d)
	}
}

func TestRetryStopsOnCancel(t *testing.T) {
	first := make(chan struct{})
	var once atomic.Bool
	rec := newRecorder(t, func(_ int, w http.ResponseWriter) {
		if once.CompareAndSwap(false, true) {
			close(first)
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-first
		cancel()
	}()
	start := time.Now()
	// A long backoff: only the cancellation can end this quickly.
	err := WithRetry(webhookTo(t, rec), 10, 10*time.Second, time.Minute).Send(ctx, hostileMessage())
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
	if got := len(rec.requests()); got != 1 {
		t.Errorf("%d attempts, want 1", got)
	}
}

// blocking is a Notifier whose attempt lasts until its context ends.
type blocking struct{ calls atomic.Int32 }

func (b *blocking) Send(ctx context.Context, _ Message) error {
	b.calls.Add(1)
	<-ctx.Done()
	return ctx.Err()
}

func TestRetryCancelDuringAttempt(t *testing.T) {
	b := &blocking{}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := fast(b, 5).Send(ctx, hostileMessage())
	if !errors.Is(err, context.DeadlineExceeded) || b.calls.Load() != 1 {
		t.Errorf("got %v after %d calls", err, b.calls.Load())
	}
	// Already done: no attempt at all.
	b2 := &blocking{}
	err = fast(b2, 5).Send(ctx, hostileMessage())
	if !errors.Is(err, context.DeadlineExceeded) || b2.calls.Load() != 0 {
		t.Errorf("got %v after %d calls", err, b2.calls.Load())
	}
}

// An attempt that times out on the channel's own timeout is retried: only
// the caller's context ends the loop.
func TestRetryAfterAttemptTimeout(t *testing.T) {
	release := make(chan struct{})
	rec := newRecorder(t, func(n int, w http.ResponseWriter) {
		if n == 0 {
			<-release
		}
		w.WriteHeader(http.StatusOK)
	})
	defer close(release)
	n, err := New("hook", ChannelConfig{Type: "webhook", URL: rec.srv.URL, Timeout: model.Duration(100 * time.Millisecond)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := fast(n, 3).Send(context.Background(), hostileMessage()); err != nil {
		t.Fatal(err)
	}
	if got := len(rec.requests()); got != 2 {
		t.Errorf("%d attempts, want 2", got)
	}
}

func TestRetryWaitBounds(t *testing.T) {
	r := WithRetry(nil, 10, 10*time.Millisecond, 100*time.Millisecond).(*retrier)
	for i, full := range []time.Duration{10, 20, 40, 80, 100, 100, 100} {
		full *= time.Millisecond
		for range 50 {
			if d := r.wait(i+1, nil); d < full/2 || d > full {
				t.Fatalf("wait(%d) = %v, want within [%v, %v]", i+1, d, full/2, full)
			}
		}
	}
	// Retry-After longer than the backoff wins, up to max.
	if d := r.wait(1, &StatusError{RetryAfter: 70 * time.Millisecond}); d != 70*time.Millisecond {
		t.Errorf("Retry-After 70ms: waited %v", d)
	}
	if d := r.wait(1, &PermanentError{Err: &StatusError{RetryAfter: time.Hour}}); d != 100*time.Millisecond {
		t.Errorf("Retry-After 1h: waited %v", d)
	}
	if WithRetry(nil, 0, 0, 0).(*retrier).attempts != 1 {
		t.Error("attempts below 1 should mean one attempt")
	}
}

// throttledOnce answers the first request 429 with Retry-After, then 200.
func throttledOnce(t *testing.T, retryAfter string) *recorder {
	return newRecorder(t, func(n int, w http.ResponseWriter) {
		if n == 0 {
			w.Header().Set("Retry-After", retryAfter)
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}
