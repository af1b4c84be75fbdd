// Package api is escalator's HTTP interface: the Alertmanager webhook,
// the incident API (acknowledge, list, audit) behind a bearer token,
// signed acknowledgement links and the incident console.
package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hotel-ops/hotel-ops/webhook/payload"
	"github.com/hotel-ops/hotel-ops/webhook/store"
)

// Receiver stores Alertmanager's deliveries: *escalate.Engine.
type Receiver interface {
	Receive(ctx context.Context, d *payload.Delivery) (store.Received, error)
}

// Acker acknowledges incidents: *escalate.Engine (which wakes its
// scheduler and the reconciler), by whom.
type Acker interface {
	Ack(ctx context.Context, id, by string) (*store.Incident, error)
}

// Approver gives auto-recovery actions the approval they wait for, and
// resets their breakers: *escalate.Engine (which wakes the action's
// runner), by whom.
type Approver interface {
	ApproveAction(ctx context.Context, incident, action, by string) error
	ResetAction(ctx context.Context, action, by string) error
}

// Reporter sends the daily health check now: *escalate.Engine.
type Reporter interface {
	HealthReport(ctx context.Context, id string) string
}

// Incidents is what the API and the console read: store.Store.
type Incidents interface {
	Incident(ctx context.Context, id string) (*store.Incident, error)
	Incidents(ctx context.Context, limit int) ([]store.Incident, error)
	Audit(ctx context.Context, incident string, limit int) ([]store.Entry, error)
}

// LinkVerifier checks signed acknowledgement and approval links:
// *escalate.Links.
type LinkVerifier interface {
	Verify(id, exp, sig string, now time.Time) bool
	VerifyApprove(id, action, exp, sig string, now time.Time) bool
}

// Server serves escalator's endpoints.
type Server struct {
	Receiver  Receiver
	Acker     Acker
	Approver  Approver // nil: no actions configured
	Reporter  Reporter // nil: no daily health check configured
	Incidents Incidents
	Links     LinkVerifier // nil: no signed links
	// Deliveries, when set, times each webhook answer by status code.
	Deliveries prometheus.ObserverVec
	Now        func() time.Time // default time.Now
	// Token is the bearer token every /api/ request must carry. Empty:
	// BasicAuth guards every endpoint instead (escalator refuses to
	// start with neither).
	Token []byte
	// Users are the console's accounts (console_users_file), with the
	// token. Nil: with basic auth the console takes the name the browser
	// sent; with the token it has no accounts and says so.
	Users *UsersFile
	// Secret signs console sessions and form tokens (through a derived
	// key), so that replicas behind one address accept each other's; nil:
	// a random key per process.
	Secret []byte
	// SecureCookies marks the session cookie Secure (external_url is
	// https: TLS ends at a proxy, so the request alone cannot tell).
	SecureCookies bool
	MaxBody       int64 // webhook body limit in bytes
	// StoreTimeout bounds the wait for a delivery's commit (default
	// 900ms): past it the answer is 503 and Alertmanager sends the
	// delivery again, so a stalled store never holds Alertmanager's
	// notification pipeline. A commit that lands after it makes the
	// copy sent again a duplicate.
	StoreTimeout time.Duration
	Logger       *slog.Logger

	keyOnce  sync.Once
	key      []byte // signs console sessions and form tokens
	failures signInLimits
}

func (s *Server) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// ackPath is the signed links' endpoint (escalate.Links.AckURL).
const ackPath = "/ack"

// signedLink reports whether a path is the signed links', which their
// signature authenticates whatever else guards escalator.
func signedLink(path string) bool { return path == ackPath || path == approvePath }

// Register adds the endpoints to mux.
func (s *Server) Register(mux *http.ServeMux) {
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	receive := s.auth(http.HandlerFunc(s.receive))
	if s.Deliveries != nil {
		receive = promhttp.InstrumentHandlerDuration(s.Deliveries, receive)
	}
	mux.Handle("POST /api/v1/alerts", receive)
	mux.Handle("POST /api/v1/incidents/{id}/ack", s.auth(http.HandlerFunc(s.ack)))
	mux.Handle("POST /api/v1/incidents/{id}/actions/{action}/approve", s.auth(http.HandlerFunc(s.approve)))
	mux.Handle("POST /api/v1/actions/{action}/reset", s.auth(http.HandlerFunc(s.reset)))
	mux.Handle("POST /api/v1/health-report", s.auth(http.HandlerFunc(s.healthReport)))
	mux.Handle("GET /api/v1/incidents", s.auth(http.HandlerFunc(s.incidents)))
	mux.Handle("GET /api/v1/incidents/{id}", s.auth(http.HandlerFunc(s.incident)))
	mux.Handle("GET /api/v1/audit", s.auth(http.HandlerFunc(s.audit)))
	mux.HandleFunc("GET "+ackPath, s.ackPage)
	mux.HandleFunc("POST "+ackPath, s.ackLink)
	mux.HandleFunc("GET "+approvePath, s.approvePage)
	mux.HandleFunc("POST "+approvePath, s.approveLink)
	mux.Handle("GET /console/", s.page(s.consoleList))
	mux.Handle("GET /console/incidents/{id}", s.page(s.consoleIncident))
	mux.Handle("POST /console/incidents/{id}/ack", s.page(s.consoleAck))
	mux.Handle("POST /console/incidents/{id}/actions/{action}/approve", s.page(s.consoleApprove))
	mux.Handle("POST /console/actions/{action}/reset", s.page(s.consoleReset))
	mux.Handle("POST /console/logout", s.page(s.logout))
	mux.HandleFunc("GET /console/login", s.loginPage)
	mux.HandleFunc("POST /console/login", s.login)
}

