package incidents

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/config"
	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/period"
)

// Span is the calendar period the figures are kept for: the spec's
// monthly report.
const Span = "month"

// Collector reads escalator's incidents in the background and serves the
// figures of the current and the previous month; a scrape never calls
// escalator, and while escalator is unreachable it serves the last
// figures read, with sla_escalator_up 0.
type Collector struct {
	client  *Client
	refresh time.Duration
	loc     *time.Location
	logger  *slog.Logger
	now     func() time.Time

	mu       sync.Mutex
	up       bool
	lastOK   time.Time
	duration time.Duration
	failures float64
	figures  []labelled // empty before the first success
}

// labelled is one period's figures and whether it is the current period
// or the previous one.
type labelled struct {
	which string
	f     Figures
}

// New builds a Collector from the configuration's escalator section,
// reading its token now; periods are calendar months in loc. Run starts
// it.
func New(cfg *config.Escalator, loc *time.Location, logger *slog.Logger) (*Collector, error) {
	if cfg == nil || loc == nil {
		return nil, errors.New("incidents: an escalator section and a time zone are required")
	}
	token, err := cfg.Token()
	if err != nil {
		return nil, fmt.Errorf("escalator token: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	refresh := time.Duration(cfg.Refresh)
	if refresh <= 0 {
		refresh = time.Minute // config.Defaults' value, for a hand-built section
	}
	return &Collector{
		client:  &Client{URL: cfg.URL, Token: token},
		refresh: refresh,
		loc:     loc,
		logger:  logger,
		now:     time.Now,
	}, nil
}

// Run refreshes now and then every refresh interval until ctx ends.
func (c *Collector) Run(ctx context.Context) {
	t := time.NewTicker(c.refresh)
	defer t.Stop()
	for {
		_ = c.Refresh(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// timeout is one refresh's deadline: at most the interval, so that a
// stalled escalator never makes refreshes pile up, but never so short
// that 10,000 incidents cannot arrive.
func (c *Collector) timeout() time.Duration { return min(max(c.refresh, 10*time.Second), time.Minute) }

// Refresh reads the incidents once and recomputes the figures; on failure
// it keeps the last ones and reports the error.
func (c *Collector) Refresh(parent context.Context) error {
	ctx, cancel := context.WithTimeout(parent, c.timeout())
	defer cancel()
	start := time.Now()
	list, err := c.client.Incidents(ctx)
	took := time.Since(start)
	var figures []labelled
	if err == nil {
		figures, err = c.compute(list)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.duration = took
	if err != nil {
		c.up = false
		c.failures++
		c.logger.Error("Reading escalator's incidents failed; serving the last good figures", "url", c.client.URL, "err", err)
		return err
	}
	c.up, c.lastOK, c.figures = true, c.now(), figures
	return nil
}

// compute is the figures of the current month and the one before, as of
// now.
func (c *Collector) compute(list []Incident) ([]labelled, error) {
	now := c.now()
	cur, err := period.Containing(Span, now, c.loc)
	if err != nil {
		return nil, fmt.Errorf("incident figures: %w", err)
	}
	return []labelled{
		{"current", Compute(list, cur, now)},
		{"previous", Compute(list, cur.Previous(), now)},
	}, nil
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) { descs.Describe(ch) }

// Collect implements prometheus.Collector: the last figures read.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	up, lastOK, took, failures, figures := c.up, c.lastOK, c.duration, c.failures, c.figures
	c.mu.Unlock()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(upDesc, boolValue(up))
	gauge(lastSuccessDesc, timestamp(lastOK))
	gauge(durationDesc, took.Seconds())
	ch <- prometheus.MustNewConstMetric(errorsDesc, prometheus.CounterValue, failures)
	for _, l := range figures {
		f := l.f
		pl := []string{f.Period.Span, f.Period.Name, l.which}
		for k, n := range byClass(f.Incidents) {
			gauge(incidentsDesc, float64(n), append(pl[:3:3], k.severity, k.category)...)
		}
		gauge(automatedDesc, float64(f.Automated), pl...)
		gauge(resolvedDesc, float64(f.Resolved), pl...)
		if f.Resolved > 0 {
			gauge(mttrDesc, f.MTTR.Seconds(), pl...)
			gauge(automationDesc, f.AutomationRate, pl...)
		}
		if f.Critical > 0 {
			gauge(mtbfDesc, f.MTBF.Seconds(), pl...)
		}
	}
}

// class is one series of sla_incidents.
type class struct{ severity, category string }

// byClass counts incidents by severity and category together: Figures
// keeps each alone, and a series needs both.
func byClass(list []Incident) map[class]int {
	out := map[class]int{}
	for _, inc := range list {
		out[class{inc.Severity, inc.Category}]++
	}
	return out
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func timestamp(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}
