package collector

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestParallelGathers: every member gathers at once (each here waits
// until the other has begun, which one after the other never would), and
// the answers merge as prometheus.Gatherers merges them: a member's error
// keeps the others' families, and a series both report is refused.
func TestParallelGathers(t *testing.T) {
	gauge := func(name string, v float64) *prometheus.Registry {
		r := prometheus.NewRegistry()
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: name})
		g.Set(v)
		r.MustRegister(g)
		return r
	}
	t.Run("at once", func(t *testing.T) {
		begun := []chan struct{}{make(chan struct{}), make(chan struct{})}
		waitFor := func(me, other int, r *prometheus.Registry) prometheus.Gatherer {
			return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
				close(begun[me])
				select {
				case <-begun[other]:
				case <-time.After(10 * time.Second):
					return nil, errors.New("the other gatherer never began while this one ran")
				}
				return r.Gather()
			})
		}
		mfs, err := Parallel{waitFor(0, 1, gauge("a", 1)), waitFor(1, 0, gauge("b", 2))}.Gather()
		if err != nil {
			t.Fatal(err)
		}
		if len(mfs) != 2 || mfs[0].GetName() != "a" || mfs[1].GetName() != "b" {
			t.Errorf("gathered %v, want a and b, sorted", mfs)
		}
	})
	t.Run("one fails", func(t *testing.T) {
		failing := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return nil, errors.New("no turn") })
		mfs, err := Parallel{gauge("a", 1), failing}.Gather()
		if err == nil || !strings.Contains(err.Error(), "no turn") {
			t.Errorf("error %v, want the failing member's", err)
		}
		if len(mfs) != 1 || mfs[0].GetName() != "a" {
			t.Errorf("gathered %v beside the failure, want a", mfs)
		}
	})
	t.Run("a series twice", func(t *testing.T) {
		if _, err := (Parallel{gauge("a", 1), gauge("a", 2)}).Gather(); err == nil {
			t.Error("the same series from two members merged without an error")
		}
	})
}
