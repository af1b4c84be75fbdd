package sla

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"sync"

	"github.com/prometheus/client_golang/api"
)

// countingTransport passes requests on to the real transport and counts
// them by API path (/api/v1/query, /api/v1/query_range), remembering the
// last Authorization header and the parameters of the last range query.
type countingTransport struct {
	mu        sync.Mutex
	n         map[string]int
	auth      string
	lastRange url.Values
}

func newCountingTransport() *countingTransport { return &countingTransport{n: map[string]int{}} }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	params := r.URL.Query()
	if r.Body != nil {
		// client_golang POSTs the parameters as a form: read and put back.
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(body))
		if form, err := url.ParseQuery(string(body)); err == nil {
			for k, v := range form {
				params[k] = v
			}
		}
	}
	c.mu.Lock()
	c.n[r.URL.Path]++
	c.auth = r.Header.Get("Authorization")
	if r.URL.Path == "/api/v1/query_range" {
		c.lastRange = params
	}
	c.mu.Unlock()
	return api.DefaultRoundTripper.RoundTrip(r)
}

// lastRangeQuery is the start and end of the last range query.
func (c *countingTransport) lastRangeQuery() (start, end string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastRange.Get("start"), c.lastRange.Get("end")
}

// take returns the counts so far and starts again from zero.
func (c *countingTransport) take() (rangeQueries, instantQueries int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rangeQueries, instantQueries = c.n["/api/v1/query_range"], c.n["/api/v1/query"]
	c.n = map[string]int{}
	return rangeQueries, instantQueries
}

func (c *countingTransport) lastAuth() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.auth
}
