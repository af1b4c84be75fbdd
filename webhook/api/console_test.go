package api

import (
	"context"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"

	"github.com/hotel-ops/hotel-ops/internal/testenv"
	"github.com/hotel-ops/hotel-ops/webhook/escalate"
	"github.com/hotel-ops/hotel-ops/webhook/policy"
	"github.com/hotel-ops/hotel-ops/webhook/store"
)

// password is every test account's.
const password = "correct horse battery"

// writeUsers writes a console users file giving each name password
// (bcrypt at its lowest cost, to keep tests quick).
func writeUsers(t testing.TB, path string, names ...string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("users:\n")
	for _, name := range names {
		hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "  %s: %s\n", name, hash)
	}
	old, statErr := os.Stat(path)
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if statErr == nil {
		// A rewrite within the file system's clock tick, of the same
		// size, must still read as a change.
		later := old.ModTime().Add(time.Second)
		if err := os.Chtimes(path, later, later); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// testClock is a clock tests move by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *testClock) Add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.now = c.now.Add(d) }

// consoleEnv is escalator's handler on a real embedded store with one
// open incident whose labels try to inject a script; tanaka and suzuki
// have console accounts.
type consoleEnv struct {
	*httptest.Server
	st    store.Store
	id    string // the incident's
	users string // the users file
	clock *testClock
}

func newConsole(t *testing.T, configure func(*Server)) *consoleEnv {
	st, err := store.OpenEmbedded(filepath.Join(t.TempDir(), "console.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var pol policy.File
	yaml.Unmarshal([]byte("policies:\n  - {name: dba, matchers: ['severity=\"critical\"'], steps: [{after: 0s, notify: [x]}, {after: 1h, notify: [x]}]}\n"), &pol)
	if err := pol.Validate(map[string]bool{"x": true}, nil); err != nil {
		t.Fatal(err)
	}
	eng := &escalate.Engine{Store: st, Policies: &pol}
	d := mustParse(t, `{"version":"4","groupKey":"g","status":"firing","alerts":[{"status":"firing",
"labels":{"alertname":"PostgresDown","severity":"critical","instance":"<script>document.title='pwned'</script>"},
"annotations":{"summary":"primary <b>down</b>"},"startsAt":"2026-11-28T00:00:00Z","fingerprint":"aa01"}]}`)
	if _, err := eng.Receive(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	list, err := st.Incidents(context.Background(), 1)
	if err != nil || len(list) != 1 {
		t.Fatalf("incidents: %v %v", list, err)
	}
	env := &consoleEnv{st: st, id: list[0].ID, clock: &testClock{now: time.Now()}}
	env.users = writeUsers(t, filepath.Join(t.TempDir(), "console-users.yml"), "tanaka", "suzuki")
	users, err := OpenUsersFile(env.users, ConsoleUsers(env.users), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := serve(eng, st, &Server{Token: []byte("console-token"), Users: users, Secret: []byte("console-secret"), Now: env.clock.Now, MaxBody: 1 << 20})
	if configure != nil {
		configure(s)
	}
	mux := http.NewServeMux()
	s.Register(mux)
	env.Server = httptest.NewServer(mux)
	t.Cleanup(env.Close)
	return env
}

// consoleServer is newConsole's server and store.
func consoleServer(t *testing.T) (*httptest.Server, store.Store) {
	env := newConsole(t, nil)
	return env.Server, env.st
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// do sends a request without following redirects and returns the
// response with its body read.
func do(t *testing.T, method, url string, form url.Values, edit func(*http.Request)) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if edit != nil {
		edit(req)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// signIn posts the sign-in form.
func (env *consoleEnv) signIn(t *testing.T, name, pw, next string) *http.Response {
	t.Helper()
	resp, _ := do(t, http.MethodPost, env.URL+"/console/login", url.Values{"name": {name}, "password": {pw}, "next": {next}}, nil)
	return resp
}

// session signs name in and returns the session cookie.
func (env *consoleEnv) session(t *testing.T, name string) *http.Cookie {
	t.Helper()
	resp := env.signIn(t, name, password, "")
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			return c
		}
	}
	t.Fatalf("signing %s in: %d, no session cookie", name, resp.StatusCode)
	return nil
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// formToken reads the CSRF token from a console page.
func formToken(t *testing.T, page string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no form token in:\n%s", page)
	}
	return m[1]
}

// A person opens an incident's link (as from Slack), signs in with a
// name and password, lands on that incident, sees its labels as text (the
// script in a label does not run) and its timeline, and acknowledges it
// with the button: the acknowledgement is theirs.
func TestConsoleInBrowser(t *testing.T) {
	env := newConsole(t, nil)
	ctx := testenv.Browser(t, 60*time.Second)

	// text runs steps, then reads an element's text.
	text := func(sel chromedp.ID, steps ...chromedp.Action[chromedp.Void]) string {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatal(err)
		}
		v, err := chromedp.Run(ctx, chromedp.Text(sel))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	errText := text("#error",
		chromedp.Navigate(env.URL+"/console/incidents/"+env.id),
		chromedp.WaitVisible(chromedp.ID("#name")),
		chromedp.SetValue(chromedp.ID("#name"), "tanaka"),
		chromedp.SetValue(chromedp.ID("#password"), "wrong"),
		chromedp.Click(chromedp.ID("#signin")),
		chromedp.WaitVisible(chromedp.ID("#error")),
	)
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); !strings.Contains(loc, "/console/login") || !strings.Contains(errText, "Wrong name or password") {
		t.Fatalf("without a session: at %s, error %q", loc, errText)
	}

	labels := text("#labels",
		chromedp.SetValue(chromedp.ID("#password"), password),
		chromedp.Click(chromedp.ID("#signin")),
		chromedp.WaitVisible(chromedp.ID("#timeline")),
	)
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc != env.URL+"/console/incidents/"+env.id {
		t.Errorf("after signing in: at %s, want the incident that was asked for", loc)
	}
	if title, _ := chromedp.Run(ctx, chromedp.Title()); title == "pwned" || !strings.Contains(labels, "<script>") {
		t.Errorf("a label's markup was run or lost: title %q, labels %q", title, labels)
	}
	timeline := text("#timeline")
	for _, want := range []string{"opened", "policy dba", "escalated", "step 0 of dba"} {
		if !strings.Contains(timeline, want) {
			t.Errorf("timeline lacks %q:\n%s", want, timeline)
		}
	}
	if who := text("#who"); !strings.Contains(who, "Signed in as tanaka") {
		t.Errorf("who: %q", who)
	}

	table := text("#incidents",
		chromedp.Navigate(env.URL+"/console/"),
		chromedp.WaitVisible(chromedp.CSS("tr.incident")),
	)
	for _, want := range []string{"PostgresDown", "critical", "open", "dba", "step 1 at", "primary <b>down</b>"} {
		if !strings.Contains(table, want) {
			t.Errorf("incident list lacks %q:\n%s", want, table)
		}
	}
	status := text("#status",
		chromedp.Click(chromedp.CSS("tr.incident a")),
		chromedp.WaitVisible(chromedp.ID("#ack")),
		chromedp.Click(chromedp.ID("#ack")),
		chromedp.WaitNotPresent(chromedp.ID("#ack")),
	)
	if status != "acknowledged" {
		t.Errorf("status after the button: %q", status)
	}
	list, _ := env.st.Incidents(context.Background(), 10)
	if len(list) != 1 || list[0].Status != store.Acknowledged || list[0].AckedBy != "tanaka" {
		t.Errorf("store after the button: %+v", list)
	}
}

// Signing in: the machine token opens nothing; a wrong password or an
// unknown name is refused; the right one sets a session cookie (HttpOnly,
// SameSite=Lax so that links from other sites arrive signed in, Secure
// when asked) and goes on to `next` when it is a console page of this
// site; an acknowledgement from the console is the person's.
func TestConsoleSignIn(t *testing.T) {
	env := newConsole(t, nil)
	bearer := func(r *http.Request) { r.Header.Set("Authorization", "Bearer console-token") }
	if resp, _ := do(t, http.MethodGet, env.URL+"/console/", nil, bearer); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("console with the machine token: %d, want the sign-in page", resp.StatusCode)
	}
	for name, pw := range map[string]string{"": "console-token", "tanaka": "console-token", "tanaka ": password, "nobody": password, "suzuki": "wrong"} {
		if resp := env.signIn(t, name, pw, ""); resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
			t.Errorf("sign-in as %q with %q: %d, cookies %v", name, pw, resp.StatusCode, resp.Cookies())
		}
	}

	incident := "/console/incidents/" + env.id + "?from=slack"
	for next, want := range map[string]string{incident: incident, "//evil.example/console/": "/console/", "": "/console/"} {
		resp := env.signIn(t, "tanaka", password, next)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
			t.Errorf("sign-in with next %q: %d to %q, want %q", next, resp.StatusCode, resp.Header.Get("Location"), want)
		}
	}
	// The sign-in page keeps where the person was going.
	resp, _ := do(t, http.MethodGet, env.URL+incident, nil, nil)
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/console/login?next="+url.QueryEscape(incident) {
		t.Errorf("incident page without a session: %d to %q", resp.StatusCode, loc)
	}
	_, page := do(t, http.MethodGet, env.URL+resp.Header.Get("Location"), nil, nil)
	if !strings.Contains(page, `name="next" value="`+template.HTMLEscapeString(incident)+`"`) {
		t.Errorf("the sign-in page lost next:\n%s", page)
	}

	c := env.session(t, "tanaka")
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure || c.Path != "/console/" {
		t.Errorf("session cookie: %+v", c)
	}
	withCookie := func(r *http.Request) { r.AddCookie(c) }
	resp, page = do(t, http.MethodGet, env.URL+"/console/incidents/"+env.id, nil, withCookie)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Signed in as <b>tanaka</b>") {
		t.Fatalf("incident page with a session: %d\n%s", resp.StatusCode, page)
	}
	if resp, _ := do(t, http.MethodPost, env.URL+"/console/incidents/"+env.id+"/ack", url.Values{"csrf": {formToken(t, page)}}, withCookie); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("acknowledging: %d", resp.StatusCode)
	}
	inc, _ := env.st.Incident(context.Background(), env.id)
	audit, _ := env.st.Audit(context.Background(), env.id, 1)
	if inc.AckedBy != "tanaka" || len(audit) != 1 || audit[0].Detail != "by tanaka" {
		t.Errorf("acknowledged by %q; audit %+v", inc.AckedBy, audit)
	}

	// Signing out clears the cookie.
	resp, _ = do(t, http.MethodPost, env.URL+"/console/logout", url.Values{"csrf": {formToken(t, page)}}, withCookie)
	if cs := resp.Cookies(); resp.StatusCode != http.StatusSeeOther || len(cs) != 1 || cs[0].MaxAge >= 0 {
		t.Errorf("signing out: %d, cookies %+v", resp.StatusCode, cs)
	}

	secure := newConsole(t, func(s *Server) { s.SecureCookies = true })
	if c := secure.session(t, "tanaka"); !c.Secure {
		t.Errorf("with an https external URL the session cookie is not Secure: %+v", c)
	}
}

