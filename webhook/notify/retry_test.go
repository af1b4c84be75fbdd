package notify

import (
	"context"
	"errors"
	"net/http"
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

// A 429's Retry-After comes back in the error, and Backoff waits that long
// (up to its ceiling) rather than its own, shorter, delay.
func TestRetryAfterHonoured(t *testing.T) {
	rec := throttledOnce(t, "1")
	n := webhookTo(t, rec)
	err := n.Send(context.Background(), hostileMessage())
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != 429 || se.RetryAfter != time.Second || IsPermanent(err) {
		t.Fatalf("got %v", err)
	}
	if d := Backoff(1, time.Millisecond, 5*time.Second, err); d != time.Second {
		t.Errorf("Backoff waited %v, want the Retry-After of 1s", d)
	}
	if d := Backoff(1, time.Millisecond, 50*time.Millisecond, err); d != 50*time.Millisecond {
		t.Errorf("Backoff waited %v, want the ceiling of 50ms", d)
	}
	if err := n.Send(context.Background(), hostileMessage()); err != nil {
		t.Fatal(err)
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

func TestBackoffBounds(t *testing.T) {
	base, ceiling := 10*time.Millisecond, 100*time.Millisecond
	for i, full := range []time.Duration{10, 20, 40, 80, 100, 100, 100} {
		full *= time.Millisecond
		for range 50 {
			if d := Backoff(i+1, base, ceiling, nil); d < full/2 || d > full {
				t.Fatalf("Backoff(%d) = %v, want within [%v, %v]", i+1, d, full/2, full)
			}
		}
	}
	// Retry-After longer than the backoff wins, up to the ceiling.
	if d := Backoff(1, base, ceiling, &StatusError{RetryAfter: 70 * time.Millisecond}); d != 70*time.Millisecond {
		t.Errorf("Retry-After 70ms: waited %v", d)
	}
	if d := Backoff(1, base, ceiling, &PermanentError{Err: &StatusError{RetryAfter: time.Hour}}); d != ceiling {
		t.Errorf("Retry-After 1h: waited %v", d)
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
