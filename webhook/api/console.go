package api

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/hotel-ops/hotel-ops/webhook/store"
)

// The incident console: HTML pages for people. With the bearer token
// (the machines' secret, never a person's), people sign in with a name
// and password from the console users file and get a session cookie;
// without a users file the console says it has no accounts. With basic
// auth, the browser asks for the password and the console takes the name
// it sent. Acknowledgements are recorded as by that person. Every form
// carries a CSRF token bound to the session, and pages forbid scripts:
// labels and annotations are untrusted and html/template escapes them.

//go:embed console/*.html
var consoleFS embed.FS

var consolePages = template.Must(template.New("").Funcs(template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"join": func(xs []string) string { return strings.Join(xs, ", ") },
	"sorted": func(m map[string]string) [][2]string {
		out := make([][2]string, 0, len(m))
		for k, v := range m {
			out = append(out, [2]string{k, v})
		}
		slices.SortFunc(out, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
		return out
	},
}).ParseFS(consoleFS, "console/*.html"))

const (
	sessionCookie = "escalator_session"
	sessionTTL    = 12 * time.Hour
)

// consoleKey signs sessions and CSRF tokens: derived from Secret, which
// replicas share, so that each accepts the others' sessions and forms;
// without one, random per process.
func (s *Server) consoleKey() []byte {
	s.keyOnce.Do(func() {
		if len(s.Secret) > 0 {
			m := hmac.New(sha256.New, s.Secret)
			m.Write([]byte("escalator console v2"))
			s.key = m.Sum(nil)
			return
		}
		s.key = make([]byte, 32)
		_, _ = rand.Read(s.key)
	})
	return s.key
}

func (s *Server) sign(parts ...string) string {
	m := hmac.New(sha256.New, s.consoleKey())
	m.Write([]byte(strings.Join(parts, "\x00")))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// newSession is a session cookie's value for name. The signature covers
// the name's password hash: a new password, or the name's removal from
// the users file, ends the sessions it had.
func (s *Server) newSession(name string, hash []byte, now time.Time) string {
	exp := strconv.FormatInt(now.Add(sessionTTL).Unix(), 10)
	return base64.RawURLEncoding.EncodeToString([]byte(name)) + "." + exp + "." + s.sign("session", name, exp, string(hash))
}

// sessionUser is the person the session cookie names ("" when it is not a
// valid session).
func (s *Server) sessionUser(r *http.Request, now time.Time) string {
	c, err := r.Cookie(sessionCookie)
	if err != nil || s.Users == nil {
		return ""
	}
	parts := strings.Split(c.Value, ".")
	if len(parts) != 3 {
		return ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return ""
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || now.Unix() > exp {
		return ""
	}
	name := string(raw)
	hash, known := s.Users.Users().hashFor(name)
	if !known || !hmac.Equal([]byte(parts[2]), []byte(s.sign("session", name, parts[1], string(hash)))) {
		return ""
	}
	return name
}

// person is who makes a console request: the signed-in person, or with
// basic auth the name the browser sent; "" when neither.
func (s *Server) person(r *http.Request) string {
	if s.Users != nil {
		return s.sessionUser(r, s.now())
	}
	return basicAuthUser(r)
}

// csrf binds a form to the session or, with basic auth, to the
// credentials the browser sends.
func (s *Server) csrf(r *http.Request) string {
	if s.Users == nil {
		return s.sign("csrf", r.Header.Get("Authorization"))
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return ""
	}
	return s.sign("csrf", c.Value)
}

// page guards a console page: someone known (page's caller only runs it
// then), and on a POST the form token of their session. Without a
// session a GET goes to the sign-in page, which comes back here.
func (s *Server) page(next func(w http.ResponseWriter, r *http.Request, who string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secureHeaders(w)
		who := s.person(r)
		switch {
		case who == "" && s.Users == nil:
			s.noAccounts(w)
			return
		case who == "" && r.Method == http.MethodGet:
			http.Redirect(w, r, "/console/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		case who == "":
			http.Error(w, "sign in first", http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 4096)
			if err := r.ParseForm(); err != nil || subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(s.csrf(r))) != 1 {
				http.Error(w, "invalid form token: reload the page", http.StatusForbidden)
				return
			}
		}
		next(w, r, who)
	})
}

// noAccounts answers console requests with the bearer token configured
// and no users file: the token is the machines', never a person's.
func (s *Server) noAccounts(w http.ResponseWriter) {
	s.render(w, http.StatusNotFound, "unavailable.html", nil)
}

func secureHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

func (s *Server) render(w http.ResponseWriter, code int, name string, data map[string]any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	if err := consolePages.ExecuteTemplate(w, name, data); err != nil {
		s.Logger.Error("console page", "page", name, "err", err)
	}
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	secureHeaders(w)
	next := safeNext(r.URL.Query().Get("next"))
	switch {
	case s.person(r) != "": // signed in already (or basic auth): straight on
		http.Redirect(w, r, next, http.StatusSeeOther)
	case s.Users == nil:
		s.noAccounts(w)
	default:
		s.render(w, http.StatusOK, "login.html", map[string]any{"Next": next})
	}
}

// safeNext is where to go after signing in: a console page of this site,
// query included; anything else (another host, "//host" or "/\host",
// which browsers take for hosts, a path climbing out of the console) goes
// to the incident list.
func safeNext(next string) string {
	const home = "/console/"
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(next, home) ||
		strings.ContainsFunc(next, func(r rune) bool { return r == '\\' || unicode.IsControl(r) }) {
		return home
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if seg == ".." || seg == "." {
			return home
		}
	}
	if u.Path == "/console/login" {
		return home
	}
	return next
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	secureHeaders(w)
	if s.Users == nil {
		s.loginPage(w, r)
		return
	}
	// A sign-in posted from another site would sign the browser into an
	// account of that site's choosing.
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		http.Error(w, "sign in from escalator's own page", http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	name, password := r.PostForm.Get("name"), r.PostForm.Get("password")
	now, client := s.now(), clientAddr(r)
	data := map[string]any{"Next": next, "Name": name}
	// Each attempt counts as a failure until it succeeds, so that
	// guesses sent at once cannot all pass the limit before the first
	// has failed.
	if wait := s.failures.take(client, name, now); wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+1)))
		data["Wait"] = wait.Round(time.Second)
		s.render(w, http.StatusTooManyRequests, "login.html", data)
		return
	}
	users := s.Users.Users()
	if !users.Check(name, password) {
		logged := name
		if _, known := users.hashFor(name); !known {
			logged = "(unknown)" // perhaps a password typed in the wrong field
		}
		s.Logger.Info("console: sign-in failed", "user", logged, "client", client)
		data["Failed"] = true
		s.render(w, http.StatusUnauthorized, "login.html", data)
		return
	}
	s.failures.refund(client, name)
	hash, _ := users.hashFor(name)
	s.Logger.Info("console: signed in", "user", name, "client", client)
	http.SetCookie(w, s.cookie(r, s.newSession(name, hash, now), int(sessionTTL.Seconds())))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// cookie is the session cookie. SameSite=Lax, not Strict: a link to an
