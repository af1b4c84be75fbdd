package api

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotel-ops/hotel-ops/webhook/escalate"
	"github.com/hotel-ops/hotel-ops/webhook/store"
)

// The signed link in a notification: GET shows a button and changes
// nothing (mail scanners follow links); POST of the button acknowledges;
// a link with a changed signature, another incident's ID, or past its
// expiry is refused and changes nothing.
func TestAckLinkEndpoints(t *testing.T) {
	srv, st := consoleServer(t)
	list, err := st.Incidents(context.Background(), 10)
	if err != nil || len(list) != 1 {
		t.Fatalf("incidents: %v %v", list, err)
	}
	id := list[0].ID
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	links := &escalate.Links{Base: srv.URL, Secret: []byte("link-secret"), TTL: time.Hour}
	mux := http.NewServeMux()
	eng := &escalate.Engine{Store: st, Policies: benchPolicies(t, "1h"), Links: links, Now: clock}
	(&Server{Engine: eng, Token: []byte("api-token"), MaxBody: 1 << 20}).Register(mux)
	ackSrv := httptest.NewServer(mux)
	t.Cleanup(ackSrv.Close)

	link, err := url.Parse(links.AckURL(id, now))
	if err != nil {
		t.Fatal(err)
	}
	q := link.Query()
	status := func() string {
		inc, err := st.Incident(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return inc.Status
	}
	resp, err := http.Get(ackSrv.URL + "/ack?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), `method="post"`) || status() != store.Open {
		t.Fatalf("GET of the link: %d, status %s, page:\n%s", resp.StatusCode, status(), page)
	}
	post := func(v url.Values) int {
		resp, err := http.PostForm(ackSrv.URL+"/ack", v)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	with := func(k, v string) url.Values {
		c := url.Values{}
		for k, vs := range q {
			c[k] = vs
		}
		c.Set(k, v)
		return c
	}
	for name, v := range map[string]url.Values{
		"a changed signature": with("sig", strings.Repeat("0", 64)),
		"another incident":    with("id", id+"x"),
		"a later expiry":      with("exp", q.Get("exp")+"0"),
	} {
		if code := post(v); code != http.StatusForbidden || status() != store.Open {
			t.Errorf("POST with %s: %d, status %s; want 403 and still open", name, code, status())
		}
	}
	mu.Lock()
	now = now.Add(time.Hour + time.Second)
	mu.Unlock()
	if code := post(q); code != http.StatusForbidden || status() != store.Open {
		t.Errorf("POST past the expiry: %d, status %s; want 403 and still open", code, status())
	}
	mu.Lock()
	now = now.Add(-2 * time.Second)
	mu.Unlock()
	if code := post(q); code != http.StatusOK || status() != store.Acknowledged {
		t.Errorf("POST of the button: %d, status %s; want 200 and acknowledged", code, status())
	}
	audit, _ := st.Audit(context.Background(), id, 10)
	if len(audit) == 0 || audit[0].Action != "acknowledged" || audit[0].Detail != "by signed link" {
		t.Errorf("audit: %+v", audit)
	}
}
