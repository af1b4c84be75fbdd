// Package api is escalator's HTTP interface: the Alertmanager webhook,
// the incident API (acknowledge, list, audit) behind a bearer token, and
// signed acknowledgement links.
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

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hotel-ops/hotel-ops/webhook/escalate"
	"github.com/hotel-ops/hotel-ops/webhook/payload"
	"github.com/hotel-ops/hotel-ops/webhook/store"
)

// Server serves escalator's endpoints.
type Server struct {
	Engine *escalate.Engine
	// Token is the bearer token every /api/ request must carry. Empty:
	// the web configuration's basic auth guards every endpoint instead
	// (escalator refuses to start with neither).
	Token   []byte
	MaxBody int64 // webhook body limit in bytes
	// StoreTimeout bounds the wait for a delivery's commit (default
	// 900ms): past it the answer is 503 and Alertmanager sends the
	// delivery again, so a stalled store never holds Alertmanager's
	// notification pipeline. A commit that lands after it makes the
	// copy sent again a duplicate.
	StoreTimeout time.Duration
	Logger       *slog.Logger

	keyOnce sync.Once
	key     []byte // signs console sessions and form tokens
}

// Register adds the endpoints to mux.
func (s *Server) Register(mux *http.ServeMux) {
	receive := s.auth(http.HandlerFunc(s.receive))
	if m := s.Engine.Metrics; m != nil {
		receive = promhttp.InstrumentHandlerDuration(m.Deliveries, receive)
	}
	mux.Handle("POST /api/v1/alerts", receive)
	mux.Handle("POST /api/v1/incidents/{id}/ack", s.auth(http.HandlerFunc(s.ack)))
	mux.Handle("GET /api/v1/incidents", s.auth(http.HandlerFunc(s.incidents)))
	mux.Handle("GET /api/v1/incidents/{id}", s.auth(http.HandlerFunc(s.incident)))
	mux.Handle("GET /api/v1/audit", s.auth(http.HandlerFunc(s.audit)))
	mux.HandleFunc("GET /ack", s.ackPage)
	mux.HandleFunc("POST /ack", s.ackLink)
	mux.Handle("GET /console/", s.page(s.consoleList))
	mux.Handle("GET /console/incidents/{id}", s.page(s.consoleIncident))
	mux.Handle("POST /console/incidents/{id}/ack", s.page(s.consoleAck))
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
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), s.Token) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="escalator"`)
			httpError(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		next.ServeHTTP(w, r)
	})
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
	d, err := payload.Parse(body)
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
	res, err := s.Engine.Receive(ctx, d)
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
	inc, err := s.Engine.Ack(r.Context(), id, by)
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
	list, err := s.Engine.Store.Incidents(r.Context(), limit(r, 100))
	if err != nil {
		httpError(w, http.StatusServiceUnavailable, "store unavailable")
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) incident(w http.ResponseWriter, r *http.Request) {
	inc, err := s.Engine.Store.Incident(r.Context(), r.PathValue("id"))
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
	es, err := s.Engine.Store.Audit(r.Context(), r.URL.Query().Get("incident"), limit(r, 200))
	if err != nil {
		httpError(w, http.StatusServiceUnavailable, "store unavailable")
		return
	}
	writeJSON(w, http.StatusOK, es)
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
	valid := s.Engine.Links != nil && s.Engine.Links.Verify(q.Get("id"), q.Get("exp"), q.Get("sig"), s.Engine.Now())
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
	if s.Engine.Links == nil || !s.Engine.Links.Verify(id, r.PostForm.Get("exp"), r.PostForm.Get("sig"), s.Engine.Now()) {
		httpError(w, http.StatusForbidden, "invalid or expired link")
		return
	}
	s.doAck(w, r, id, "signed link")
}
