package amsync

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	amclient "github.com/prometheus/alertmanager/api/v2/client"
	"go.yaml.in/yaml/v3"

	"github.com/hotel-ops/hotel-ops/internal/testenv"
	"github.com/hotel-ops/hotel-ops/webhook/escalate"
	"github.com/hotel-ops/hotel-ops/webhook/payload"
	"github.com/hotel-ops/hotel-ops/webhook/policy"
	"github.com/hotel-ops/hotel-ops/webhook/store"
)

var ctx = context.Background()

const amConfig = "route: {receiver: nowhere}\nreceivers: [{name: nowhere}]\n"

func engine(t *testing.T) *escalate.Engine {
	st, err := store.OpenEmbedded(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var pol policy.File
	yaml.Unmarshal([]byte("policies:\n  - {name: p, matchers: ['severity=\"critical\"'], steps: [{after: 1h, notify: [x]}]}\n"), &pol)
	if err := pol.Validate(map[string]bool{"x": true}, nil); err != nil {
		t.Fatal(err)
	}
	return &escalate.Engine{Store: st, Policies: &pol}
}

// fire posts an alert to Alertmanager (ends: "" keeps it firing) and
// returns its fingerprint and start as Alertmanager reports them.
func fire(t *testing.T, am *testenv.Alertmanager, name, ends string) (string, time.Time) {
	t.Helper()
	body := fmt.Sprintf(`[{"labels":{"alertname":%q,"severity":"critical"},"startsAt":"2026-11-28T00:00:00Z"%s}]`, name, ends)
	resp, err := http.Post(am.URL+"/api/v2/alerts", "application/json", strings.NewReader(body))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("posting an alert: %v %v", err, resp)
	}
	resp.Body.Close()
	resp, err = http.Get(am.URL + "/api/v2/alerts?filter=alertname%3D%22" + name + "%22")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var alerts []struct {
		Fingerprint string
		StartsAt    time.Time
	}
	json.NewDecoder(resp.Body).Decode(&alerts)
	if len(alerts) != 1 {
		return "", time.Time{}
	}
	return alerts[0].Fingerprint, alerts[0].StartsAt
}

