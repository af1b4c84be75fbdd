package diagnose

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hotel-ops/hotel-ops/internal/secret"
)

// userAgent names the prober in the services' access logs, so a probe
// seen there is not mistaken for a customer or an attack.
const userAgent = "hotel-ops-escalator-diagnose"

// maxDrain is how much of a response body is read (and thrown away) so the
// connection can be reused; the body never goes into a result, where it
// could carry anything.
const maxDrain = 64 << 10

func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	// A probe is a request now and then to each endpoint: keep few idle
	// connections, and none for long.
	t.MaxIdleConnsPerHost = 2
	t.IdleConnTimeout = 30 * time.Second
	t.DialContext = (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext
	return t
}

// httpProbe requests an API endpoint or an external service.
type httpProbe struct {
	c      *Check
	client *http.Client
}

func (p *httpProbe) probe(ctx context.Context) (outcome, error) {
	req, err := http.NewRequestWithContext(ctx, p.c.method(), p.c.URL, nil)
	if err != nil {
		return outcome{}, fmt.Errorf("building the request: %w", err)
	}
	req.Header.Set("User-Agent", userAgent)
	if p.c.BearerTokenFile != "" || p.c.BearerTokenEnv != "" {
		// Read at each run, so a rotated token is picked up.
		tok, err := secret.Read(p.c.BearerTokenFile, p.c.BearerTokenEnv)
		if err != nil {
			return outcome{}, fmt.Errorf("bearer token: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	start := time.Now()
	resp, err := p.client.Do(req)
	if err != nil {
		return outcome{}, fmt.Errorf("requesting: %w", err)
	}
	// The latency is the time to the response's headers: that is when the
	// service answered; the body is the payload's size, not its health.
	latency := time.Since(start)
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	resp.Body.Close()
	out := outcome{latency: latency, head: fmt.Sprintf("HTTP %d in %s", resp.StatusCode, formatLatency(latency))}
	if !p.expected(resp.StatusCode) {
		out.failed = true
		out.tail = "expected " + p.expectedText()
	}
	return out, nil
}

func (p *httpProbe) expected(code int) bool {
	if len(p.c.ExpectStatus) == 0 {
		return code >= 200 && code <= 399
	}
	return slices.Contains(p.c.ExpectStatus, code)
}

func (p *httpProbe) expectedText() string {
	if len(p.c.ExpectStatus) == 0 {
		return "200-399"
	}
	s := make([]string, len(p.c.ExpectStatus))
	for i, c := range p.c.ExpectStatus {
		s[i] = strconv.Itoa(c)
	}
	return strings.Join(s, ", ")
}

// close has nothing to do: the transport is the Runner's.
func (p *httpProbe) close() error { return nil }