// A session ends when its person's password changes or they leave the
// users file, without a restart; someone added can sign in at once.
func TestConsoleUsersFileChanges(t *testing.T) {
	env := newConsole(t, nil)
	tanaka, suzuki := env.session(t, "tanaka"), env.session(t, "suzuki")
	get := func(c *http.Cookie) int {
		resp, _ := do(t, http.MethodGet, env.URL+"/console/", nil, func(r *http.Request) { r.AddCookie(c) })
		return resp.StatusCode
	}
	if get(tanaka) != http.StatusOK || get(suzuki) != http.StatusOK {
		t.Fatal("sessions do not work")
	}
	// tanaka gets a new hash (of the same password), suzuki leaves, sato comes.
	writeUsers(t, env.users, "tanaka", "sato")
	if code := get(tanaka); code != http.StatusSeeOther {
		t.Errorf("a session from before the password changed: %d", code)
	}
	if code := get(suzuki); code != http.StatusSeeOther {
		t.Errorf("the session of someone removed: %d", code)
	}
	if code := get(env.session(t, "sato")); code != http.StatusOK {
		t.Errorf("someone added: %d", code)
	}
	// A broken file keeps the accounts read before.
	if err := os.WriteFile(env.users, []byte("users: [nonsense\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if resp := env.signIn(t, "sato", password, ""); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("sign-in after the users file broke: %d, want the accounts read before", resp.StatusCode)
	}
}

// Failed sign-ins are limited: five guesses at a name from one address,
// even sent at once, then one a minute; other names are not locked out.
func TestConsoleSlowsFailedSignIns(t *testing.T) {
	env := newConsole(t, nil)
	codes := make(chan int, 10)
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() { defer wg.Done(); codes <- env.signIn(t, "tanaka", "guess", "").StatusCode }()
	}
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	if count[http.StatusUnauthorized] != 5 || count[http.StatusTooManyRequests] != 5 {
		t.Errorf("ten guesses at once: %v, want five refused as wrong and five as too many", count)
	}
	resp := env.signIn(t, "tanaka", password, "")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("the right password while limited: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if resp := env.signIn(t, "suzuki", password, ""); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("another name: %d", resp.StatusCode)
	}
	env.clock.Add(time.Minute)
	if resp := env.signIn(t, "tanaka", password, ""); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("a minute later: %d", resp.StatusCode)
	}
	// Many names from one address: twenty failures, then refused.
	refused := 0
	for i := range 25 {
		if env.signIn(t, fmt.Sprint("guess", i), "guess", "").StatusCode == http.StatusTooManyRequests {
			refused++
		}
	}
	if refused == 0 {
		t.Error("25 names tried from one address, none refused")
	}
}

