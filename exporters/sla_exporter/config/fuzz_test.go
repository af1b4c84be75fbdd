package config

import (
	"os"
	"testing"
)

// FuzzParse: any file is either refused with an error or accepted whole
// and valid; never a panic.
func FuzzParse(f *testing.F) {
	if ex, err := os.ReadFile("../examples/hotel.yml"); err == nil {
		f.Add(ex)
	}
	f.Add([]byte("redis: {addr: x:1}\nqueries:\n  - name: a\n    redis: {command: zcount, key: k, min: now-1h, max: +inf, metric: m}\n"))
	f.Add([]byte("sla:\n  prometheus_url: http://x\n  maintenance: {time_intervals: [{name: m, time_intervals: [{weekdays: [sunday]}]}]}\n  slos: [{name: a, objective: 99.9%, up: up}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("f.yml", data)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("accepted, then invalid after defaults: %v", err)
		}
		for _, q := range c.Queries {
			if q.Interval <= 0 || q.Timeout <= 0 || q.MaxSeries <= 0 || q.Timeout > q.Interval {
				t.Fatalf("query %s: defaults left %+v", q.Name, q)
			}
		}
	})
}
