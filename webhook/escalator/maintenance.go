package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/prometheus/alertmanager/pkg/labels"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"

	"github.com/hotel-ops/hotel-ops/webhook/amsync"
	"github.com/hotel-ops/hotel-ops/webhook/config"
)

// createdByPrefix marks the silences of planned stops: the stop's name
// follows it. start, end and status find their silences by it.
const createdByPrefix = "escalator maintenance "

// maintenanceTimeout bounds one maintenance command's talk with
// Alertmanager (each request also has its own timeout).
const maintenanceTimeout = time.Minute

// maintenance is the `maintenance` commands: a planned stop of the spec
// hides its alerts, critical ones included, with silences created when
// the stop begins and lasting at most the stop's max, so that an overrun
// pages when they expire.
type maintenance struct {
	name, duration, comment string
}

// addMaintenance declares `maintenance start|end|status` on the
// application.
func addMaintenance(app *kingpin.Application) *maintenance {
	m := &maintenance{}
	c := app.Command("maintenance", "Planned stops: silence their alerts, critical ones included, for at most the stop's max.")
	start := c.Command("start", "Start a planned stop: create its silences in Alertmanager, from now until --duration (default and at most the stop's max).")
	start.Arg("name", "The planned stop (maintenance[].name in the configuration).").Required().StringVar(&m.name)
	start.Flag("duration", "How long the silences last: at most the stop's max, which is the default.").StringVar(&m.duration)
	start.Flag("comment", "Added to the silences' comment: a ticket, who is doing the work.").StringVar(&m.comment)
	end := c.Command("end", "End a planned stop: expire its active silences.")
	end.Arg("name", "The planned stop.").Required().StringVar(&m.name)
	c.Command("status", "List the planned stops' active silences and when they end.")
	return m
}

// usageError is a refusal of what was asked (exit 2), not a failure to
// do it (exit 1).
type usageError struct{ error }

// run runs the maintenance command cmd ("maintenance start", …).
func (m *maintenance) run(cmd string, cfg *config.Config, out io.Writer) error {
	if cfg.Alertmanager == nil {
		return usageError{errors.New("the configuration has no alertmanager: section (urls, http_config): planned stops are silences in Alertmanager")}
	}
	hc, err := commoncfg.NewClientFromConfig(cfg.Alertmanager.HTTPConfig, "escalator")
	if err != nil {
		return usageError{fmt.Errorf("alertmanager.http_config: %w", err)}
	}
	hc.Timeout = 15 * time.Second
	cl, err := amsync.NewCluster(cfg.Alertmanager.URLs, hc)
	if err != nil {
		return usageError{fmt.Errorf("alertmanager.urls: %w", err)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), maintenanceTimeout)
	defer cancel()
	switch cmd {
	case "maintenance start":
		return m.start(ctx, cfg, cl, out)
	case "maintenance end":
		return m.end(ctx, cfg, cl, out)
	default:
		return status(ctx, cfg, cl, out)
	}
}