// With the bearer token and no users file, the console has no accounts
// and says so; the token does not open it.
func TestConsoleWithoutUsersFile(t *testing.T) {
	env := newConsole(t, func(s *Server) { s.Users = nil })
	for _, path := range []string{"/console/", "/console/login", "/console/incidents/" + env.id} {
		resp, page := do(t, http.MethodGet, env.URL+path, nil, func(r *http.Request) { r.Header.Set("Authorization", "Bearer console-token") })
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(page, "console_users_file") {
			t.Errorf("GET %s: %d\n%s", path, resp.StatusCode, page)
		}
	}
	resp, _ := do(t, http.MethodPost, env.URL+"/console/login", url.Values{"name": {""}, "password": {"console-token"}}, nil)
	if resp.StatusCode != http.StatusNotFound || len(resp.Cookies()) != 0 {
		t.Errorf("signing in with the token: %d %v", resp.StatusCode, resp.Cookies())
	}
}

// The console's acknowledge form is refused without the session's CSRF
// token, and its pages without a session.
func TestConsoleRefusesForgedRequests(t *testing.T) {
	env := newConsole(t, nil)
	c := env.session(t, "tanaka")
	for _, csrf := range []string{"", "forged"} {
		resp, _ := do(t, http.MethodPost, env.URL+"/console/incidents/"+env.id+"/ack", url.Values{"csrf": {csrf}}, func(r *http.Request) { r.AddCookie(c) })
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("ack with csrf %q: %d", csrf, resp.StatusCode)
		}
	}
	// Another person's form token is not this session's.
	_, page := do(t, http.MethodGet, env.URL+"/console/incidents/"+env.id, nil, func(r *http.Request) { r.AddCookie(env.session(t, "suzuki")) })
	resp, _ := do(t, http.MethodPost, env.URL+"/console/incidents/"+env.id+"/ack", url.Values{"csrf": {formToken(t, page)}}, func(r *http.Request) { r.AddCookie(c) })
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("ack with another session's form token: %d", resp.StatusCode)
	}
	if inc, _ := env.st.Incident(context.Background(), env.id); inc.Status != store.Open {
		t.Errorf("a forged form acknowledged the incident: %s", inc.Status)
	}
	// A sign-in posted from another site is refused.
	resp, _ = do(t, http.MethodPost, env.URL+"/console/login", url.Values{"name": {"tanaka"}, "password": {password}}, func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") })
	if resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
		t.Errorf("cross-site sign-in: %d %v", resp.StatusCode, resp.Cookies())
	}
	// Forged, expired or altered session cookies are no session.
	name := base64.RawURLEncoding.EncodeToString([]byte("tanaka"))
	for _, value := range []string{name + ".99999999999.forged", strings.Replace(c.Value, name, base64.RawURLEncoding.EncodeToString([]byte("suzuki")), 1), c.Value + "x"} {
		resp, _ := do(t, http.MethodGet, env.URL+"/console/", nil, func(r *http.Request) { r.AddCookie(&http.Cookie{Name: sessionCookie, Value: value}) })
		if resp.StatusCode != http.StatusSeeOther {
			t.Errorf("session cookie %q: %d", value, resp.StatusCode)
		}
	}
	env.clock.Add(sessionTTL + time.Second)
	if resp, _ := do(t, http.MethodGet, env.URL+"/console/", nil, func(r *http.Request) { r.AddCookie(c) }); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("an expired session: %d", resp.StatusCode)
	}
}

