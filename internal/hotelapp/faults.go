package hotelapp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
)

// MaxLatency is the largest latency fault accepted.
const MaxLatency = 60 * time.Second

// Faults are the failures injected into API requests (/api/...). The zero
// value injects nothing. Its JSON form is ParseFaults' input.
type Faults struct {
	// ErrorRatio is the share (0..1) of API requests that answer 500.
	ErrorRatio float64
	// Latency is added to each API request (0..MaxLatency).
	Latency time.Duration
	// LoginFailureRatio is the share (0..1) of logins that fail whatever
	// the password.
	LoginFailureRatio float64
}

// faultsJSON is the wire form: the latency is a Go duration string.
type faultsJSON struct {
	ErrorRatio        float64 `json:"error_ratio"`
	Latency           string  `json:"latency"`
	LoginFailureRatio float64 `json:"login_failure_ratio"`
}

// MarshalJSON writes the latency as a duration string ("1.5s").
func (f Faults) MarshalJSON() ([]byte, error) {
	return json.Marshal(faultsJSON{ErrorRatio: f.ErrorRatio, Latency: f.Latency.String(), LoginFailureRatio: f.LoginFailureRatio})
}

// UnmarshalJSON parses with ParseFaults (and its validation).
func (f *Faults) UnmarshalJSON(data []byte) error {
	v, err := ParseFaults(data)
	if err != nil {
		return err
	}
	*f = v
	return nil
}

// ParseFaults reads faults from a JSON object such as
// {"error_ratio": 0.2, "latency": "1500ms", "login_failure_ratio": 0.5}.
// Absent fields are zero. Unknown fields (names match exactly, unlike
// encoding/json's case-insensitive matching), repeated fields, values of
// the wrong type (null included), trailing data, ratios outside 0..1 and
// latencies outside 0..60s are errors that say what is wrong.
func ParseFaults(data []byte) (Faults, error) {
	var f Faults
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		if errors.Is(err, io.EOF) {
			return Faults{}, errors.New("empty body: " + faultsUsage)
		}
		return Faults{}, errors.New("invalid faults JSON: " + faultsUsage)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return Faults{}, fmt.Errorf("invalid faults JSON: %v", err)
		}
		key, _ := tok.(string)
		if seen[key] {
			return Faults{}, fmt.Errorf("invalid faults JSON: field %q given twice", key)
		}
		seen[key] = true
		var v any
		if err := dec.Decode(&v); err != nil {
			return Faults{}, fmt.Errorf("invalid faults JSON: %v", err)
		}
		switch key {
		case "error_ratio", "login_failure_ratio":
			r, ok := v.(float64)
			if !ok {
				return Faults{}, fmt.Errorf("invalid faults JSON: %s must be a number between 0 and 1", key)
			}
			if err := checkRatio(key, r); err != nil {
				return Faults{}, err
			}
			if key == "error_ratio" {
				f.ErrorRatio = r
			} else {
				f.LoginFailureRatio = r
			}
		case "latency":
			s, ok := v.(string)
			if !ok {
				return Faults{}, errors.New(`invalid faults JSON: latency must be a Go duration string such as "1500ms"`)
			}
			d, err := time.ParseDuration(s)
			if err != nil {
				return Faults{}, fmt.Errorf("latency %q is not a Go duration such as \"1500ms\" or \"2s\"", s)
			}
			if d < 0 || d > MaxLatency {
				return Faults{}, fmt.Errorf("latency %s is out of range: it must be between 0s and %s", d, MaxLatency)
			}
			f.Latency = d
		default:
			return Faults{}, fmt.Errorf("invalid faults JSON: unknown field %q (fields: error_ratio, latency, login_failure_ratio)", key)
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return Faults{}, fmt.Errorf("invalid faults JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Faults{}, errors.New("invalid faults JSON: data after the object")
	}
	return f, nil
}

const faultsUsage = `expected a JSON object such as {"error_ratio": 0.5, "latency": "1500ms", "login_failure_ratio": 0}`

func checkRatio(name string, v float64) error {
	if math.IsNaN(v) || v < 0 || v > 1 {
		return fmt.Errorf("%s %v is out of range: it must be between 0 and 1", name, v)
	}
	return nil
}