// open makes escalator's incident for an alert, as Alertmanager's webhook
// would have.
func open(t *testing.T, e *escalate.Engine, name, fp string, startsAt time.Time) string {
	t.Helper()
	d, err := payload.Parse(strings.NewReader(fmt.Sprintf(`{"version":"4","groupKey":"g-%s","status":"firing","alerts":[{"status":"firing",
"labels":{"alertname":%q,"severity":"critical"},"annotations":{},"startsAt":%q,"fingerprint":%q}]}`, name, name, startsAt.Format(time.RFC3339Nano), fp)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Receive(ctx, d); err != nil {
		t.Fatal(err)
	}
	return payload.IncidentID(fp, startsAt)
}

func peer(t *testing.T, url string) *amclient.AlertmanagerAPI {
	c, err := Client(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// syncer reconciles e's store with the Alertmanager at url, silencing
// acknowledged alerts for silenceFor (0: not).
func syncer(t *testing.T, e *escalate.Engine, url string, silenceFor time.Duration) *Syncer {
	return &Syncer{Store: e.Store, Receiver: e, Peers: []*amclient.AlertmanagerAPI{peer(t, url)}, SilenceFor: silenceFor}
}

func status(t *testing.T, e *escalate.Engine, id string) *store.Incident {
	inc, err := e.Store.Incident(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return inc
}

// An incident whose resolve never arrived is closed once Alertmanager no
// longer has its alert; one still active stays open; with Alertmanager
// unreachable nothing is closed.
func TestReconcileClosesMissedResolves(t *testing.T) {
	am := testenv.StartAlertmanager(t, amConfig)
	e := engine(t)
	fp, starts := fire(t, am, "StillFiring", "")
	active := open(t, e, "StillFiring", fp, starts)
	gone := open(t, e, "LostResolve", "0123456789abcdef", time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC))

	down := syncer(t, e, fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t)), 0)
	if _, err := down.Once(ctx); err == nil || status(t, e, gone).Status != store.Open {
		t.Fatalf("with Alertmanager down: err %v, incident %s", err, status(t, e, gone).Status)
	}

	s := syncer(t, e, am.URL, 0)
	res, err := s.Once(ctx)
	if err != nil || res.Closed != 1 {
		t.Fatalf("first pass: %+v %v", res, err)
	}
	if status(t, e, gone).Status != store.Resolved || status(t, e, active).Status != store.Open {
		t.Errorf("after a pass: lost %s, active %s", status(t, e, gone).Status, status(t, e, active).Status)
	}
	if _, err := s.Once(ctx); err != nil {
		t.Fatal(err)
	}
	if status(t, e, active).Status != store.Open {
		t.Error("an active alert's incident was closed")
	}
	fire(t, am, "StillFiring", fmt.Sprintf(`,"endsAt":%q`, time.Now().UTC().Add(-time.Second).Format(time.RFC3339)))
	if res, _ := s.Once(ctx); res.Closed != 1 || status(t, e, active).Status != store.Resolved {
		t.Errorf("after Alertmanager resolved it: %+v, %s", res, status(t, e, active).Status)
	}
	audit, _ := e.Store.Audit(ctx, "", 100)
	var noted bool
	for _, a := range audit {
		noted = noted || strings.Contains(a.Detail, "not active in Alertmanager")
	}
	if !noted {
		t.Error("the audit log does not say why the incident closed")
	}
}

// A pass reads every unsettled incident, a page at a time: with pages of
// three, all ten lost resolves close in one pass and the active one stays.
func TestReconcilePagesThroughAll(t *testing.T) {
	am := testenv.StartAlertmanager(t, amConfig)
	e := engine(t)
	defer func(n int) { page = n }(page)
	page = 3
	fp, starts := fire(t, am, "StillFiring", "")
	active := open(t, e, "StillFiring", fp, starts)
	var lost []string
	for i := 0; i < 10; i++ {
		lost = append(lost, open(t, e, fmt.Sprint("Lost", i), fmt.Sprintf("%016x", i), time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)))
	}
	s := syncer(t, e, am.URL, 0)
	res, err := s.Once(ctx)
	if err != nil || res.Closed != 10 {
		t.Fatalf("one pass: %+v %v", res, err)
	}
	for _, id := range lost {
		if st := status(t, e, id).Status; st != store.Resolved {
			t.Errorf("%s is %s", id, st)
		}
	}
	if status(t, e, active).Status != store.Open {
		t.Error("the active alert's incident was closed")
	}
}

// Acknowledging silences the alert in Alertmanager; the resolve expires
// the silence.
func TestSilenceUntilResolved(t *testing.T) {
	am := testenv.StartAlertmanager(t, amConfig)
	e := engine(t)
	fp, starts := fire(t, am, "Acked", "")
	id := open(t, e, "Acked", fp, starts)
	s := syncer(t, e, am.URL, time.Hour)
	if _, err := e.Ack(ctx, id, "api"); err != nil {
		t.Fatal(err)
	}
	if res, err := s.Once(ctx); err != nil || res.Silenced != 1 {
		t.Fatalf("silencing: %+v %v", res, err)
	}
	silenceID := status(t, e, id).SilenceID
	if state := silenceState(t, am, silenceID); state != "active" {
		t.Fatalf("silence %s is %q", silenceID, state)
	}
	if res, _ := s.Once(ctx); res.Silenced != 0 {
		t.Error("silenced twice")
	}
	fire(t, am, "Acked", fmt.Sprintf(`,"endsAt":%q`, time.Now().UTC().Add(-time.Second).Format(time.RFC3339)))
	if res, err := s.Once(ctx); err != nil || res.Closed != 1 {
		t.Fatalf("closing: %+v %v", res, err)
	}
	if res, err := s.Once(ctx); err != nil || res.Unsilenced != 1 {
		t.Fatalf("unsilencing: %+v %v", res, err)
	}
	if state := silenceState(t, am, silenceID); state != "expired" {
		t.Errorf("silence after the resolve: %q", state)
	}
}

func silenceState(t *testing.T, am *testenv.Alertmanager, id string) string {
	resp, err := http.Get(am.URL + "/api/v2/silence/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s struct{ Status struct{ State string } }
	json.NewDecoder(resp.Body).Decode(&s)
	return s.Status.State
}

// Two replicas' reconcilers both silencing one acknowledgement (each read
// it unsilenced) leave one silence: the one recorded second expires its
// own instead of leaving it in Alertmanager.
func TestSilenceOnceAcrossReplicas(t *testing.T) {
	am := testenv.StartAlertmanager(t, amConfig)
	e := engine(t)
	fp, starts := fire(t, am, "AckedTwice", "")
	id := open(t, e, "AckedTwice", fp, starts)
	if _, err := e.Ack(ctx, id, "api"); err != nil {
		t.Fatal(err)
	}
	stale := status(t, e, id) // as both replicas read it
	for range 2 {
		s := syncer(t, e, am.URL, time.Hour)
		if err := s.silence(ctx, stale); err != nil {
			t.Fatal(err)
		}
	}
	kept := status(t, e, id).SilenceID
	resp, err := http.Get(am.URL + "/api/v2/silences")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var all []struct {
		ID     string
		Status struct{ State string }
	}
	json.NewDecoder(resp.Body).Decode(&all)
	var active []string
	for _, s := range all {
		if s.Status.State == "active" {
			active = append(active, s.ID)
		}
	}
	if len(all) != 2 || len(active) != 1 || active[0] != kept {
		t.Errorf("silences %+v, want two made and one active, the recorded %s", all, kept)
	}
}
