package notify

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// retrier repeats a Notifier's Send with exponential backoff.
type retrier struct {
	next     Notifier
	attempts int
	base     time.Duration
	max      time.Duration
}

// WithRetry returns a Notifier that makes up to attempts attempts of n.Send.
// The wait before attempt k+1 is base·2^(k-1) capped at max, of which a
// random half is taken off (so the pages of many incidents failing together
// do not hit the endpoint in step), or the server's Retry-After when it
// asked for longer, also capped at max. It stops at once on success, on a
// *PermanentError (returned as is) and when ctx is done.
//
// The Message, and so its idempotency key, is the same on every attempt:
// a receiver that got an attempt whose answer was lost can drop the repeat.
//
// The durations are the policy: production passes seconds, tests pass
// milliseconds.
func WithRetry(n Notifier, attempts int, base, max time.Duration) Notifier {
	if attempts < 1 {
		attempts = 1
	}
	if base < 0 {
		base = 0
	}
	if max < base {
		max = base
	}
	return &retrier{next: n, attempts: attempts, base: base, max: max}
}

func (r *retrier) Send(ctx context.Context, m Message) error {
	var last error
	for i := 0; i < r.attempts; i++ {
		if i > 0 {
			t := time.NewTimer(r.wait(i, last))
			select {
			case <-ctx.Done():
				t.Stop()
				return r.stopped(ctx, i, last)
			case <-t.C:
			}
		}
		if ctx.Err() != nil {
			return r.stopped(ctx, i, last)
		}
		last = r.next.Send(ctx, m)
		if last == nil {
			return nil
		}
		if IsPermanent(last) {
			return last
		}
		if ctx.Err() != nil {
			// The attempt failed because the caller gave up: no
			// point in waiting for the next one.
			return r.stopped(ctx, i+1, last)
		}
	}
	return fmt.Errorf("%w (gave up after %d attempts)", last, r.attempts)
}

// stopped is the error for a caller's cancellation: it answers errors.Is
// with ctx.Err() and keeps the last attempt's error for the log.
func (r *retrier) stopped(ctx context.Context, made int, last error) error {
	if last == nil {
		return fmt.Errorf("notify: not sent (%d attempts): %w", made, ctx.Err())
	}
	return fmt.Errorf("notify: stopped after %d attempts: %w; last error: %w", made, ctx.Err(), last)
}

// wait is the pause before attempt number i (from 1, the first retry).
func (r *retrier) wait(i int, last error) time.Duration {
	return Backoff(i, r.base, r.max, last)
}

// Backoff is the pause before retry number i (from 1) after the error
// last: base·2^(i-1) capped at ceiling, of which a random half is taken
// off (so the pages of many incidents failing together do not hit the
// endpoint in step), or the server's Retry-After when it asked for
// longer, also capped at ceiling. escalator's outbox and WithRetry share it.
func Backoff(i int, base, ceiling time.Duration, last error) time.Duration {
	d := base
	for k := 1; k < i && d < ceiling; k++ {
		d *= 2 // doubling until the ceiling, not shifting: no overflow
	}
	d = min(d, ceiling)
	if half := d / 2; half > 0 {
		d = d - half + rand.N(half+1)
	}
	var se *StatusError
	if errors.As(last, &se) && se.RetryAfter > 0 {
		d = max(d, min(se.RetryAfter, ceiling))
	}
	return d
}
