package api

import (
	"errors"
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
