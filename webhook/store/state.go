package store

import "time"

// Both stores keep an incident in two parts: its document, what
// Alertmanager said of it, written once when it opens; and its state,
// everything that changes afterwards (embedded_state.go, and the table
// escalator_state of postgres_schema.go). Every event after the opening
// reads and writes the state alone: the state machine needs no label of
// an existing incident but its severity.

// escState is an incident's changing part. Severity is the one label
// it repeats, for what a resolve measures (MTTR by severity) and for
// counting open incidents by severity without reading documents.
type escState struct {
	V          int       `json:"v"` // the embedded record's version (stateVersion)
	Status     string    `json:"status"`
	Severity   string    `json:"severity,omitempty"`
	Policy     string    `json:"policy,omitempty"`
	OpenedAt   time.Time `json:"openedAt"`
	LastSeen   time.Time `json:"lastSeen,omitzero"`
	NextStep   int       `json:"nextStep"`
	NextDue    time.Time `json:"nextDue,omitzero"`
	Notified   []string  `json:"notified,omitempty"`
	AckedAt    time.Time `json:"ackedAt,omitzero"`
	AckedBy    string    `json:"ackedBy,omitempty"`
	ResolvedAt time.Time `json:"resolvedAt,omitzero"`
	SilenceID  string    `json:"silenceId,omitempty"`
	ClosedBy   string    `json:"closedBy,omitempty"`
	Automated  bool      `json:"automated,omitzero"`
}

func stateOf(inc *Incident) escState {
	return escState{V: stateVersion, Status: inc.Status, Severity: inc.Labels["severity"], Policy: inc.Policy,
		OpenedAt: inc.OpenedAt, LastSeen: inc.LastSeen, NextStep: inc.NextStep, NextDue: inc.NextDue, Notified: inc.Notified,
		AckedAt: inc.AckedAt, AckedBy: inc.AckedBy, ResolvedAt: inc.ResolvedAt, SilenceID: inc.SilenceID, ClosedBy: inc.ClosedBy,
		Automated: inc.Automated}
}

// set gives inc the state's fields.
func (st *escState) set(inc *Incident) {
	inc.Status, inc.Policy, inc.OpenedAt, inc.LastSeen = st.Status, st.Policy, st.OpenedAt, st.LastSeen
	inc.NextStep, inc.NextDue, inc.Notified = st.NextStep, st.NextDue, st.Notified
	inc.AckedAt, inc.AckedBy, inc.ResolvedAt, inc.SilenceID, inc.ClosedBy = st.AckedAt, st.AckedBy, st.ResolvedAt, st.SilenceID, st.ClosedBy
	inc.Automated = st.Automated
}

// stateIncident is the incident as its state alone gives it: what every
// event after the opening reads (the state machine needs no label but
// the severity).
func stateIncident(id string, st escState) *Incident {
	inc := &Incident{ID: id}
	if st.Severity != "" {
		inc.Labels = map[string]string{"severity": st.Severity}
	}
	st.set(inc)
	return inc
}
