package spec

import (
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// Unit says what a Value measures.
type Unit int

const (
	Number  Unit = iota // a plain number: "10", "14.4"
	Seconds             // a duration: "500ms", "10s", "2h", "30d"
	Ratio               // a percentage: "1%", "99.99%"
)

// Value is a threshold as written in the spec, kept exact: the generated
// PromQL must say 0.0001, not 0.00009999999999998899, and a test must put
// its samples just below and just above the exact figure.
type Value struct {
	Raw  string
	Unit Unit
	rat  *big.Rat // in base units: seconds, or a ratio 0..1
}

// ParseValue reads "500ms", "1%", "30d" or "14.4".
func ParseValue(s string) (Value, error) {
	s = strings.TrimSpace(s)
	v := Value{Raw: s}
	switch {
	case s == "":
		return v, fmt.Errorf("empty value")
	case strings.HasSuffix(s, "%"):
		r, ok := new(big.Rat).SetString(strings.TrimSuffix(s, "%"))
		if !ok {
			return v, fmt.Errorf("%q is not a percentage", s)
		}
		v.Unit, v.rat = Ratio, r.Quo(r, big.NewRat(100, 1))
	default:
		if r, ok := new(big.Rat).SetString(s); ok {
			v.Unit, v.rat = Number, r
			break
		}
		d, err := model.ParseDuration(s)
		if err != nil {
			return v, fmt.Errorf("%q is neither a number, a percentage nor a duration (500ms, 10s, 2h, 30d)", s)
		}
		v.Unit, v.rat = Seconds, new(big.Rat).SetFrac64(int64(time.Duration(d)/time.Millisecond), 1000)
	}
	if v.rat.Sign() < 0 {
		return v, fmt.Errorf("%q is negative", s)
	}
	return v, nil
}

// UnmarshalYAML reads a scalar (numbers as written, not as floats).
func (v *Value) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: expected a value such as 500ms, 1%% or 10", n.Line)
	}
	p, err := ParseValue(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*v = p
	return nil
}

// MarshalYAML writes the value as it was written.
func (v Value) MarshalYAML() (any, error) { return v.Raw, nil }

// IsZero reports an absent value.
func (v Value) IsZero() bool { return v.rat == nil }

// Rat is the exact value in base units.
func (v Value) Rat() *big.Rat { return new(big.Rat).Set(v.rat) }

// Float is the value in base units.
func (v Value) Float() float64 { f, _ := v.rat.Float64(); return f }

// PromQL is the exact value in base units as a PromQL number literal.
func (v Value) PromQL() string { return Decimal(v.rat) }

// Duration is the value as a time.Duration (Seconds values).
func (v Value) Duration() time.Duration {
	ms := new(big.Rat).Mul(v.rat, big.NewRat(1000, 1))
	f, _ := ms.Float64()
	return time.Duration(f) * time.Millisecond
}

// Human is the value as people read it in the spec: 500ms, 1%, 10s.
func (v Value) Human() string { return v.Raw }

// Decimal prints r exactly, without trailing zeros: 1/10000 → "0.0001".
// Values that have no finite decimal are printed with 12 digits.
func Decimal(r *big.Rat) string {
	s := r.FloatString(12)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// Dur is a duration written in Prometheus syntax ("5m", "1h", "0s").
type Dur struct {
	model.Duration
	Raw string
}

// UnmarshalYAML reads a Prometheus duration.
func (d *Dur) UnmarshalYAML(n *yaml.Node) error {
	p, err := model.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (5m, 1h, 0s): %w", n.Line, n.Value, err)
	}
	*d = Dur{Duration: p, Raw: n.Value}
	return nil
}

// MarshalYAML writes the duration as it was written.
func (d Dur) MarshalYAML() (any, error) { return d.String(), nil }

// D is the time.Duration.
func (d Dur) D() time.Duration { return time.Duration(d.Duration) }
