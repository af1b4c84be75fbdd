// Package amsync keeps escalator in step with Alertmanager through its API
// v2: it closes incidents whose resolved notification never arrived (a
// webhook lost, a silence that swallowed it, an alert that vanished with
// a restart), and, when asked, silences an acknowledged incident's alert
// until it resolves.
//
// Both run in a loop rather than in the request that acknowledged or
// resolved: Alertmanager may be down, and the loop tries again until the
// store says the work is done.
package amsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"time"

	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	amclient "github.com/prometheus/alertmanager/api/v2/client"
	"github.com/prometheus/alertmanager/api/v2/client/alert"
	"github.com/prometheus/alertmanager/api/v2/client/silence"
	"github.com/prometheus/alertmanager/api/v2/models"

	"github.com/hotel-ops/hotel-ops/webhook/payload"
	"github.com/hotel-ops/hotel-ops/webhook/store"
)

// Store is what the reconciler reads and records: store.Store.
type Store interface {
	UnsettledAfter(ctx context.Context, after string, limit int) ([]store.Incident, error)
	SetSilence(ctx context.Context, id, silenceID string, now time.Time) error
}

// Receiver closes incidents as a resolved delivery would:
// *escalate.Engine, so that the resolve wakes its scheduler and counts in
// its metrics like one from Alertmanager.
type Receiver interface {
	Receive(ctx context.Context, d *payload.Delivery) (store.Received, error)
}

// Syncer compares the store with the Alertmanagers of an HA cluster.
type Syncer struct {
	Store    Store
	Receiver Receiver
	Now      func() time.Time // default time.Now
	Peers    []*amclient.AlertmanagerAPI
	// Interval between passes; Grace is how long an incident must be open
	// before its absence from Alertmanager closes it (a delivery can come
	// before the alert is visible on every peer).
	Interval, Grace time.Duration
	// SilenceFor, when non-zero, silences acknowledged incidents' alerts;
	// the silence is expired as soon as the incident resolves, and lasts at
	// most this long.
	SilenceFor time.Duration
	Logger     *slog.Logger

	wakeOnce sync.Once // Wake comes from the engine's goroutines, as Run starts
	wake     chan struct{}
}

// Client builds an API client for one Alertmanager URL; hc carries its
// authentication (nil: http.DefaultClient).
func Client(raw string, hc *http.Client) (*amclient.AlertmanagerAPI, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("alertmanager URL %q: want http(s)://host:port", raw)
	}
	cfg := amclient.DefaultTransportConfig().WithHost(u.Host).WithSchemes([]string{u.Scheme}).
		WithBasePath(u.Path + "/api/v2/")
	if hc == nil {
		hc = http.DefaultClient
	}
	return amclient.New(httptransport.NewWithClient(cfg.Host, cfg.BasePath, cfg.Schemes, hc), strfmt.Default), nil
}

// Wake asks for a pass now (after an acknowledgement).
func (s *Syncer) Wake() {
	select {
	case s.wakeCh() <- struct{}{}:
	default:
	}
}

func (s *Syncer) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

func (s *Syncer) wakeCh() chan struct{} {
	s.wakeOnce.Do(func() { s.wake = make(chan struct{}, 1) })
	return s.wake
}

