package alertmanager

import "github.com/hotel-ops/hotel-ops/mixin/spec"

// escalatorReceiver is the webhook of escalator, which opens incidents
// and runs the spec's timed escalations.
const escalatorReceiver = "escalator"

// escalatorRoute sends every alert the direct route leaves to escalator,
// which sends the first pages and the escalations.
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
		comment:        "escalator: every other alert; it pages the channels routing names, with an acknowledgement link, then escalates",
		Receiver:       escalatorReceiver,
		GroupWait:      criticalTiming.wait,
		RepeatInterval: criticalTiming.repeat,
	}
	addMutes(s, r, labelSet{}, groups, nil)
	return r
}
