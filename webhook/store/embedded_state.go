package store

import (
	"fmt"
	"time"

	"github.com/hotel-ops/hotel-ops/webhook/store/kv"
)

// An incident is kept as two records under its ID: its document
// (bIncidents: what Alertmanager said of it, written once when it
// opens) and its state (bState: everything that changes afterwards, a
// couple of hundred bytes). Every event after the opening (a heartbeat,
// a step, an acknowledgement, a resolve) reads and writes the state
// only: in a storm most alerts are repeats and resolves of incidents
// opened moments ago, and rewriting their labels and annotations cost
// the single writer a second page per incident and a fifth of its time.
// The state's fields have the incident's JSON names, so that either
// record decodes into an Incident and the state, decoded over the
// document, gives the incident as it is.
var bState = []byte("state") // id → escState

// stateVersion 2: the state holds every field that changes after the
// opening. Records of version 0 (escalation fields only, the rest in the
// document) are rewritten when the file is opened (migrateStates).
const stateVersion = 2

func decodeState(id string, v []byte) (escState, error) {
	var st escState
	if err := unmarshal(v, &st); err != nil {
		return st, fmt.Errorf("corrupt state of incident %s: %w", id, err)
	}
	return st, nil
}

// loadState reads the incident as its state gives it; nil when there is
// none.
func loadState(tx *kv.Tx, id string) (*Incident, error) {
	v := tx.Bucket(bState).Get([]byte(id))
	if v == nil {
		return nil, nil
	}
	st, err := decodeState(id, v)
	if err != nil {
		return nil, err
	}
	return stateIncident(id, st), nil
}

// loadIncident reads an incident whole; nil when there is none.
func loadIncident(tx *kv.Tx, id string) (*Incident, error) {
	v := tx.Bucket(bIncidents).Get([]byte(id))
	if v == nil {
		return nil, nil
	}
	inc, err := decodeIncident(tx, []byte(id), v)
	return &inc, err
}

// decodeIncident decodes the document stored as v under k with its state.
func decodeIncident(tx *kv.Tx, k, v []byte) (Incident, error) {
	var inc Incident
	if err := unmarshal(v, &inc); err != nil {
		return inc, fmt.Errorf("corrupt incident %s: %w", k, err)
	}
	raw := tx.Bucket(bState).Get(k)
	if raw == nil {
		return inc, fmt.Errorf("incident %s has no state record", k)
	}
	st, err := decodeState(string(k), raw)
	if err != nil {
		return inc, err
	}
	st.set(&inc)
	return inc, nil
}

// saveState writes the incident's state.
func saveState(tx *kv.Tx, inc *Incident) error {
	return putJSON(tx.Bucket(bState), []byte(inc.ID), stateOf(inc))
}

// migrateStates rewrites the state of every incident whose record is
// older than stateVersion (or missing: files of the first version kept
// the state in the document), from the document with its old state over
// it, so that from then on the state alone is read after the opening.
// It runs once: the file's version is kept in bMeta.
func migrateStates(tx *kv.Tx) error {
	meta, err := tx.CreateBucketIfNotExists(bMeta)
	if err != nil {
		return err
	}
	if v := meta.Get(metaStateVersion); len(v) == 1 && int(v[0]) >= stateVersion {
		return nil
	}
	states := tx.Bucket(bState)
	var rewrite []*Incident
	err = tx.Bucket(bIncidents).ForEach(func(k, v []byte) error {
		raw := states.Get(k)
		if raw != nil {
			if st, err := decodeState(string(k), raw); err != nil || st.V >= stateVersion {
				return err
			}
		}
		inc := &Incident{}
		if err := unmarshal(v, inc); err != nil {
			return fmt.Errorf("corrupt incident %s: %w", k, err)
		}
		if raw != nil { // version 0: the escalation fields are the state's
			var old struct {
				Status   string    `json:"status"`
				NextStep int       `json:"nextStep"`
				NextDue  time.Time `json:"nextDue"`
				Notified []string  `json:"notified"`
				LastSeen time.Time `json:"lastSeen"`
			}
			if err := unmarshal(raw, &old); err != nil {
				return fmt.Errorf("corrupt state of incident %s: %w", k, err)
			}
			inc.Status, inc.NextStep, inc.NextDue, inc.Notified = old.Status, old.NextStep, old.NextDue, old.Notified
			if !old.LastSeen.IsZero() {
				inc.LastSeen = old.LastSeen
			}
		}
		rewrite = append(rewrite, inc)
		return nil
	})
	if err != nil {
		return fmt.Errorf("migrating incident states: %w", err)
	}
	for _, inc := range rewrite {
		if err := saveState(tx, inc); err != nil {
			return err
		}
	}
	return meta.Put(metaStateVersion, []byte{stateVersion})
}

var (
	bMeta            = []byte("meta") // the file's versions
	metaStateVersion = []byte("state_version")
)
