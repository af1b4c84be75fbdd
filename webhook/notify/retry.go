package notify

import (
	"errors"
	"math/rand/v2"
	"time"
)

// Backoff is the pause before retry number i (from 1) after the error
// last: base·2^(i-1) capped at ceiling, of which a random half is taken
// off (so the pages of many incidents failing together do not hit the
// endpoint in step), or the server's Retry-After when it asked for
// longer, also capped at ceiling. escalator's outbox waits this long
// between the attempts of a notification.
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
