package incidents

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// MaxIncidents is the most incidents escalator's API answers at once, and
// so the most one refresh reads: the newest (open ones first, then the
// resolved newest first). A month with more than that is undercounted.
const MaxIncidents = 10000

// MaxBody bounds the answer read: 10,000 incidents with generous labels
// and annotations stay far below it, and a misbehaving server cannot make
// the exporter hold gigabytes.
const MaxBody = 64 << 20

// defaultHTTP is used when Client.HTTP is nil: it never waits forever on a
// server that accepts the connection and says nothing.
var defaultHTTP = &http.Client{Timeout: 30 * time.Second}

// Client reads incidents from escalator's API.
type Client struct {
	URL   string // escalator's base URL, e.g. http://127.0.0.1:9096
	Token string // the bearer token of escalator's API
	HTTP  *http.Client
}

// ErrUnauthorized is escalator's answer to a missing or wrong token.
var ErrUnauthorized = errors.New("escalator refused the API token (401): check escalator.token_file or token_env")

// errTooLarge marks an answer longer than MaxBody.
var errTooLarge = fmt.Errorf("escalator's answer is larger than %d bytes", MaxBody)

// Incidents reads up to MaxIncidents incidents.
func (c *Client) Incidents(ctx context.Context) ([]Incident, error) {
	url := strings.TrimRight(c.URL, "/") + fmt.Sprintf("/api/v1/incidents?limit=%d", MaxIncidents)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("escalator incidents: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Accept", "application/json")
	hc := c.HTTP
	if hc == nil {
		hc = defaultHTTP
	}
	resp, err := hc.Do(req)
	if err != nil {
		// The URL in the error holds no secret: the token is in a header.
		return nil, fmt.Errorf("escalator incidents: %w", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return nil, ErrUnauthorized
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("escalator incidents: GET %s: %s%s", url, resp.Status, excerpt(resp.Body))
	}
	list, err := decode(&limitReader{r: resp.Body, left: MaxBody})
	if err != nil {
		return nil, fmt.Errorf("escalator incidents: %w", err)
	}
	return list, nil
}

// excerpt is the start of an error answer (escalator says why in JSON),
// on one line, for the error message.
func excerpt(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, 256))
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(b), "?")), " ")
	if s == "" {
		return ""
	}
	return ": " + s
}

// limitReader fails once more than left bytes are read, so that a body cut
// at the limit is an error rather than a truncated list.
type limitReader struct {
	r    io.Reader
	left int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n, errTooLarge
	}
	return n, err
}