// start creates the stop's silences, one per entry. While the stop's
// silences are in effect it creates only those missing (a silence
// expired by hand, an entry added to the configuration), ending with the
// others: a stop is never extended past its max from its start.
func (m *maintenance) start(ctx context.Context, cfg *config.Config, cl *amsync.Cluster, out io.Writer) error {
	stop := cfg.Stop(m.name)
	if stop == nil {
		return usageError{unknownStop(cfg, m.name)}
	}
	max := time.Duration(stop.Max)
	d := max
	if m.duration != "" {
		pd, err := model.ParseDuration(m.duration)
		switch {
		case err != nil:
			return usageError{fmt.Errorf("--duration=%s: %w", m.duration, err)}
		case pd <= 0:
			return usageError{fmt.Errorf("--duration=%s: must be positive", m.duration)}
		case time.Duration(pd) > max:
			return usageError{fmt.Errorf("--duration=%s exceeds the max of planned stop %q, %s: the spec allows it no longer", m.duration, stop.Name, stop.Max)}
		}
		d = time.Duration(pd)
	}
	want := make([]labels.Matchers, len(stop.Silences))
	for i, ms := range stop.Silences {
		for _, raw := range ms {
			pm, err := labels.ParseMatcher(raw) // validated with the configuration
			if err != nil {
				return fmt.Errorf("maintenance %s: %q: %w", stop.Name, raw, err)
			}
			want[i] = append(want[i], pm)
		}
	}

	current, err := stopSilences(ctx, cl, stop.Name)
	if err != nil {
		return fmt.Errorf("planned stop %q: %w", stop.Name, err)
	}
	now := time.Now()
	ends := now.Add(d)
	have := map[string]bool{}
	for i, s := range current {
		if i == 0 || time.Time(*s.EndsAt).Before(ends) {
			ends = time.Time(*s.EndsAt)
		}
		have[amsync.MatchersString(s.Matchers)] = true
		fmt.Fprintf(out, "%s: silence %s already active since %s, until %s: %s\n", stop.Name, *s.ID,
			stamp(time.Time(*s.StartsAt)), stamp(time.Time(*s.EndsAt)), amsync.MatchersString(s.Matchers))
	}
	var missing []labels.Matchers
	for _, ms := range want {
		if !have[amsync.MatchersString(amsync.APIMatchers(ms))] {
			missing = append(missing, ms)
		}
	}
	if len(current) > 0 && len(missing) == 0 {
		fmt.Fprintf(out, "planned stop %q is already started: it ends at %s and is not extended (its max %s counts from its start); `escalator maintenance end %s` ends it\n",
			stop.Name, stamp(ends), stop.Max, stop.Name)
		return nil
	}
	if len(current) > 0 {
		fmt.Fprintf(out, "%s: %d of its silences missing: creating them until %s, with the others\n", stop.Name, len(missing), stamp(ends))
	}

	by := createdByPrefix + stop.Name
	comment := fmt.Sprintf("Planned stop %s (max %s), started by `%s start`: ends at %s; alerts still firing then page.",
		stop.Name, stop.Max, strings.TrimSpace(createdByPrefix), stamp(ends))
	if c := strings.TrimSpace(m.comment); c != "" {
		comment += " " + c
	}
	startsAt, endsAt := strfmt.DateTime(now), strfmt.DateTime(ends)
	created := 0
	for _, ms := range missing {
		s := &models.PostableSilence{Silence: models.Silence{Matchers: amsync.APIMatchers(ms),
			StartsAt: &startsAt, EndsAt: &endsAt, CreatedBy: &by, Comment: &comment}}
		id, url, err := cl.CreateSilence(ctx, s)
		if err != nil {
			return fmt.Errorf("planned stop %q: creating the silence %s (%d of %d created; `start` again creates the rest, `end` expires them): %w",
				stop.Name, amsync.MatchersString(s.Matchers), created, len(missing), err)
		}
		created++
		fmt.Fprintf(out, "%s: silence %s created on %s, until %s: %s\n", stop.Name, id, url, stamp(ends), amsync.MatchersString(s.Matchers))
	}
	fmt.Fprintf(out, "planned stop %q started: %d silences until %s (max %s); alerts still firing then page\n", stop.Name, created+len(current), stamp(ends), stop.Max)
	return nil
}

