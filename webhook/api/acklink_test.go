package api

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
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
	serve(eng, st, &Server{Links: links, Now: clock, Token: []byte("api-token"), MaxBody: 1 << 20}).Register(mux)
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

// With basic auth, a signed link needs no password (it is for whoever got
// the notification) while everything else does; the console takes the
// name the browser sent, and its acknowledgement is that person's.
func TestBasicAuthLetsSignedLinksThrough(t *testing.T) {
	env := newConsole(t, nil)
	links := &escalate.Links{Base: "http://escalator.example", Secret: []byte("link-secret"), TTL: time.Hour}
	eng := &escalate.Engine{Store: env.st, Policies: benchPolicies(t, "1h")}
	path := writeUsers(t, filepath.Join(t.TempDir(), "web-users.yml"), "alertmanager", "tanaka")
	users, err := OpenUsersFile(path, ConsoleUsers(path), nil)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	serve(eng, env.st, &Server{Links: links, Secret: []byte("link-secret"), MaxBody: 1 << 20}).Register(mux)
	srv := httptest.NewServer(BasicAuth(users, mux))
	t.Cleanup(srv.Close)
	as := func(name, pw string) func(*http.Request) {
		return func(r *http.Request) { r.SetBasicAuth(name, pw) }
	}

	for _, path := range []string{"/api/v1/incidents", "/console/", "/console/incidents/" + env.id, "/ack/../api/v1/incidents"} {
		for who, edit := range map[string]func(*http.Request){"no one": nil, "a wrong password": as("tanaka", "wrong"), "an unknown name": as("nobody", password)} {
			if resp, _ := do(t, http.MethodGet, srv.URL+path, nil, edit); resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
				t.Errorf("GET %s as %s: %d", path, who, resp.StatusCode)
			}
		}
	}
	if resp, body := do(t, http.MethodGet, srv.URL+"/api/v1/incidents", nil, as("alertmanager", password)); resp.StatusCode != http.StatusOK || !strings.Contains(body, env.id) {
		t.Errorf("the API with a password: %d %s", resp.StatusCode, body)
	}
	resp, page := do(t, http.MethodGet, srv.URL+"/console/incidents/"+env.id, nil, as("tanaka", password))
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Signed in as <b>tanaka</b>") || strings.Contains(page, "signout") {
		t.Fatalf("the console with basic auth: %d\n%s", resp.StatusCode, page)
	}
	// The console's form token is bound to the credentials: another's is refused.
	if resp, _ := do(t, http.MethodPost, srv.URL+"/console/incidents/"+env.id+"/ack", url.Values{"csrf": {formToken(t, page)}}, as("alertmanager", password)); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a form token of other credentials: %d", resp.StatusCode)
	}

	link, err := url.Parse(links.AckURL(env.id, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	resp, page = do(t, http.MethodGet, srv.URL+"/ack?"+link.RawQuery, nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `method="post"`) {
		t.Fatalf("the signed link without a password: %d\n%s", resp.StatusCode, page)
	}
	if resp, _ := do(t, http.MethodPost, srv.URL+"/ack", link.Query(), nil); resp.StatusCode != http.StatusOK {
		t.Errorf("the link's button without a password: %d", resp.StatusCode)
	}
	// Every field of the link is checked, with or without basic auth.
	forged := link.Query()
	forged.Set("id", env.id+"x")
	if resp, _ := do(t, http.MethodPost, srv.URL+"/ack", forged, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a forged link: %d", resp.StatusCode)
	}
	inc, _ := env.st.Incident(context.Background(), env.id)
	if inc.Status != store.Acknowledged || inc.AckedBy != "signed link" {
		t.Errorf("after the link: %s by %q", inc.Status, inc.AckedBy)
	}
}

// Empty lists are [] in JSON, not null.
func TestEmptyListsAreArrays(t *testing.T) {
	st, err := store.OpenEmbedded(filepath.Join(t.TempDir(), "empty.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	mux := http.NewServeMux()
	serve(&escalate.Engine{Store: st, Policies: benchPolicies(t, "1h")}, st, &Server{Token: []byte("t"), MaxBody: 1 << 20}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	for _, path := range []string{"/api/v1/incidents", "/api/v1/audit", "/api/v1/audit?incident=nope"} {
		resp, body := do(t, http.MethodGet, srv.URL+path, nil, func(r *http.Request) { r.Header.Set("Authorization", "Bearer t") })
		if resp.StatusCode != http.StatusOK || strings.TrimSpace(body) != "[]" {
			t.Errorf("GET %s on an empty store: %d %q, want []", path, resp.StatusCode, body)
		}
	}
}
