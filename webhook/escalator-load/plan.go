package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"sort"
	"time"

	"github.com/prometheus/alertmanager/notify/webhook"
	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/common/model"

	"github.com/hotel-ops/hotel-ops/webhook/payload"
)

// The storm's shape. A fault fires a group of alerts at once (one
// startsAt shared by the whole first delivery). Alertmanager sends the
// group again one group interval later, grown by alerts that joined
// since (they share a later startsAt; the first ones are repeats), and
// once more another interval later with every alert resolved. A
// fraction of the faults flap: their group resolves right after it
// fired, so that with two peers and their skew a resolved copy often
// reaches escalator before a firing one.

// alertDef is one alert occurrence over a group's life.
type alertDef struct {
	labels      template.KV
	annotations template.KV
	fingerprint string
	startsAt    time.Time
	incident    string // escalator's incident ID for it (payload.IncidentID)
	critical    bool   // the generated policy escalates it
	flapping    bool
}

// group is one fault's alert group.
type group struct {
	n        int
	key      string
	labels   template.KV
	severity string
	flapping bool
	wave1    []*alertDef // fired together
	wave2    []*alertDef // joined at the re-send
	stage    int         // the next delivery: stageGrow or stageResolve
	due      time.Duration
	lastDone []chan struct{} // by peer: closed when its latest copy was answered
}

const (
	stageFire = iota
	stageGrow
	stageResolve
)

var stageNames = [...]string{"fire", "grow", "resolve"}

// alertInst is an alert as one delivery carries it.
type alertInst struct {
	def      *alertDef
	resolved bool
	endsAt   time.Time
}

// delivery is one webhook message of a group, before it is copied for
// each Alertmanager peer.
type delivery struct {
	seq    int
	group  *group
	stage  int
	at     time.Duration // due, from the start of the run
	wall   time.Time     // the same on the wall clock
	alerts []alertInst
}

// firing counts the delivery's firing alerts.
func (d *delivery) firing() int {
	n := 0
	for _, a := range d.alerts {
		if !a.resolved {
			n++
		}
	}
	return n
}

// generator makes the storm's deliveries in the order they are due.
type generator struct {
	run      string    // random, so that runs against one store never collide
	start    time.Time // the wall time of offset 0
	alerts   int       // alerts a fault fires at once
	grow     int       // alerts that join at the re-send
	interval time.Duration
	flapping float64 // fraction of faults that resolve at once
	critical float64 // fraction of faults the policy escalates
	rng      *rand.Rand

	groups int
	seq    int
	queue  []*group // re-sends and resolves, in order of due
	urgent []*group // flapping groups' resolves, next
}

func newGenerator(start time.Time, alerts, grow int, interval time.Duration, flapping, critical float64, seed uint64) *generator {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return &generator{
		run: fmt.Sprintf("%06x", rng.Uint32()&0xffffff), start: start,
		alerts: alerts, grow: grow, interval: interval, flapping: flapping, critical: critical, rng: rng,
	}
}

// next is the delivery due at offset at: a flapping group's resolve
// first, then any re-send or resolve that has come due, else a new fault.
func (g *generator) next(at time.Duration) *delivery {
	g.seq++
	d := &delivery{seq: g.seq, at: at, wall: g.start.Add(at)}
	switch {
	case len(g.urgent) > 0:
		gr := g.urgent[0]
		g.urgent = g.urgent[1:]
		d.group, d.stage = gr, stageResolve
		d.alerts = resolvedAll(gr, d.wall)
	case len(g.queue) > 0 && g.queue[0].due <= at:
		gr := g.queue[0]
		g.queue = g.queue[1:]
		d.group, d.stage = gr, gr.stage
		if gr.stage == stageGrow {
			gr.wave2 = g.makeAlerts(gr, len(gr.wave1), g.grow, d.wall)
			for _, a := range append(append([]*alertDef(nil), gr.wave1...), gr.wave2...) {
				d.alerts = append(d.alerts, alertInst{def: a})
			}
			gr.stage, gr.due = stageResolve, at+g.interval
			g.queue = append(g.queue, gr)
		} else {
			d.alerts = resolvedAll(gr, d.wall)
		}
	default:
		g.groups++
		gr := &group{n: g.groups, flapping: g.rng.Float64() < g.flapping}
		fault := fmt.Sprintf("%s-%d", g.run, gr.n)
		gr.labels = template.KV{"alertname": "StormFault", "fault": fault}
		gr.severity = "warning"
		if g.rng.Float64() < g.critical {
			gr.severity = "critical"
		}
		gr.key = fmt.Sprintf(`{}/{severity=~"critical|warning"}:{alertname="StormFault", fault=%q}`, fault)
		gr.wave1 = g.makeAlerts(gr, 0, g.alerts, d.wall)
		d.group, d.stage = gr, stageFire
		for _, a := range gr.wave1 {
			d.alerts = append(d.alerts, alertInst{def: a})
		}
		if gr.flapping {
			g.urgent = append(g.urgent, gr)
		} else {
			gr.stage, gr.due = stageGrow, at+g.interval
			g.queue = append(g.queue, gr)
		}
	}
	return d
}

