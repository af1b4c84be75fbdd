package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.yaml.in/yaml/v3"

	"github.com/hotel-ops/hotel-ops/internal/testenv"
	"github.com/hotel-ops/hotel-ops/webhook/escalate"
	"github.com/hotel-ops/hotel-ops/webhook/policy"
	"github.com/hotel-ops/hotel-ops/webhook/store"
)

// consoleServer is escalator's handler on a real embedded store with one
// open incident whose labels try to inject a script.
func consoleServer(t *testing.T) (*httptest.Server, store.Store) {
	st, err := store.OpenBolt(filepath.Join(t.TempDir(), "console.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var pol policy.File
	yaml.Unmarshal([]byte("policies:\n  - {name: dba, matchers: ['severity=\"critical\"'], steps: [{after: 0s, notify: [x]}, {after: 1h, notify: [x]}]}\n"), &pol)
	if err := pol.Validate(map[string]bool{"x": true}); err != nil {
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
	mux := http.NewServeMux()
	(&Server{Engine: eng, Token: []byte("console-token"), MaxBody: 1 << 20}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, st
}

// browser is a headless Debian chromium driven over the DevTools protocol.
func browser(t *testing.T) context.Context {
	bin := testenv.LookPath(t, "chromium", "apt-get install chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin),
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// A person signs in with the token, sees the incident with its labels
// shown as text (the script in a label does not run), opens its
// timeline and acknowledges it with the button.
func TestConsoleInBrowser(t *testing.T) {
	srv, st := consoleServer(t)
	ctx := browser(t)

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
		chromedp.Navigate(srv.URL+"/console/"),
		chromedp.WaitVisible(chromedp.ID("#token")),
		chromedp.SendKeys(chromedp.ID("#token"), "wrong"),
		chromedp.Click(chromedp.ID("#signin")),
		chromedp.WaitVisible(chromedp.ID("#error")),
	)
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); !strings.Contains(loc, "/console/login") || !strings.Contains(errText, "Wrong token") {
		t.Fatalf("without a session: at %s, error %q", loc, errText)
	}

	table := text("#incidents",
		chromedp.SetValue(chromedp.ID("#token"), "console-token"),
		chromedp.Click(chromedp.ID("#signin")),
		chromedp.WaitVisible(chromedp.CSS("tr.incident")),
	)
	for _, want := range []string{"PostgresDown", "critical", "open", "dba", "step 1 at", "primary <b>down</b>"} {
		if !strings.Contains(table, want) {
			t.Errorf("incident list lacks %q:\n%s", want, table)
		}
	}
	labels := text("#labels",
		chromedp.Click(chromedp.CSS("tr.incident a")),
		chromedp.WaitVisible(chromedp.ID("#timeline")),
	)
	if title, _ := chromedp.Run(ctx, chromedp.Title()); title == "pwned" || !strings.Contains(labels, "<script>") {
		t.Errorf("a label's markup was run or lost: title %q, labels %q", title, labels)
	}
	timeline := text("#timeline")
	for _, want := range []string{"opened", "policy dba", "escalated", "step 0 of dba"} {
		if !strings.Contains(timeline, want) {
			t.Errorf("timeline lacks %q:\n%s", want, timeline)
		}
	}
	status := text("#status",
		chromedp.Click(chromedp.ID("#ack")),
		chromedp.WaitNotPresent(chromedp.ID("#ack")),
	)
	if status != "acknowledged" {
		t.Errorf("status after the button: %q", status)
	}
	list, _ := st.Incidents(context.Background(), 10)
	if len(list) != 1 || list[0].Status != store.Acknowledged || list[0].AckedBy != "console" {
		t.Errorf("store after the button: %+v", list)
	}
}

// The console's acknowledge form is refused without the session's CSRF
// token, and its pages without a session.
func TestConsoleRefusesForgedRequests(t *testing.T) {
	srv, st := consoleServer(t)
	list, _ := st.Incidents(context.Background(), 1)
	id := list[0].ID
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(srv.URL + "/console/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/console/login") {
		t.Errorf("console without a session: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Sign in, then post the form without its token, as another site would.
	resp, err = noRedirect.PostForm(srv.URL+"/console/login", map[string][]string{"token": {"console-token"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cookies := resp.Cookies()
	if len(cookies) != 1 || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie: %+v", cookies)
	}
	for _, csrf := range []string{"", "forged"} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/console/incidents/"+id+"/ack", strings.NewReader("csrf="+csrf))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(cookies[0])
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("ack with csrf %q: %d", csrf, resp.StatusCode)
		}
	}
	if inc, _ := st.Incident(context.Background(), id); inc.Status != store.Open {
		t.Errorf("a forged form acknowledged the incident: %s", inc.Status)
	}
	// A forged or expired session cookie is no session.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/console/", nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: "99999999999.forged"})
	resp, err = noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("forged session: %d", resp.StatusCode)
	}
}

// Session cookies come from browsers: whatever a cookie holds, only a
// value this server signed, and not expired, is a session.
func FuzzSessionCookie(f *testing.F) {
	s := &Server{Token: []byte("tok"), Engine: &escalate.Engine{Now: func() time.Time { return time.Unix(1_800_000_000, 0) }}}
	f.Add("1800003600." + s.sign("session", "1800003600"))
	f.Add("99999999999.x")
	f.Add("")
	f.Add("1800003600")
	f.Fuzz(func(t *testing.T, value string) {
		req := httptest.NewRequest(http.MethodGet, "/console/", nil)
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: value})
		got := s.session(req, s.Engine.Now())
		if got == "" {
			return
		}
		exp, sig, _ := strings.Cut(got, ".")
		n, err := strconv.ParseInt(exp, 10, 64)
		if err != nil || n < s.Engine.Now().Unix() || sig != s.sign("session", exp) {
			t.Fatalf("accepted %q", value)
		}
	})
}

// With basic auth, replicas behind one address accept each other's
// console forms: the form key comes from the acknowledgement links'
// secret they share, not from each process.
func TestConsoleFormsAcrossReplicasWithBasicAuth(t *testing.T) {
	replica := func(secret string) *Server {
		return &Server{Engine: &escalate.Engine{Links: &escalate.Links{Base: "https://e.example", Secret: []byte(secret), TTL: time.Hour}}}
	}
	r := httptest.NewRequest(http.MethodGet, "/console/", nil)
	r.SetBasicAuth("alice", "pw")
	now := time.Now()
	a, b, other := replica("shared"), replica("shared"), replica("another")
	if a.csrf(r, now) != b.csrf(r, now) {
		t.Error("two replicas with the same link secret make different form tokens")
	}
	if a.csrf(r, now) == other.csrf(r, now) {
		t.Error("replicas with different secrets make the same form token")
	}
}
