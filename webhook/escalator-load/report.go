package main

import (
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hotel-ops/hotel-ops/internal/latency"
)

// Report is a run's figures; --json prints it.
type Report struct {
	Command  string    `json:"command"` // the command line, to run it again
	Mode     string    `json:"mode"`    // storm or throughput
	Started  time.Time `json:"started"`
	Target   string    `json:"target"`
	Spawned  bool      `json:"spawned"`
	Store    string    `json:"store"` // embedded, postgres or unknown
	Settings Settings  `json:"settings"`
	Machine  Machine   `json:"machine"`
	CPU      *CPU      `json:"cpu,omitempty"`

	Requests      Requests       `json:"requests"`
	Latency       Latency        `json:"latency_ms"`
	SendLag       *Latency       `json:"send_lag_ms,omitempty"` // open loop: how late copies left
	Notifications *Notifications `json:"notifications,omitempty"`
	Flapping      *Flapping      `json:"flapping,omitempty"`
	StoreSize     *StoreSize     `json:"store_size,omitempty"`
	EscalatorLog  *LogSummary    `json:"escalator_log,omitempty"`
}

// Settings are the load's parameters.
type Settings struct {
	Rate          float64 `json:"rate,omitempty"` // deliveries a second from one Alertmanager (storm)
	Senders       int     `json:"senders,omitempty"`
	Alerts        int     `json:"alerts"`
	Grow          int     `json:"grow"`
	Duration      string  `json:"duration"`
	Warmup        string  `json:"warmup"`
	HAPeers       int     `json:"ha_peers"`
	HASkew        string  `json:"ha_skew"`
	GroupInterval string  `json:"group_interval,omitempty"` // storm
	GroupLag      int     `json:"group_lag,omitempty"`      // throughput: deliveries between a group's deliveries
	EscalateAfter string  `json:"escalate_after"`
	Flapping      float64 `json:"flapping"`
	Critical      float64 `json:"critical"`
	ReceiverDelay string  `json:"receiver_delay"`
	Seed          uint64  `json:"seed"`
}

// Requests counts what was posted (every peer's copy) and answered.
type Requests struct {
	Sent          int            `json:"sent"`     // every copy, warm-up included
	Measured      int            `json:"measured"` // copies due (or sent) after the warm-up
	OK            int            `json:"answered_200"`
	Errors        map[string]int `json:"errors"` // by status code, or "no answer"
	ErrorSample   string         `json:"error_sample,omitempty"`
	PerSecond     float64        `json:"per_second"` // measured copies answered 200, a second
	Deliveries    float64        `json:"deliveries_per_second"`
	AlertsPerSec  float64        `json:"alerts_per_second"` // alerts of those copies
	TargetPerSec  float64        `json:"target_per_second,omitempty"`
	AlertsSent    int            `json:"alerts_sent"`
	AlertsOK      int            `json:"alerts_answered_200"`
	MeanAlerts    float64        `json:"alerts_per_delivery"`
	Duplicates    int            `json:"duplicates_answered"`
	LaterCopies   int            `json:"later_copies_answered"` // copies answered 200 after their delivery's first
	Held          int            `json:"held"`                  // copies that waited past their due for their group's previous answer
	HeldMaxMs     float64        `json:"held_max_ms"`
	Opened        int            `json:"incidents_opened"`
	Resolved      int            `json:"incidents_resolved"`
	Occurrences   int            `json:"alert_occurrences_fired"` // distinct alert occurrences answered 200 firing
	ByStage       map[string]int `json:"deliveries_by_stage"`
	WindowSeconds float64        `json:"window_seconds"`
}

// Latency is a sample's summary in milliseconds.
type Latency struct {
	Count      int     `json:"count"`
	P50        float64 `json:"p50"`
	P90        float64 `json:"p90"`
	P99        float64 `json:"p99"`
	P999       float64 `json:"p99_9"`
	Max        float64 `json:"max"`
	Worst5sP99 float64 `json:"worst_5s_p99,omitempty"`
	// P99By5s is the p99 of each 5 s of the load, in order: a storm's
	// slow seconds (a checkpoint, autovacuum) apart from the rest.
	P99By5s []float64 `json:"p99_by_5s,omitempty"`
}