// incident in Slack or PagerDuty is a navigation from another site, which
// must arrive signed in; forms still need their CSRF token.
func (s *Server) cookie(r *http.Request, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: sessionCookie, Value: value, Path: "/console/", MaxAge: maxAge,
		HttpOnly: true, Secure: s.SecureCookies || r.TLS != nil, SameSite: http.SameSiteLaxMode}
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, _ string) {
	http.SetCookie(w, s.cookie(r, "", -1))
	target := "/console/login"
	if s.Users == nil {
		target = "/console/" // basic auth: the browser keeps its credentials
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

func clientAddr(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// pageData is what every signed-in page shows: who, a sign-out button
// with a session, and the form token.
func (s *Server) pageData(r *http.Request, who string) map[string]any {
	return map[string]any{"User": who, "Session": s.Users != nil, "CSRF": s.csrf(r), "Now": s.now()}
}

func (s *Server) consoleList(w http.ResponseWriter, r *http.Request, who string) {
	if r.URL.Path != "/console/" {
		http.NotFound(w, r)
		return
	}
	list, err := s.Incidents.Incidents(r.Context(), limit(r, 200))
	if err != nil {
		s.Logger.Error("console: listing incidents", "err", err)
		http.Error(w, "store unavailable", http.StatusServiceUnavailable)
		return
	}
	data := s.pageData(r, who)
	data["Incidents"] = list
	s.render(w, http.StatusOK, "list.html", data)
}

func (s *Server) consoleIncident(w http.ResponseWriter, r *http.Request, who string) {
	id := r.PathValue("id")
	inc, err := s.Incidents.Incident(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		s.Logger.Error("console: reading an incident", "incident", id, "err", err)
		http.Error(w, "store unavailable", http.StatusServiceUnavailable)
		return
	}
	entries, err := s.Incidents.Audit(r.Context(), id, 500)
	if err != nil {
		s.Logger.Error("console: reading an incident's audit log", "incident", id, "err", err)
		http.Error(w, "store unavailable", http.StatusServiceUnavailable)
		return
	}
	slices.Reverse(entries) // oldest first: a timeline
	data := s.pageData(r, who)
	data["Incident"], data["Timeline"] = inc, entries
	data["Awaiting"], data["Tripped"] = actionsPending(entries)
	s.render(w, http.StatusOK, "incident.html", data)
}

// actionsPending reads an incident's timeline (oldest first) for the
// actions whose run waits for approval, and those refused because their
// breaker is open: the buttons the incident page offers.
func actionsPending(timeline []store.Entry) (awaiting, tripped []string) {
	waits := map[string]bool{}
	broken := map[string]bool{}
	var order []string
	for _, e := range timeline {
		name, _, ok := strings.Cut(e.Detail, " (")
		if !ok || !strings.HasPrefix(e.Action, "action_") {
			continue
		}
		if !waits[name] && !broken[name] {
			order = append(order, name)
		}
		switch e.Action {
		case "action_awaiting_approval":
			waits[name] = true
		case "action_breaker":
			broken[name] = true
		case "action_approved", "action_approval_timeout", "action_started", "action_not_open", "action_gone":
			waits[name] = false
		}
	}
	for _, name := range order {
		if waits[name] {
			awaiting = append(awaiting, name)
		}
		if broken[name] {
			tripped = append(tripped, name)
		}
	}
	return awaiting, tripped
}

func (s *Server) consoleAck(w http.ResponseWriter, r *http.Request, who string) {
	id := r.PathValue("id")
	if _, err := s.Acker.Ack(r.Context(), id, who); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			http.NotFound(w, r)
			return
		}
		s.Logger.Error("console: acknowledging", "incident", id, "err", err)
		http.Error(w, "store unavailable; try again", http.StatusServiceUnavailable)
		return
	}
	http.Redirect(w, r, "/console/incidents/"+url.PathEscape(id), http.StatusSeeOther)
}
