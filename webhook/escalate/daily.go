package escalate

import (
	"context"
	"fmt"
	"time"

	"github.com/hotel-ops/hotel-ops/webhook/diagnose"
	"github.com/hotel-ops/hotel-ops/webhook/notify"
	"github.com/hotel-ops/hotel-ops/webhook/store"
)

// DailyHealth is the spec's daily health check (日常運用, 09:00): every
// diagnostic check, their summary sent to Channels. One replica sends
// it: the first to claim the day's key in the store.
type DailyHealth struct {
	Hour, Minute int
	Zone         *time.Location
	Channels     []string
}

// next is the first time of day h at or after now.
func (h *DailyHealth) next(now time.Time) time.Time {
	local := now.In(h.Zone)
	at := time.Date(local.Year(), local.Month(), local.Day(), h.Hour, h.Minute, 0, 0, h.Zone)
	if at.Before(local) {
		at = time.Date(local.Year(), local.Month(), local.Day()+1, h.Hour, h.Minute, 0, 0, h.Zone)
	}
	return at
}

// dailyHealth sends the daily summary at its time, until ctx ends.
func (e *Engine) dailyHealth(ctx context.Context) {
	for {
		at := e.Daily.next(time.Now())
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(at)):
		}
		key := "health/" + at.Format("2006-01-02")
		first, err := e.Store.ClaimOnce(ctx, key, e.Now())
		if err != nil {
			e.Logger.Error("claiming the daily health check", "err", err)
			continue
		}
		if first {
			e.HealthReport(ctx, key)
		}
	}
}

// HealthReport runs every diagnostic check and sends their summary to
// the daily health check's channels, recording it in the audit log; id
// names the report ("health/2026-12-03"). It returns the summary.
func (e *Engine) HealthReport(ctx context.Context, id string) string {
	e.init()
	if e.Diagnose == nil || e.Daily == nil {
		return ""
	}
	results := e.Diagnose.Run(ctx, nil)
	summary := diagnose.Summary(results)
	counts := map[diagnose.Status]int{}
	for _, r := range results {
		counts[r.Status]++
	}
	title := fmt.Sprintf("Daily health check %s: %d ok, %d degraded, %d failed", e.Now().In(e.Daily.Zone).Format("2006-01-02 15:04 MST"),
		counts[diagnose.StatusOK], counts[diagnose.StatusDegraded], counts[diagnose.StatusFailed])
	m := notify.Message{Key: id, Incident: id, Event: notify.Report, Summary: title, Diagnostics: summary}
	for _, ch := range e.Daily.Channels {
		nt, ok := e.Notifiers[ch]
		if !ok {
			continue
		}
		var err error
		for attempt := range 3 { // not queued: a report a day late is worth nothing
			sctx, cancel := context.WithTimeout(ctx, e.Lease)
			err = nt.Send(sctx, m)
			cancel()
			if err == nil || ctx.Err() != nil {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Duration(attempt+1) * 10 * time.Second):
			}
		}
		if err != nil {
			e.Logger.Warn("sending the daily health check", "channel", ch, "err", err)
		}
	}
	entry := store.Entry{Time: e.Now(), Action: "health_report", Detail: title}
	if err := e.Store.Record(context.WithoutCancel(ctx), entry); err != nil {
		e.Logger.Warn("recording the daily health check", "err", err)
	}
	return title + "\n" + summary
}