func summarize(s latency.Sample) Latency {
	return Latency{Count: len(s), P50: latency.Ms(s.Quantile(0.5)), P90: latency.Ms(s.Quantile(0.9)),
		P99: latency.Ms(s.Quantile(0.99)), P999: latency.Ms(s.Quantile(0.999)), Max: latency.Ms(s.Quantile(1))}
}

// Notifications is what the loopback receiver got.
type Notifications struct {
	Received     int                `json:"received"` // requests, retries included
	Keys         int                `json:"distinct_keys"`
	DoubledKeys  int                `json:"doubled_keys"` // keys that arrived more than once
	DoubledMax   int                `json:"doubled_max"`
	Unknown      int                `json:"unknown_keys"` // not an incident of this run
	Step0        int                `json:"step0"`        // of alerts that did not flap
	Step0Flap    int                `json:"step0_flapping"`
	Step0Expect  int                `json:"step0_expected"` // critical, non-flapping occurrences answered 200
	Step0Missing int                `json:"step0_missing"`
	Step0Stored  int                `json:"step0_not_answered_200"` // of alerts no firing copy of which was answered 200: stored all the same
	Step1        int                `json:"step1"`
	Resolve      int                `json:"resolve"`
	Other        int                `json:"other"`
	Lateness     map[string]Latency `json:"lateness_ms"` // by kind: step0, step1, resolve
	Drained      bool               `json:"drained"`     // had stopped arriving when the run ended
	DrainSeconds float64            `json:"drain_seconds"`
}

// Flapping is what became of the alerts that resolved right after they
// fired, as escalator's API shows them after the run.
type Flapping struct {
	Alerts   int `json:"alerts"`
	Checked  int `json:"checked"`
	Resolved int `json:"resolved"`
	LeftOpen int `json:"left_open"` // open or acknowledged though Alertmanager resolved them
	Absent   int `json:"absent"`    // no incident (the resolve came first and the firing copies never opened one, or none was answered)
	Errors   int `json:"errors"`
	// ResolvedFirst counts flapping occurrences whose first resolved
	// copy was due before their last firing copy.
	ResolvedFirst int `json:"resolved_copy_first"`
}

// StoreSize is the store's size after the run.
type StoreSize struct {
	What          string  `json:"what"`
	Before        int64   `json:"bytes_before"`
	After         int64   `json:"bytes_after"`
	Database      int64   `json:"database_bytes,omitempty"`
	PerMillion    float64 `json:"bytes_per_million_alerts"` // growth per million alerts answered 200 (every copy)
	AlertsCounted int     `json:"alerts_counted"`
	Note          string  `json:"note,omitempty"`
}

// LogSummary counts escalator's warnings and errors.
type LogSummary struct {
	Path   string `json:"path"`
	Errors int    `json:"errors"`
	Warns  int    `json:"warnings"`
	Sample string `json:"error_sample,omitempty"`
}

