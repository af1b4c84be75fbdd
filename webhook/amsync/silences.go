package amsync

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/go-openapi/strfmt"
	amclient "github.com/prometheus/alertmanager/api/v2/client"
	"github.com/prometheus/alertmanager/api/v2/client/silence"
	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/prometheus/alertmanager/pkg/labels"
)

// Cluster reads and writes the silences of an Alertmanager cluster whose
// peers gossip them: a read merges every peer that answers, a write goes
// to the first peer that answers (the others learn it by gossip).
type Cluster struct {
	URLs  []string // in the order they are tried
	peers []*amclient.AlertmanagerAPI
}

// NewCluster builds clients for the peers' URLs; hc carries their
// authentication (nil: http.DefaultClient).
func NewCluster(urls []string, hc *http.Client) (*Cluster, error) {
	if len(urls) == 0 {
		return nil, errors.New("no Alertmanager URL")
	}
	c := &Cluster{URLs: urls}
	for _, u := range urls {
		p, err := Client(u, hc)
		if err != nil {
			return nil, err
		}
		c.peers = append(c.peers, p)
	}
	return c, nil
}

// Silences is every silence the answering peers know (expired ones
// included), each in its latest version; an error when no peer answers.
func (c *Cluster) Silences(ctx context.Context) ([]*models.GettableSilence, error) {
	byID := map[string]*models.GettableSilence{}
	var errs []error
	answered := 0
	for i, p := range c.peers {
		ok, err := p.Silence.GetSilences(silence.NewGetSilencesParamsWithContext(ctx))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: reading silences: %w", c.URLs[i], err))
			continue
		}
		answered++
		for _, s := range ok.Payload {
			if s == nil || s.ID == nil {
				continue
			}
			if old := byID[*s.ID]; old == nil || updated(s).After(updated(old)) {
				byID[*s.ID] = s
			}
		}
	}
	if answered == 0 {
		return nil, errors.Join(append(errs, errors.New("no Alertmanager answered"))...)
	}
	out := make([]*models.GettableSilence, 0, len(byID))
	for _, s := range byID {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return *out[i].ID < *out[j].ID })
	return out, nil
}

func updated(s *models.GettableSilence) time.Time {
	if s.UpdatedAt == nil {
		return time.Time{}
	}
	return time.Time(*s.UpdatedAt)
}

// CreateSilence creates the silence on the first peer that answers and
// returns its ID and that peer's URL. A silence the peer refuses as
// invalid is not offered to the next.
func (c *Cluster) CreateSilence(ctx context.Context, s *models.PostableSilence) (id, url string, err error) {
	var errs []error
	for i, p := range c.peers {
		ok, err := p.Silence.PostSilences(silence.NewPostSilencesParamsWithContext(ctx).WithSilence(s))
		var bad *silence.PostSilencesBadRequest
		if errors.As(err, &bad) {
			return "", c.URLs[i], fmt.Errorf("%s refused the silence: %s", c.URLs[i], bad.Payload)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.URLs[i], err))
			continue
		}
		return ok.Payload.SilenceID, c.URLs[i], nil
	}
	return "", "", errors.Join(append(errs, errors.New("no Alertmanager answered"))...)
}

// ExpireSilence expires a silence on the first peer that knows it and
// returns that peer's URL. A silence no answering peer knows is gone,
// which is no error.
func (c *Cluster) ExpireSilence(ctx context.Context, id string) (string, error) {
	var errs []error
	for i, p := range c.peers {
		_, err := p.Silence.DeleteSilence(silence.NewDeleteSilenceParamsWithContext(ctx).WithSilenceID(strfmt.UUID(id)))
		var notFound *silence.DeleteSilenceNotFound
		switch {
		case errors.As(err, &notFound):
			continue // not gossiped to this peer (yet): another may have it
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", c.URLs[i], err))
			continue
		}
		return c.URLs[i], nil
	}
	if len(errs) > 0 {
		return "", fmt.Errorf("expiring silence %s: %w", id, errors.Join(errs...))
	}
	return "", nil
}

// APIMatchers converts parsed matchers to the API's.
func APIMatchers(ms labels.Matchers) models.Matchers {
	out := make(models.Matchers, 0, len(ms))
	for _, m := range ms {
		name, value := m.Name, m.Value
		isRegex := m.Type == labels.MatchRegexp || m.Type == labels.MatchNotRegexp
		isEqual := m.Type == labels.MatchEqual || m.Type == labels.MatchRegexp
		out = append(out, &models.Matcher{Name: &name, Value: &value, IsRegex: &isRegex, IsEqual: &isEqual})
	}
	return out
}

// MatchersString renders the API's matchers in Alertmanager's matcher
// syntax, sorted, so that two silences with the same matchers in any
// order render the same.
func MatchersString(ms models.Matchers) string {
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		if m == nil || m.Name == nil || m.Value == nil {
			continue
		}
		regex := m.IsRegex != nil && *m.IsRegex
		equal := m.IsEqual == nil || *m.IsEqual // absent: equal (Alertmanager before 0.22)
		t := labels.MatchEqual
		switch {
		case regex && equal:
			t = labels.MatchRegexp
		case regex:
			t = labels.MatchNotRegexp
		case !equal:
			t = labels.MatchNotEqual
		}
		out = append(out, (&labels.Matcher{Type: t, Name: *m.Name, Value: *m.Value}).String())
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
