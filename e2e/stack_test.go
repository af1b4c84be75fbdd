// Package e2e runs the suite as one paging system, as its users run it
// (internal/suite: the real exporters, Prometheus 3 with the generated
// rules, Alertmanager and escalator with the generated configuration,
// loopback recorders in place of PagerDuty, Slack and e-mail), injects the
// spec's faults, and asserts who is paged, by when, and that nothing else
// is.
package e2e

import (
	"sync"
	"testing"

	"github.com/hotel-ops/hotel-ops/internal/suite"
)

// override keeps the test's own machine out of the verdict and makes the
// slow parts of a page's life short enough to watch; the detection times
// (for) stay the shipped ones.
const override = `
# The test runs on a 2-core machine that it loads itself (builds, two
# PostgreSQL clusters, Prometheus): its CPU and disk are not faults the
# suite is asked about here, and the disk may be fuller than 80% anyway.
thresholds:
  cpu: {warning: 99%, critical: 100%}
selectors:
  filesystem: mountpoint="/hotelops-e2e-none"
# Resolved notices within a minute, not Alertmanager's default 5m.
routing:
  group_interval: 30s
# system_down escalates to the manager after 15m; 1m here, to see it.
escalations:
  system_down: {after: 1m, to: manager}
# Slow cases made short enough to watch: a 3-minute RPO (the primary
# archives every minute at rest, as shipped), archiving failing detected
# in 1m (5m shipped), the 1% error-rate warning in 6m (10m shipped).
backup:
  rpo: {critical: 3m}
alerts:
  PostgresWALArchivingFailing: {for: 1m}
  HotelAppErrorRateHigh: {for: 6m}
`

// stack is the running suite and what the test has caused.
type stack struct {
	*suite.Suite
	pages *ledger
}

func startStack(t *testing.T) *stack {
	t.Helper()
	s := suite.Start(t, suite.Options{Override: override})
	return &stack{Suite: s, pages: &ledger{s: s, allowed: map[string]bool{}}}
}

// ledger holds which alerts the test has caused: a page about any other
// is a false alarm.
type ledger struct {
	s       *suite.Suite
	mu      sync.Mutex
	allowed map[string]bool
}

// allow says the test caused these alerts.
func (l *ledger) allow(alerts ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, a := range alerts {
		l.allowed[a] = true
	}
}

// strays are the pages about alerts the test did not cause, or about no
// alert of the spec at all.
func (l *ledger) strays() []suite.Page {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []suite.Page
	for _, p := range l.s.Pages() {
		ok := len(p.Alerts) > 0
		for _, a := range p.Alerts {
			ok = ok && l.allowed[a]
		}
		if !ok {
			out = append(out, p)
		}
	}
	return out
}