// end expires the stop's silences in effect. A name no longer in the
// configuration is accepted when it has silences (a stop renamed while
// it ran).
func (m *maintenance) end(ctx context.Context, cfg *config.Config, cl *amsync.Cluster, out io.Writer) error {
	current, err := stopSilences(ctx, cl, m.name)
	if err != nil {
		return fmt.Errorf("planned stop %q: %w", m.name, err)
	}
	if len(current) == 0 {
		if cfg.Stop(m.name) == nil {
			return usageError{unknownStop(cfg, m.name)}
		}
		fmt.Fprintf(out, "planned stop %q has no active silence: nothing to end\n", m.name)
		return nil
	}
	var errs []error
	expired := 0
	for _, s := range current {
		url, err := cl.ExpireSilence(ctx, *s.ID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		expired++
		if url == "" {
			url = "no peer (already gone)"
		}
		fmt.Fprintf(out, "%s: silence %s expired on %s: %s\n", m.name, *s.ID, url, amsync.MatchersString(s.Matchers))
	}
	if len(errs) > 0 {
		return fmt.Errorf("planned stop %q: %d of %d silences expired: %w", m.name, expired, len(current), errors.Join(errs...))
	}
	fmt.Fprintf(out, "planned stop %q ended: %d silences expired; its alerts notify again\n", m.name, expired)
	return nil
}

// status lists the silences of every planned stop in effect.
func status(ctx context.Context, cfg *config.Config, cl *amsync.Cluster, out io.Writer) error {
	all, err := cl.Silences(ctx)
	if err != nil {
		return fmt.Errorf("planned stops: %w", err)
	}
	var current []*models.GettableSilence
	for _, s := range all {
		if inEffect(s) && strings.HasPrefix(*s.CreatedBy, createdByPrefix) {
			current = append(current, s)
		}
	}
	if len(current) == 0 {
		fmt.Fprintln(out, "no planned stop is active")
		return nil
	}
	sort.SliceStable(current, func(i, j int) bool {
		if *current[i].CreatedBy != *current[j].CreatedBy {
			return *current[i].CreatedBy < *current[j].CreatedBy
		}
		return time.Time(*current[i].EndsAt).Before(time.Time(*current[j].EndsAt))
	})
	now := time.Now()
	for _, s := range current {
		name := strings.TrimPrefix(*s.CreatedBy, createdByPrefix)
		note := ""
		if st := cfg.Stop(name); st == nil {
			note = " (not in the configuration)"
		} else {
			note = fmt.Sprintf(" (max %s)", st.Max)
		}
		end := time.Time(*s.EndsAt)
		fmt.Fprintf(out, "%s%s: silence %s %s until %s (%s left): %s\n", name, note, *s.ID, *s.Status.State,
			stamp(end), model.Duration(end.Sub(now).Round(time.Minute)), amsync.MatchersString(s.Matchers))
	}
	return nil
}

// stopSilences is the silences of the named stop in effect (active, or
// pending should one have been made to start later), sorted by ID.
func stopSilences(ctx context.Context, cl *amsync.Cluster, name string) ([]*models.GettableSilence, error) {
	all, err := cl.Silences(ctx)
	if err != nil {
		return nil, err
	}
	var out []*models.GettableSilence
	for _, s := range all {
		if inEffect(s) && *s.CreatedBy == createdByPrefix+name {
			out = append(out, s)
		}
	}
	return out, nil
}

// inEffect reports a silence that is active or pending, with the fields
// the commands read.
func inEffect(s *models.GettableSilence) bool {
	if s.Status == nil || s.Status.State == nil || s.CreatedBy == nil || s.StartsAt == nil || s.EndsAt == nil {
		return false
	}
	st := *s.Status.State
	return st == models.SilenceStatusStateActive || st == models.SilenceStatusStatePending
}

func unknownStop(cfg *config.Config, name string) error {
	names := make([]string, 0, len(cfg.Maintenance))
	for _, m := range cfg.Maintenance {
		names = append(names, m.Name)
	}
	if len(names) == 0 {
		return fmt.Errorf("no planned stop %q: the configuration has no maintenance: section", name)
	}
	return fmt.Errorf("no planned stop %q in the configuration (maintenance: %s)", name, strings.Join(names, ", "))
}

// stamp is a time as people read it: local time, to the second.
func stamp(t time.Time) string { return t.Local().Format(time.RFC3339) }