// Run makes a pass every Interval until ctx ends.
func (s *Syncer) Run(ctx context.Context) {
	wake := s.wakeCh()
	for {
		if _, err := s.Once(ctx); err != nil && ctx.Err() == nil {
			s.Logger.Warn("reconciling with Alertmanager", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-time.After(s.Interval):
		}
	}
}

// Result is what a pass did.
type Result struct {
	Closed, Silenced, Unsilenced int
}

// page is how many incidents a pass reads at a time (a variable for tests
// to page through a few).
var page = 1000

// Once makes one pass over every unsettled incident, a page at a time.
func (s *Syncer) Once(ctx context.Context) (Result, error) {
	var res Result
	var errs []error
	// Alertmanager's view is read once, before the incidents. An incident
	// opened after it was read is younger than now, so within Grace, and
	// cannot be closed for missing from a view that predates it.
	now := s.now()
	active, err := s.active(ctx)
	if err != nil {
		// Without Alertmanager's view nothing is closed: an outage of
		// Alertmanager must not look like every alert resolving.
		errs = append(errs, err)
	}
	for after := ""; ; {
		list, err := s.Store.UnsettledAfter(ctx, after, page)
		if err != nil {
			return res, errors.Join(append(errs, fmt.Errorf("listing incidents: %w", err))...)
		}
		for i := range list {
			if err := s.settle(ctx, &list[i], active, now, &res); err != nil {
				errs = append(errs, err)
			}
		}
		if len(list) < page {
			return res, errors.Join(errs...)
		}
		after = list[len(list)-1].ID
	}
}

// settle does what one incident needs: its silence made or expired, and
// it closed when Alertmanager (active, nil when unread) no longer has its
// alert.
func (s *Syncer) settle(ctx context.Context, inc *store.Incident, active map[string]bool, now time.Time, res *Result) error {
	if s.SilenceFor > 0 {
		switch {
		case inc.Status == store.Acknowledged && inc.SilenceID == "":
			if err := s.silence(ctx, inc); err != nil {
				return err
			}
			res.Silenced++
		case inc.Status == store.Resolved && inc.Silenced():
			if err := s.unsilence(ctx, inc); err != nil {
				return err
			}
			res.Unsilenced++
		}
	}
	if active == nil || inc.Status == store.Resolved || now.Sub(inc.OpenedAt) < s.Grace || active[inc.ID] {
		return nil
	}
	d := &payload.Delivery{
		GroupKey: "escalator reconciler: not active in Alertmanager",
		Alerts: []payload.Alert{{Status: "resolved", Fingerprint: inc.Fingerprint, StartsAt: inc.StartsAt,
			EndsAt: now, Labels: inc.Labels, Annotations: inc.Annotations}},
		Hash: store.ReconcilerHashPrefix + inc.ID,
	}
	r, err := s.Receiver.Receive(ctx, d)
	if err != nil {
		return fmt.Errorf("closing %s: %w", inc.ID, err)
	}
	res.Closed += r.Resolved
	return nil
}

// active is the incidents Alertmanager still has (firing, silenced or
// inhibited), by incident ID, from every peer that answers; an error
// when none does.
func (s *Syncer) active(ctx context.Context) (map[string]bool, error) {
	out := map[string]bool{}
	var errs []error
	answered := 0
	for _, p := range s.Peers {
		ok, err := p.Alert.GetAlerts(alert.NewGetAlertsParamsWithContext(ctx))
		if err != nil {
			errs = append(errs, fmt.Errorf("reading alerts: %w", err))
			continue
		}
		answered++
		for _, a := range ok.Payload {
			if a.Fingerprint == nil || a.StartsAt == nil {
				continue
			}
			out[payload.IncidentID(*a.Fingerprint, time.Time(*a.StartsAt))] = true
		}
	}
	if answered == 0 {
		return nil, errors.Join(append(errs, errors.New("no Alertmanager answered"))...)
	}
	return out, nil
}

// silence creates a silence matching the incident's labels exactly and
// records its ID, so that it is created once.
func (s *Syncer) silence(ctx context.Context, inc *store.Incident) error {
	names := make([]string, 0, len(inc.Labels))
	for k := range inc.Labels {
		names = append(names, k)
	}
	sort.Strings(names)
	var matchers models.Matchers
	for _, k := range names {
		name, value, no := k, inc.Labels[k], false
		matchers = append(matchers, &models.Matcher{Name: &name, Value: &value, IsRegex: &no})
	}
	now := s.now()
	start, end := strfmt.DateTime(now), strfmt.DateTime(now.Add(s.SilenceFor))
	by := "escalator"
	comment := fmt.Sprintf("incident %s acknowledged by %s; expired by escalator when it resolves", inc.ID, inc.AckedBy)
	params := silence.NewPostSilencesParamsWithContext(ctx).WithSilence(&models.PostableSilence{Silence: models.Silence{
		Matchers: matchers, StartsAt: &start, EndsAt: &end, CreatedBy: &by, Comment: &comment}})
	var lastErr error
	for _, p := range s.Peers { // peers gossip silences: one is enough
		ok, err := p.Silence.PostSilences(params)
		if err != nil {
			lastErr = err
			continue
		}
		err = s.Store.SetSilence(ctx, inc.ID, ok.Payload.SilenceID, now)
		if errors.Is(err, store.ErrSilenceTaken) {
			// Another replica silenced it first: ours goes.
			return s.expire(ctx, ok.Payload.SilenceID)
		}
		return err
	}
	return fmt.Errorf("silencing %s: %w", inc.ID, lastErr)
}

// unsilence expires a resolved incident's silence.
func (s *Syncer) unsilence(ctx context.Context, inc *store.Incident) error {
	if err := s.expire(ctx, inc.SilenceID); err != nil {
		return fmt.Errorf("expiring the silence of %s: %w", inc.ID, err)
	}
	return s.Store.SetSilence(ctx, inc.ID, store.SilenceExpired, s.now())
}

// expire expires a silence on the first peer that answers (peers gossip
// silences); one already gone is expired.
func (s *Syncer) expire(ctx context.Context, id string) error {
	var lastErr error
	for _, p := range s.Peers {
		_, err := p.Silence.DeleteSilence(silence.NewDeleteSilenceParamsWithContext(ctx).WithSilenceID(strfmt.UUID(id)))
		var notFound *silence.DeleteSilenceNotFound
		if err != nil && !errors.As(err, &notFound) {
			lastErr = err
			continue
		}
		return nil
	}
	return lastErr
}
