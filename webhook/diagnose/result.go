package diagnose

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5/pgconn"
)

// Status is the outcome of a check.
type Status string

const (
	StatusOK Status = "ok"
	// StatusDegraded: the service answered as expected, but slower than
	// the check's max_latency.
	StatusDegraded Status = "degraded"
	StatusFailed   Status = "failed"
)

// Result is what one check saw.
type Result struct {
	Name    string
	Type    string
	Status  Status
	Latency time.Duration // of the probe itself; 0 when it could not start
	// Detail is short, one line and free of secrets, for a notification:
	// "HTTP 200 in 12 ms", "SELECT 1 in 3 ms", "connection refused".
	Detail string
	At     time.Time // when the check started
}

// maxDetail bounds a detail: it is one line of a chat message.
const maxDetail = 200

// Summary renders results as one short line each, in order, for a
// notification: "✔ api (http): HTTP 200 in 12 ms",
// "✖ db (postgres): connection refused",
// "△ cache (redis): PONG in 800 ms, slower than 500ms".
func Summary(results []Result) string {
	var b strings.Builder
	for i, r := range results {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s %s (%s): %s", symbol(r.Status), oneLine(r.Name), oneLine(r.Type), oneLine(r.Detail))
	}
	return b.String()
}

func symbol(s Status) string {
	switch s {
	case StatusOK:
		return "✔"
	case StatusDegraded:
		return "△"
	case StatusFailed:
		return "✖"
	}
	return "?"
}

// formatLatency is a latency as people read it in a message: "12 ms".
func formatLatency(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return "<1 ms"
	case d < 10*time.Second:
		return fmt.Sprintf("%d ms", d.Round(time.Millisecond).Milliseconds())
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

// formatBytes is a byte count in binary units: "1.2 MiB".
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f := float64(n)
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB"} {
		f /= unit
		if f < unit || u == "TiB" {
			return fmt.Sprintf("%.1f %s", f, u)
		}
	}
	return "" // not reached
}

// describeError turns the error of a probe into a detail: the cause an
// operator acts on ("connection refused", "timed out after 5s"), not the
// whole chain, which is long and may name the URL (with a token in its
// query) or the DSN's parameters.
func describeError(err error, timeout time.Duration) string {
	var pgErr *pgconn.PgError
	var dnsErr *net.DNSError
	var urlErr *url.Error
	var opErr *net.OpError
	switch {
	case errors.As(err, &pgErr):
		if pgErr.Code == "57014" { // query_canceled: our statement_timeout
			return fmt.Sprintf("query timed out after %s (statement_timeout)", formatTimeout(timeout))
		}
		return oneLine(fmt.Sprintf("%s: %s (SQLSTATE %s)", pgErr.Severity, pgErr.Message, pgErr.Code))
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return "timed out after " + formatTimeout(timeout)
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "host unreachable"
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return "no such host " + oneLine(dnsErr.Name)
		}
		return "DNS lookup of " + oneLine(dnsErr.Name) + " failed"
	case errors.As(err, &urlErr):
		return describeError(urlErr.Err, timeout) // drop the URL
	case errors.As(err, &opErr):
		return oneLine(opErr.Err.Error())
	}
	return oneLine(err.Error())
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

func formatTimeout(d time.Duration) string { return d.String() }

// oneLine makes s fit a line of a message: control characters become
// spaces, runs of white space one, and it is cut at maxDetail.
func oneLine(s string) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
	if r := []rune(s); len(r) > maxDetail {
		s = string(r[:maxDetail-1]) + "…"
	}
	return s
}