func TestSafeNext(t *testing.T) {
	for next, want := range map[string]string{
		"/console/incidents/a1?x=1": "/console/incidents/a1?x=1",
		"/console/":                 "/console/",
		"":                          "/console/",
		"https://evil.example/":     "/console/",
		"//evil.example/console/":   "/console/",
		"/\\evil.example/console/":  "/console/",
		"/console/../metrics":       "/console/",
		"/console/%2e%2e/metrics":   "/console/",
		"/console/login?next=/x":    "/console/",
		"/console/\r\nSet-Cookie:x": "/console/",
		"/metrics":                  "/console/",
	} {
		if got := safeNext(next); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", next, got, want)
		}
	}
}

// A users file entry that is no bcrypt hash is refused, naming the user
// and not the value.
func TestConsoleUsersFileErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.yml")
	for content, want := range map[string]string{
		"users:\n  tanaka: hunter2-plain\n": "users.yml:2: users.tanaka: not a bcrypt hash",
		"users: {}\n":                       "at least one person",
		"user:\n  tanaka: x\n":              "field user not found",
	} {
		os.WriteFile(path, []byte(content), 0o600)
		_, err := OpenUsersFile(path, ConsoleUsers(path), nil)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%q: %v, want %q", content, err, want)
		}
	}
}