// makeAlerts makes n alerts of the group, numbered from first, starting
// together at starts.
func (g *generator) makeAlerts(gr *group, first, n int, starts time.Time) []*alertDef {
	out := make([]*alertDef, 0, n)
	for i := first; i < first+n; i++ {
		instance := fmt.Sprintf("host-%d-%d:9100", gr.n, i)
		a := &alertDef{
			labels: template.KV{
				"alertname": "StormFault", "fault": gr.labels["fault"], "severity": gr.severity,
				"instance": instance, "job": "node", "load_run": g.run,
			},
			annotations: template.KV{
				"summary":     instance + " is down",
				"description": "escalator-load storm fault " + gr.labels["fault"],
			},
			startsAt: starts.UTC(),
			critical: gr.severity == "critical",
			flapping: gr.flapping,
		}
		fingerprint(a)
		out = append(out, a)
	}
	return out
}

// fingerprint sets the alert's fingerprint as Alertmanager computes it
// (its label set's, 16 hex digits) and escalator's incident ID for it.
func fingerprint(a *alertDef) {
	ls := model.LabelSet{}
	for k, v := range a.labels {
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	a.fingerprint = ls.Fingerprint().String()
	a.incident = payload.IncidentID(a.fingerprint, a.startsAt)
}

func resolvedAll(gr *group, at time.Time) []alertInst {
	var out []alertInst
	for _, a := range append(append([]*alertDef(nil), gr.wave1...), gr.wave2...) {
		out = append(out, alertInst{def: a, resolved: true, endsAt: at.UTC()})
	}
	return out
}

// peerURL is the external URL of Alertmanager peer i: the peers of an
// HA pair send the same groups with their own URLs.
func peerURL(i int) string { return fmt.Sprintf("http://alertmanager-%d.example:9093", i) }

// body is the delivery as Alertmanager peer `peer` posts it (webhook
// payload version 4).
func (d *delivery) body(peer int) ([]byte, error) {
	data := &template.Data{
		Receiver:    "escalator",
		Status:      "resolved",
		GroupLabels: d.group.labels,
		ExternalURL: peerURL(peer),
	}
	var labels, annotations []template.KV
	for _, a := range d.alerts {
		ta := template.Alert{
			Status:       "firing",
			Labels:       a.def.labels,
			Annotations:  a.def.annotations,
			StartsAt:     a.def.startsAt,
			GeneratorURL: "http://prometheus.example:9090/graph?g0.expr=" + url.QueryEscape(`up{job="node"} == 0`) + "&g0.tab=1",
			Fingerprint:  a.def.fingerprint,
		}
		if a.resolved {
			ta.Status, ta.EndsAt = "resolved", a.endsAt
		} else {
			data.Status = "firing"
		}
		data.Alerts = append(data.Alerts, ta)
		labels, annotations = append(labels, a.def.labels), append(annotations, a.def.annotations)
	}
	data.CommonLabels, data.CommonAnnotations = common(labels), common(annotations)
	return json.Marshal(&webhook.Message{Data: data, Version: "4", GroupKey: d.group.key, TruncatedAlerts: 0})
}

// common is what every set holds alike, as Alertmanager's commonLabels.
func common(sets []template.KV) template.KV {
	out := template.KV{}
	if len(sets) == 0 {
		return out
	}
	keys := make([]string, 0, len(sets[0]))
	for k := range sets[0] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, same := sets[0][k], true
		for _, s := range sets[1:] {
			if w, ok := s[k]; !ok || w != v {
				same = false
				break
			}
		}
		if same {
			out[k] = v
		}
	}
	return out
}
