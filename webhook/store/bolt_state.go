package store

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bState keeps each incident's escalation state apart from its document,
// so that taking a step reads and writes a record of a hundred bytes
// instead of decoding and encoding the incident with its labels and
// annotations: after a restart with many steps due, that was most of the
// work. Its fields have the incident's JSON names, so either record
// decodes into an Incident. An incident without one (a file written
// before) has its state in its document.
var bState = []byte("state") // id → escState

type escState struct {
	Status   string    `json:"status"`
	Policy   string    `json:"policy,omitempty"`
	OpenedAt time.Time `json:"openedAt"`
	NextStep int       `json:"nextStep"`
	NextDue  time.Time `json:"nextDue,omitzero"`
	Notified []string  `json:"notified,omitempty"`
	// LastSeen is here so that a heartbeat writes this record only.
	LastSeen time.Time `json:"lastSeen,omitzero"`
}

func stateOf(inc *Incident) escState {
	return escState{Status: inc.Status, Policy: inc.Policy, OpenedAt: inc.OpenedAt,
		NextStep: inc.NextStep, NextDue: inc.NextDue, Notified: inc.Notified, LastSeen: inc.LastSeen}
}

// loadIncident reads an incident with its escalation state; nil when
// there is none.
func loadIncident(tx *bolt.Tx, id string) (*Incident, error) {
	v := tx.Bucket(bIncidents).Get([]byte(id))
	if v == nil {
		return nil, nil
	}
	inc, err := decodeIncident(tx, []byte(id), v)
	return &inc, err
}

// loadForAlert reads what an alert's event needs. A firing alert of an
// incident not resolved is a heartbeat, which reads and writes only the
// escalation state: in a storm most alerts are repeats, and decoding
// their labels and annotations was a fifth of the writer's time. The
// incident is then its state only, which is all stateOf writes back.
func loadForAlert(tx *bolt.Tx, id string, resolved bool) (*Incident, error) {
	if !resolved {
		if v := tx.Bucket(bState).Get([]byte(id)); v != nil {
			var st escState
			if err := json.Unmarshal(v, &st); err != nil {
				return nil, fmt.Errorf("corrupt escalation state of %s: %w", id, err)
			}
			if st.Status != Resolved && !st.LastSeen.IsZero() {
				return &Incident{ID: id, Status: st.Status, Policy: st.Policy, OpenedAt: st.OpenedAt, NextStep: st.NextStep,
					NextDue: st.NextDue, Notified: st.Notified, LastSeen: st.LastSeen}, nil
			}
		}
	}
	return loadIncident(tx, id)
}

// decodeIncident decodes the incident stored as v under k, with its
// escalation state.
func decodeIncident(tx *bolt.Tx, k, v []byte) (Incident, error) {
	var inc Incident
	if err := json.Unmarshal(v, &inc); err != nil {
		return inc, fmt.Errorf("corrupt incident %s: %w", k, err)
	}
	return inc, overlayState(tx, &inc)
}

// overlayState sets inc's escalation state from its record, when it has one.
func overlayState(tx *bolt.Tx, inc *Incident) error {
	v := tx.Bucket(bState).Get([]byte(inc.ID))
	if v == nil {
		return nil
	}
	var st escState
	if err := json.Unmarshal(v, &st); err != nil {
		return fmt.Errorf("corrupt escalation state of %s: %w", inc.ID, err)
	}
	inc.Status, inc.NextStep, inc.NextDue, inc.Notified = st.Status, st.NextStep, st.NextDue, st.Notified
	if !st.LastSeen.IsZero() { // written before states kept it: the document's
		inc.LastSeen = st.LastSeen
	}
	return nil
}

// saveIncident writes an incident's document and its escalation state.
func saveIncident(tx *bolt.Tx, inc *Incident) error {
	if err := putJSON(appending(tx.Bucket(bIncidents)), []byte(inc.ID), inc); err != nil {
		return err
	}
	return putJSON(appending(tx.Bucket(bState)), []byte(inc.ID), stateOf(inc))
}