// Session cookies come from browsers: whatever a cookie holds, only a
// value this server signed for a name in the users file, and not
// expired, is a session.
func FuzzSessionCookie(f *testing.F) {
	path := writeUsers(f, filepath.Join(f.TempDir(), "users.yml"), "tanaka")
	users, err := OpenUsersFile(path, ConsoleUsers(path), nil)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	s := &Server{Users: users, Secret: []byte("k"), Now: func() time.Time { return now }}
	hash, _ := users.Users().hashFor("tanaka")
	f.Add(s.newSession("tanaka", hash, now))
	f.Add(s.newSession("suzuki", hash, now))
	f.Add("dGFuYWth.99999999999.x")
	f.Add("")
	f.Add("..")
	f.Fuzz(func(t *testing.T, value string) {
		req := httptest.NewRequest(http.MethodGet, "/console/", nil)
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: value})
		name := s.sessionUser(req, now)
		if name == "" {
			return
		}
		parts := strings.Split(req.Cookies()[0].Value, ".")
		exp, err := strconv.ParseInt(parts[1], 10, 64)
		if name != "tanaka" || err != nil || exp < now.Unix() || parts[2] != s.sign("session", name, parts[1], string(hash)) {
			t.Fatalf("accepted %q as %q", value, name)
		}
	})
}

// Replicas behind one address accept each other's console forms and
// sessions: the key comes from the secret they share, not from each
// process.
func TestConsoleKeyAcrossReplicas(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/console/", nil)
	r.SetBasicAuth("alice", "pw")
	a, b, other := &Server{Secret: []byte("shared")}, &Server{Secret: []byte("shared")}, &Server{Secret: []byte("another")}
	if a.csrf(r) != b.csrf(r) {
		t.Error("two replicas with the same secret make different form tokens")
	}
	if a.csrf(r) == other.csrf(r) {
		t.Error("replicas with different secrets make the same form token")
	}
}