// auth requires the bearer token: every endpoint that changes state, and
// the ones that show incidents, which carry alert labels.
func (s *Server) auth(next http.Handler) http.Handler {
	if len(s.Token) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.bearer(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="escalator"`)
			httpError(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) bearer(r *http.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), s.Token) == 1
}

func httpError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// receive answers 200 once the delivery is durably stored, 4xx naming
// the problem for a payload that can never be stored, and 503 when the
// store fails, so that Alertmanager retries.
func (s *Server) receive(w http.ResponseWriter, r *http.Request) {
	body := http.MaxBytesReader(w, r.Body, s.MaxBody)
	d, err := payload.ParseSized(body, min(r.ContentLength, s.MaxBody))
	var tooBig *http.MaxBytesError
	var bad *payload.Error
	switch {
	case errors.As(err, &tooBig):
		httpError(w, http.StatusRequestEntityTooLarge, "body larger than "+strconv.FormatInt(s.MaxBody, 10)+" bytes")
		return
	case errors.As(err, &bad):
		httpError(w, http.StatusBadRequest, bad.Msg)
		return
	case err != nil:
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	timeout := s.StoreTimeout
	if timeout <= 0 {
		timeout = 900 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	res, err := s.Receiver.Receive(ctx, d)
	if err != nil {
		s.Logger.Error("storing a delivery", "group", d.GroupKey, "err", err)
		httpError(w, http.StatusServiceUnavailable, "store unavailable; retry")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"duplicate": res.Duplicate, "opened": res.Opened, "resolved": res.Resolved})
}

func (s *Server) ack(w http.ResponseWriter, r *http.Request) {
	s.doAck(w, r, r.PathValue("id"), "api")
}

func (s *Server) doAck(w http.ResponseWriter, r *http.Request, id, by string) {
	inc, err := s.Acker.Ack(r.Context(), id, by)
	switch {
	case errors.Is(err, store.ErrNotFound):
		httpError(w, http.StatusNotFound, "no incident "+id)
	case err != nil:
		s.Logger.Error("acknowledging", "incident", id, "err", err)
		httpError(w, http.StatusServiceUnavailable, "store unavailable; retry")
	default:
		writeJSON(w, http.StatusOK, inc)
	}
}

func (s *Server) incidents(w http.ResponseWriter, r *http.Request) {
	list, err := s.Incidents.Incidents(r.Context(), limit(r, 100))
	if err != nil {
		s.Logger.Error("listing incidents", "err", err)
		httpError(w, http.StatusServiceUnavailable, "store unavailable")
		return
	}
	writeJSON(w, http.StatusOK, orEmpty(list))
}

func (s *Server) incident(w http.ResponseWriter, r *http.Request) {
	inc, err := s.Incidents.Incident(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		httpError(w, http.StatusNotFound, "no incident "+r.PathValue("id"))
		return
	}
	if err != nil {
		httpError(w, http.StatusServiceUnavailable, "store unavailable")
		return
	}
	writeJSON(w, http.StatusOK, inc)
}

func (s *Server) audit(w http.ResponseWriter, r *http.Request) {
	es, err := s.Incidents.Audit(r.Context(), r.URL.Query().Get("incident"), limit(r, 200))
	if err != nil {
		s.Logger.Error("reading the audit log", "err", err)
		httpError(w, http.StatusServiceUnavailable, "store unavailable")
		return
	}
	writeJSON(w, http.StatusOK, orEmpty(es))
}

// orEmpty makes an empty list [] in JSON rather than null, which clients
// iterating over the answer would have to special-case.
func orEmpty[T any](xs []T) []T {
	if xs == nil {
		return []T{}
	}
	return xs
}

func limit(r *http.Request, def int) int {
	if n, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && n > 0 && n <= 10000 {
		return n
	}
	return def
}

// The signed link opens a page with a button: a GET must not change
// state, or a mail scanner following links would acknowledge incidents.
var ackPage = template.Must(template.New("ack").Parse(`<!doctype html><title>Acknowledge incident</title>
<h1>Acknowledge incident {{.ID}}</h1>{{if .Valid}}<form method="post" action="ack">
<input type="hidden" name="id" value="{{.ID}}"><input type="hidden" name="exp" value="{{.Exp}}"><input type="hidden" name="sig" value="{{.Sig}}">
<button type="submit">Acknowledge</button></form>{{else}}<p>This link is invalid or has expired.</p>{{end}}`))

func (s *Server) ackPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	valid := s.Links != nil && s.Links.Verify(q.Get("id"), q.Get("exp"), q.Get("sig"), s.now())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if !valid {
		w.WriteHeader(http.StatusForbidden)
	}
	_ = ackPage.Execute(w, map[string]any{"ID": q.Get("id"), "Exp": q.Get("exp"), "Sig": q.Get("sig"), "Valid": valid})
}

func (s *Server) ackLink(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		httpError(w, http.StatusBadRequest, "bad form")
		return
	}
	id := r.PostForm.Get("id")
	if s.Links == nil || !s.Links.Verify(id, r.PostForm.Get("exp"), r.PostForm.Get("sig"), s.now()) {
		httpError(w, http.StatusForbidden, "invalid or expired link")
		return
	}
	s.doAck(w, r, id, "signed link")
}
