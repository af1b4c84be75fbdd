package incidents

import (
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// wireIncident is the part of escalator's JSON incident (webhook/store.Incident)
// the figures read. It is declared here, not imported, so that the exporter
// does not depend on escalator's internals; TestWireMatchesStore holds the
// field names to store.Incident's.
type wireIncident struct {
	ID          string            `json:"id"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	Status      string            `json:"status"`
	OpenedAt    time.Time         `json:"openedAt"`
	AckedAt     time.Time         `json:"ackedAt"`
	AckedBy     string            `json:"ackedBy"`
	ResolvedAt  time.Time         `json:"resolvedAt"`
	ClosedBy    string            `json:"closedBy"`
	Automated   bool              `json:"automated"`
}

func (w *wireIncident) incident() Incident {
	return Incident{
		ID:         w.ID,
		Alertname:  w.Labels["alertname"],
		Severity:   w.Labels["severity"],
		Category:   w.Labels["category"],
		Summary:    w.Annotations["summary"],
		Status:     w.Status,
		OpenedAt:   w.OpenedAt,
		AckedAt:    w.AckedAt,
		AckedBy:    w.AckedBy,
		ResolvedAt: w.ResolvedAt,
		ClosedBy:   w.ClosedBy,
		Automated:  w.Automated,
	}
}

// decode reads the answer of GET /api/v1/incidents: a JSON array of
// incidents, and nothing after it. It reads one incident at a time, so
// that 10,000 of them never sit in memory twice (raw and decoded).
func decode(r io.Reader) ([]Incident, error) {
	dec := json.NewDecoder(r)
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("reading the incident list: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, fmt.Errorf("reading the incident list: want a JSON array, got %v", tok)
	}
	var out []Incident
	for dec.More() {
		// Escalator answers at most the limit asked for: more is not its
		// answer, and would only grow memory until the body limit.
		if len(out) == MaxIncidents {
			return nil, fmt.Errorf("reading the incident list: more than the %d incidents asked for", MaxIncidents)
		}
		var w wireIncident
		if err := dec.Decode(&w); err != nil {
			return nil, fmt.Errorf("reading incident %d of the list: %w", len(out)+1, err)
		}
		out = append(out, w.incident())
	}
	if _, err := dec.Token(); err != nil { // the closing ]
		return nil, fmt.Errorf("reading the end of the incident list: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("reading the incident list: data after the array")
	}
	return out, nil
}