// analyse fills the request figures from the results.
func analyse(rep *Report, t *tracker, window time.Duration, openLoop bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	rq := &rep.Requests
	rq.Errors, rq.ByStage = map[string]int{}, map[string]int{}
	var lat, lag latency.Sample
	var firstSend, lastSend time.Duration = -1, 0
	firstOK := map[int]bool{}
	sorted := append([]result(nil), t.results...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].sched < sorted[j].sched })
	okMeasured, alertsMeasured := 0, 0
	for _, r := range sorted {
		rq.Sent++
		rq.AlertsSent += r.alerts
		if r.held > 0 {
			rq.Held++
			rq.HeldMaxMs = max(rq.HeldMaxMs, latency.Ms(r.held))
		}
		if r.peer == 0 {
			rq.ByStage[stageNames[r.stage]]++
		}
		if r.code == http.StatusOK {
			rq.OK++
			rq.AlertsOK += r.alerts
			if r.ans.Duplicate {
				rq.Duplicates++
			}
			rq.Opened += r.ans.Opened
			rq.Resolved += r.ans.Resolved
			if firstOK[r.seq] {
				rq.LaterCopies++
			}
			firstOK[r.seq] = true
		} else {
			key := "no answer"
			if r.code != 0 {
				key = fmt.Sprint(r.code)
			}
			rq.Errors[key]++
			if rq.ErrorSample == "" {
				rq.ErrorSample = r.err
			}
		}
		if !r.measured {
			continue
		}
		rq.Measured++
		sent := r.sched + r.held + r.sendLag
		if firstSend < 0 || sent < firstSend {
			firstSend = sent
		}
		lastSend = max(lastSend, sent)
		if r.code == http.StatusOK {
			okMeasured++
			alertsMeasured += r.alerts
		}
		lat = append(lat, r.latency)
		if openLoop {
			lag = append(lag, r.sendLag)
		}
	}
	if rq.Sent > 0 {
		rq.MeanAlerts = float64(rq.AlertsSent) / float64(rq.Sent)
	}
	if openLoop && lastSend > firstSend && firstSend >= 0 {
		// The achieved rate is over the span the copies actually left in.
		window = lastSend - firstSend
	}
	rq.WindowSeconds = window.Seconds()
	if window > 0 {
		rq.PerSecond = float64(okMeasured) / window.Seconds()
		rq.Deliveries = rq.PerSecond / float64(max(rep.Settings.HAPeers, 1))
		rq.AlertsPerSec = float64(alertsMeasured) / window.Seconds()
	}
	for _, ref := range t.inc {
		if ref.fired {
			rq.Occurrences++
		}
	}
	rep.Latency = summarize(lat)
	if openLoop {
		// Per second of the target rate, in the order they were due.
		per5s := int(5 * rep.Requests.TargetPerSec)
		if per5s > 0 {
			rep.Latency.Worst5sP99 = latency.Ms(lat.WorstWindow(per5s, 0.99))
			for _, w := range lat.Windows(per5s, 0.99) {
				rep.Latency.P99By5s = append(rep.Latency.P99By5s, latency.Ms(w))
			}
		}
		l := summarize(lag)
		rep.SendLag = &l
	}
}

