package api

import (
	"errors"
	"html/template"
	"net/http"
	"net/url"

	"github.com/hotel-ops/hotel-ops/webhook/store"
)

// The approval of auto-recovery actions and the reset of their
// breakers, from the API (by "api") and from the console (by the person
// signed in).

func (s *Server) approve(w http.ResponseWriter, r *http.Request) {
	id, action := r.PathValue("id"), r.PathValue("action")
	if !s.doApprove(w, r, id, action, "api") {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"incident": id, "action": action, "approved": true})
}

func (s *Server) reset(w http.ResponseWriter, r *http.Request) {
	action := r.PathValue("action")
	if !s.doReset(w, r, action, "api") {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"action": action, "reset": true})
}

func (s *Server) consoleApprove(w http.ResponseWriter, r *http.Request, who string) {
	id := r.PathValue("id")
	if s.doApprove(w, r, id, r.PathValue("action"), who) {
		http.Redirect(w, r, "/console/incidents/"+url.PathEscape(id), http.StatusSeeOther)
	}
}

func (s *Server) consoleReset(w http.ResponseWriter, r *http.Request, who string) {
	if s.doReset(w, r, r.PathValue("action"), who) {
		back := r.PostForm.Get("incident")
		http.Redirect(w, r, "/console/incidents/"+url.PathEscape(back), http.StatusSeeOther)
	}
}

// healthReport runs the daily health check now and sends it (a check
// on demand, or a report missed): its summary is the answer.
func (s *Server) healthReport(w http.ResponseWriter, r *http.Request) {
	if s.Reporter == nil {
		httpError(w, http.StatusNotFound, "no daily_health is configured")
		return
	}
	id := "health/" + s.now().UTC().Format("2006-01-02T15:04:05Z") + "/on-demand"
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "summary": s.Reporter.HealthReport(r.Context(), id)})
}

func (s *Server) doApprove(w http.ResponseWriter, r *http.Request, id, action, by string) bool {
	if s.Approver == nil {
		httpError(w, http.StatusNotFound, "no actions are configured")
		return false
	}
	err := s.Approver.ApproveAction(r.Context(), id, action, by)
	switch {
	case errors.Is(err, store.ErrNotFound):
		httpError(w, http.StatusNotFound, "no run of "+action+" waits for approval on "+id)
	case err != nil:
		s.Logger.Error("approving an action", "incident", id, "action", action, "err", err)
		httpError(w, http.StatusServiceUnavailable, "store unavailable; retry")
	default:
		return true
	}
	return false
}

func (s *Server) doReset(w http.ResponseWriter, r *http.Request, action, by string) bool {
	if s.Approver == nil {
		httpError(w, http.StatusNotFound, "no actions are configured")
		return false
	}
	err := s.Approver.ResetAction(r.Context(), action, by)
	switch {
	case errors.Is(err, store.ErrNotFound):
		httpError(w, http.StatusNotFound, "no action "+action)
	case err != nil:
		s.Logger.Error("resetting an action's breaker", "action", action, "err", err)
		httpError(w, http.StatusServiceUnavailable, "store unavailable; retry")
	default:
		return true
	}
	return false
}

// approvePath is the signed approval links' endpoint
// (escalate.Links.ApproveURL).
const approvePath = "/approve"

// As the acknowledgement link: a GET shows a button, only the POST
// approves, so a mail scanner following links approves nothing.
var approvePage = template.Must(template.New("approve").Parse(`<!doctype html><title>Approve action</title>
<h1>Approve {{.Action}} for incident {{.ID}}</h1>{{if .Valid}}<form method="post" action="approve">
<input type="hidden" name="id" value="{{.ID}}"><input type="hidden" name="action" value="{{.Action}}">
<input type="hidden" name="exp" value="{{.Exp}}"><input type="hidden" name="sig" value="{{.Sig}}">
<button type="submit">Approve {{.Action}}</button></form>{{else}}<p>This link is invalid or has expired.</p>{{end}}`))

func (s *Server) approvePage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	valid := s.Links != nil && s.Links.VerifyApprove(q.Get("id"), q.Get("action"), q.Get("exp"), q.Get("sig"), s.now())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if !valid {
		w.WriteHeader(http.StatusForbidden)
	}
	_ = approvePage.Execute(w, map[string]any{"ID": q.Get("id"), "Action": q.Get("action"), "Exp": q.Get("exp"), "Sig": q.Get("sig"), "Valid": valid})
}

func (s *Server) approveLink(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		httpError(w, http.StatusBadRequest, "bad form")
		return
	}
	id, action := r.PostForm.Get("id"), r.PostForm.Get("action")
	if s.Links == nil || !s.Links.VerifyApprove(id, action, r.PostForm.Get("exp"), r.PostForm.Get("sig"), s.now()) {
		httpError(w, http.StatusForbidden, "invalid or expired link")
		return
	}
	if s.doApprove(w, r, id, action, "signed link") {
		writeJSON(w, http.StatusOK, map[string]any{"incident": id, "action": action, "approved": true})
	}
}
