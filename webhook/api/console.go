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
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hotel-ops/hotel-ops/webhook/store"
)

// The incident console: HTML pages for people, behind the same
// authentication as the API. With a bearer token, a person signs in once
// with the token and gets a session cookie (HttpOnly, SameSite=Strict,
// signed with a key derived from the token, so rotating the token ends
// every session); with basic auth from the web configuration the browser
// asks for the password itself. Every form carries a CSRF token bound to
// the session, and pages forbid scripts: labels and annotations are
// untrusted and html/template escapes them.

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

// consoleKey signs sessions and CSRF tokens: derived from the API token,
// so that every replica accepts the same session and form; without a
// token (basic auth), from the acknowledgement links' secret, which the
// replicas share too; with neither, random per process.
func (s *Server) consoleKey() []byte {
	s.keyOnce.Do(func() {
		secret := s.Token
		if len(secret) == 0 && s.Engine != nil && s.Engine.Links != nil {
			secret = s.Engine.Links.Secret
		}
		if len(secret) > 0 {
			m := hmac.New(sha256.New, secret)
			m.Write([]byte("escalator console v1"))
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

// session returns the caller's session value ("" when none is valid).
func (s *Server) session(r *http.Request, now time.Time) string {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return ""
	}
	exp, sig, ok := strings.Cut(c.Value, ".")
	n, err := strconv.ParseInt(exp, 10, 64)
	if !ok || err != nil || now.Unix() > n || subtle.ConstantTimeCompare([]byte(sig), []byte(s.sign("session", exp))) != 1 {
		return ""
	}
	return c.Value
}

// csrf binds a form to the session or, with basic auth, to the
// credentials the browser sends.
func (s *Server) csrf(r *http.Request, now time.Time) string {
	if len(s.Token) == 0 {
		return s.sign("csrf", r.Header.Get("Authorization"))
	}
	return s.sign("csrf", s.session(r, now))
}

// page guards a console page: a valid session (or, for scripts, the
// bearer token); without one a GET goes to the sign-in page.
func (s *Server) page(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secureHeaders(w)
		if len(s.Token) > 0 && s.session(r, s.Engine.Now()) == "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), s.Token) != 1 {
				if r.Method == http.MethodGet {
					http.Redirect(w, r, "/console/login?next="+url.QueryEscape(r.URL.Path), http.StatusSeeOther)
					return
				}
				http.Error(w, "sign in first", http.StatusUnauthorized)
				return
			}
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 4096)
			if err := r.ParseForm(); err != nil || subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(s.csrf(r, s.Engine.Now()))) != 1 {
				http.Error(w, "invalid form token: reload the page", http.StatusForbidden)
				return
			}
		}
		next(w, r)
	})
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
	s.render(w, http.StatusOK, "login.html", map[string]any{"Next": safeNext(r.URL.Query().Get("next"))})
}

// safeNext keeps the redirect after sign-in on the console.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/console/") || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		return "/console/"
	}
	return next
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	secureHeaders(w)
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	if len(s.Token) == 0 || subtle.ConstantTimeCompare([]byte(r.PostForm.Get("token")), s.Token) != 1 {
		s.render(w, http.StatusUnauthorized, "login.html", map[string]any{"Next": next, "Failed": true})
		return
	}
	exp := strconv.FormatInt(s.Engine.Now().Add(sessionTTL).Unix(), 10)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: exp + "." + s.sign("session", exp), Path: "/",
		MaxAge: int(sessionTTL.Seconds()), HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) consoleList(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/console/" {
		http.NotFound(w, r)
		return
	}
	list, err := s.Engine.Store.Incidents(r.Context(), limit(r, 200))
	if err != nil {
		s.Logger.Error("console: listing incidents", "err", err)
		http.Error(w, "store unavailable", http.StatusServiceUnavailable)
		return
	}
	s.render(w, http.StatusOK, "list.html", map[string]any{"Incidents": list, "Now": s.Engine.Now()})
}

func (s *Server) consoleIncident(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	inc, err := s.Engine.Store.Incident(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		http.Error(w, "store unavailable", http.StatusServiceUnavailable)
		return
	}
	entries, err := s.Engine.Store.Audit(r.Context(), id, 500)
	if err != nil {
		http.Error(w, "store unavailable", http.StatusServiceUnavailable)
		return
	}
	slices.Reverse(entries) // oldest first: a timeline
	s.render(w, http.StatusOK, "incident.html", map[string]any{"Incident": inc, "Timeline": entries, "CSRF": s.csrf(r, s.Engine.Now())})
}

func (s *Server) consoleAck(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := s.Engine.Ack(r.Context(), id, "console"); err != nil {
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
