package spec

import (
	"strings"
	"testing"
)

// FuzzMerge: any override document either merges into a spec that
// validates, or fails with an error naming the override; never a panic.
func FuzzMerge(f *testing.F) {
	f.Add("thresholds:\n  cpu: {warning: 60%}\n")
	f.Add("alerts:\n  PostgresDown: {for: 3m, enabled: false}\n")
	f.Add("maintenance: []\n")
	f.Add("slos: {availability: {objective: 99.9%}}\n")
	f.Add("burn_rates: [{severity: critical, long: 1h, short: 5m, factor: 14.4, for: 2m}]\n")
	f.Add("- a\n")
	f.Fuzz(func(t *testing.T, doc string) {
		s, err := Merge(Layer{Name: "fuzz.yml", Data: []byte(doc)})
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.yml") && !strings.Contains(err.Error(), "merged threshold spec") && !strings.Contains(err.Error(), DefaultsName) {
				t.Fatalf("error does not say where: %v", err)
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("merged spec does not validate again: %v", err)
		}
	})
}

// FuzzParseValue: a parsed value prints as a number PromQL reads back to
// the same value.
func FuzzParseValue(f *testing.F) {
	for _, s := range []string{"500ms", "1%", "99.99%", "30d", "14.4", "1e3", "0x10", "1h30m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseValue(s)
		if err != nil {
			return
		}
		w, err := ParseValue(v.PromQL())
		if err != nil || (w.Rat().Cmp(v.Rat()) != 0 && v.Rat().Denom().BitLen() < 40) { // long fractions print rounded
			t.Fatalf("%q → %s → %v, %v", s, v.PromQL(), w.Rat(), err)
		}
	})
}
