package alertmanager

import "github.com/hotel-ops/hotel-ops/mixin/spec"

// escalatorReceiver is the webhook of escalator, which opens incidents
// and runs the spec's timed escalations.
const escalatorReceiver = "escalator"

// escalatorRoute sends every alert to escalator and lets the routes after
// it pick the people (continue: true). It is first, so no route before it
// can stop an alert from reaching escalator.
func escalatorRoute(s *spec.Spec, rs *receiverSet, groups []muteGroup) *route {
	wh := webhookConfig{
		URL: s.Delivery.EscalatorURL,
		// escalator closes incidents on resolution.
		SendResolved: true,
		// 0: every alert of a group, however many; escalator tracks each.
		MaxAlerts: 0,
	}
	if s.Delivery.EscalatorTokenFile != "" {
		wh.HTTPConfig = &httpConfig{Authorization: authorization{CredentialsFile: s.Delivery.EscalatorTokenFile}}
	}
	rs.add(receiver{Name: escalatorReceiver, WebhookConfigs: []webhookConfig{wh}})

	// Critical timing for every alert: escalations may start at once (the
	// spec has 0s steps), and escalator ignores repeated deliveries.
	r := &route{
		comment:        "escalator: every alert, then the routes below pick who is notified",
		Receiver:       escalatorReceiver,
		Continue:       true,
		GroupWait:      criticalTiming.wait,
		RepeatInterval: criticalTiming.repeat,
	}
	addMutes(s, r, labelSet{}, groups, nil)
	return r
}