// analyseNotifications matches the receiver's keys with the run's
// incidents: incident/step/channel, or incident/resolve/channel.
func analyseNotifications(t *tracker, start time.Time, arrivals map[string]arrival, total int, escalateAfter time.Duration) *Notifications {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := &Notifications{Received: total, Keys: len(arrivals), Lateness: map[string]Latency{}}
	late := map[string]latency.Sample{}
	step0 := map[string]bool{}
	for key, a := range arrivals {
		if a.count > 1 {
			n.DoubledKeys++
			n.DoubledMax = max(n.DoubledMax, a.count)
		}
		parts := strings.Split(key, "/")
		if len(parts) != 3 {
			n.Unknown++
			continue
		}
		ref := t.inc[parts[0]]
		if ref == nil {
			n.Unknown++
			continue
		}
		var due time.Duration
		var kind string
		var known bool
		switch parts[1] {
		case "0":
			switch {
			case ref.flapping:
				n.Step0Flap++
			case !ref.fired:
				n.Step0Stored++
			default:
				n.Step0++
			}
			step0[parts[0]] = true
			kind, due, known = "step0", ref.fireAt, ref.hasFire
		case "1":
			n.Step1++
			kind, due, known = "step1", ref.fireAt+escalateAfter, ref.hasFire
		case "resolve":
			n.Resolve++
			kind, due, known = "resolve", ref.resolveAt, ref.hasResolve
		default:
			n.Other++
			continue
		}
		if known {
			late[kind] = append(late[kind], a.first.Sub(start.Add(due)))
		}
	}
	for id, ref := range t.inc {
		if ref.critical && !ref.flapping && ref.fired {
			n.Step0Expect++
			if !step0[id] {
				n.Step0Missing++
			}
		}
	}
	for kind, s := range late {
		n.Lateness[kind] = summarize(s)
	}
	return n
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// printTable writes the compact human summary.
func printTable(w io.Writer, r *Report) {
	s := r.Settings
	p := func(label, format string, args ...any) {
		fmt.Fprintf(w, "%-14s %s\n", label, fmt.Sprintf(format, args...))
	}
	every := "every " + s.GroupInterval
	if s.GroupLag > 0 {
		every = fmt.Sprintf("%d deliveries later", s.GroupLag)
	}
	peers := "1 Alertmanager"
	if s.HAPeers > 1 {
		peers = fmt.Sprintf("%d HA peers (skew ≤ %s)", s.HAPeers, s.HASkew)
	}
	shape := fmt.Sprintf("%d alerts a fault (+%d at the re-send, %s), %s, %.0f%% critical, %.0f%% flapping",
		s.Alerts, s.Grow, every, peers, 100*s.Critical, 100*s.Flapping)
	if r.Mode == "storm" {
		p("storm", "%.0f deliveries/s for %s after %s warm-up; %s", s.Rate, s.Duration, s.Warmup, shape)
	} else {
		p("throughput", "%d senders for %s after %s warm-up; %s", s.Senders, s.Duration, s.Warmup, shape)
	}
	p("escalator", "%s, %s store%s", r.Target, r.Store, map[bool]string{true: " (spawned)", false: ""}[r.Spawned])
	m := r.Machine
	fsync := "not measured"
	if m.FsyncNote == "" {
		fsync = fmt.Sprintf("p50 %.2f / p99 %.2f / max %.2f ms", m.FsyncP50Ms, m.FsyncP99Ms, m.FsyncMaxMs)
	} else {
		fsync = m.FsyncNote
	}
	p("machine", "%d CPUs, load average %s before, %s after", m.CPUs, m.LoadBefore, m.LoadAfter)
	if c := r.CPU; c != nil && c.Available > 0 {
		pg := ""
		if c.Postgres > 0 {
			pg = fmt.Sprintf(", PostgreSQL %.0f", c.Postgres)
		}
		esc := fmt.Sprintf("escalator %.0f", c.Escalator)
		if !r.Spawned {
			esc = "escalator among the others"
		}
		p("cpu", "%.0f of %.0f CPU-seconds busy (%.0f%%): %s%s, this command %.0f, kernel threads %.0f, others %.0f",
			c.Busy, c.Available, 100*c.Busy/c.Available, esc, pg, c.Load, c.Kernel, c.Others)
		if r.Spawned && r.Requests.OK > 0 {
			w := fmt.Sprintf("escalator %.0f MiB (%.1f KiB a request answered 200)", float64(c.EscalatorWritten)/(1<<20), float64(c.EscalatorWritten)/1024/float64(r.Requests.OK))
			if c.PostgresWritten > 0 {
				w += fmt.Sprintf(", PostgreSQL %.0f MiB (%.1f KiB)", float64(c.PostgresWritten)/(1<<20), float64(c.PostgresWritten)/1024/float64(r.Requests.OK))
			}
			w += " to storage during the load"
			if c.Device != "" {
				w += fmt.Sprintf("; the disk (%s) wrote %.0f MiB (%.1f KiB), every process's", c.Device, float64(c.DeviceWritten)/(1<<20), float64(c.DeviceWritten)/1024/float64(r.Requests.OK))
			}
			p("written", "%s", w)
		}
	}
	p("disk", "4 KiB write + fdatasync ×%d in %s (%s): %s", m.FsyncCount, m.FsyncDir, m.FsyncFS, fsync)
	rq := r.Requests
	errs := "none"
	if len(rq.Errors) > 0 {
		var parts []string
		for k, v := range rq.Errors {
			parts = append(parts, fmt.Sprintf("%s ×%d", k, v))
		}
		sort.Strings(parts)
		errs = strings.Join(parts, ", ") + " (" + rq.ErrorSample + ")"
	}
	target := ""
	if rq.TargetPerSec > 0 {
		target = fmt.Sprintf(" (due %.0f/s)", rq.TargetPerSec)
	}
	p("requests", "%d sent, %d answered 200; measured: %.0f/s%s = %.0f deliveries/s, %.0f alerts/s; errors: %s",
		rq.Sent, rq.OK, rq.PerSecond, target, rq.Deliveries, rq.AlertsPerSec, errs)
	p("answers", "%d incidents opened (%d alert occurrences answered firing), %d resolved; %d duplicates answered (%d later copies); %.1f alerts a delivery",
		rq.Opened, rq.Occurrences, rq.Resolved, rq.Duplicates, rq.LaterCopies, rq.MeanAlerts)
	if rq.Held > 0 {
		p("", "%d copies held past their due by their group's previous answer (as a peer holds them), up to %.0f ms", rq.Held, rq.HeldMaxMs)
	}
	l := r.Latency
	worst := ""
	if l.Worst5sP99 > 0 {
		worst = fmt.Sprintf("; worst 5 s p99 %.1f", l.Worst5sP99)
	}
	from := "from sending"
	if r.Mode == "storm" {
		from = "from the due time"
	}
	p("latency", "p50 %.2f  p90 %.2f  p99 %.1f  p99.9 %.1f  max %.1f ms%s (%d answers, %s)", l.P50, l.P90, l.P99, l.P999, l.Max, worst, l.Count, from)
	if len(l.P99By5s) > 0 {
		by := make([]string, len(l.P99By5s))
		for i, v := range l.P99By5s {
			by[i] = fmt.Sprintf("%.0f", v)
		}
		p("", "p99 by 5 s: %s ms", strings.Join(by, " "))
	}
	if r.SendLag != nil {
		p("send lag", "p99 %.2f  max %.1f ms (how late this command sent: the client's share)", r.SendLag.P99, r.SendLag.Max)
	}
	if n := r.Notifications; n != nil {
		drained := "stopped arriving"
		if !n.Drained {
			drained = "STILL ARRIVING"
		}
		doubled := fmt.Sprintf("%d doubled", n.DoubledKeys)
		if n.DoubledKeys > 0 {
			doubled += fmt.Sprintf(" (up to ×%d)", n.DoubledMax)
		}
		p("notifications", "%d received, %d keys, %s, %d unknown; %s %.0f s after the load",
			n.Received, n.Keys, doubled, n.Unknown, drained, n.DrainSeconds)
		p("", "step 0: %d of %d expected (%d missing), %d for alerts only answered with errors, %d for flapping ones; step 1: %d; resolve: %d",
			n.Step0, n.Step0Expect, n.Step0Missing, n.Step0Stored, n.Step0Flap, n.Step1, n.Resolve)
		for _, kind := range []string{"step0", "step1", "resolve"} {
			if x, ok := n.Lateness[kind]; ok {
				p("", "lateness %-7s p50 %.1f  p99 %.1f  max %.1f ms (%d)", kind, x.P50, x.P99, x.Max, x.Count)
			}
		}
	}
	if f := r.Flapping; f != nil && f.Alerts > 0 {
		p("flapping", "%d occurrences (%d with a resolved copy due first); of %d checked: %d resolved, %d LEFT OPEN, %d without incident, %d errors",
			f.Alerts, f.ResolvedFirst, f.Checked, f.Resolved, f.LeftOpen, f.Absent, f.Errors)
	}
	if z := r.StoreSize; z != nil {
		extra := ""
		if z.Database > 0 {
			extra = fmt.Sprintf(" (database %s)", mib(z.Database))
		}
		note := ""
		if z.Note != "" {
			note = "; " + z.Note
		}
		p("store", "%s: %s after, %s before%s; %s per million alerts received%s",
			z.What, mib(z.After), mib(z.Before), extra, mib(int64(z.PerMillion)), note)
	}
	if lg := r.EscalatorLog; lg != nil && (lg.Errors > 0 || lg.Warns > 0) {
		p("escalator log", "%d errors, %d warnings (%s): %s", lg.Errors, lg.Warns, lg.Path, lg.Sample)
	}
	p("command", "%s", r.Command)
}

// diskSize is the bytes of the files under path (the embedded store's
// directory, or a file).
func diskSize(path string) (int64, error) {
	var n int64
	err := filepath.WalkDir(path, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			n += info.Size()
		}
		return nil
	})
	return n, err
}
