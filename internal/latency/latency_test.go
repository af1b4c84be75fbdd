package latency

import (
	"testing"
	"time"
)

func TestQuantile(t *testing.T) {
	var s Sample
	for i := 1000; i >= 1; i-- { // taken out of order: Quantile sorts a copy
		s = append(s, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500}, {0.99, 990}, {0.999, 999}, {1, 1000}, {0, 1}} {
		if got := s.Quantile(c.q); got != c.want*time.Millisecond {
			t.Errorf("Quantile(%v) = %v, want %v ms", c.q, got, c.want)
		}
	}
	if s[0] != time.Second {
		t.Error("Quantile reordered the sample")
	}
	if got := s.Over(990 * time.Millisecond); got != 10 {
		t.Errorf("Over(990ms) = %d, want 10", got)
	}
	if got := (Sample{}).Quantile(0.99); got != 0 {
		t.Errorf("empty sample: %v", got)
	}
}

// A stall of 30 slow requests in one window of 1,000 is under 1% of 5,000
// but 3% of its own window.
func TestWorstWindow(t *testing.T) {
	s := make(Sample, 5000)
	for i := range s {
		s[i] = time.Millisecond
	}
	for i := 2000; i < 2030; i++ {
		s[i] = 100 * time.Millisecond
	}
	if got := s.Quantile(0.99); got != time.Millisecond {
		t.Errorf("whole p99 = %v", got)
	}
	if got := s.WorstWindow(1000, 0.99); got != 100*time.Millisecond {
		t.Errorf("worst window p99 = %v", got)
	}
}
