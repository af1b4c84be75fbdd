package alertmanager

import "go.yaml.in/yaml/v3"

// The subset of alertmanager.yml this package writes. Field order is
// output order: the essentials of each entry first.

type amConfig struct {
	Global        global         `yaml:"global"`
	Route         *route         `yaml:"route"`
	InhibitRules  []inhibitRule  `yaml:"inhibit_rules,omitempty"`
	Receivers     []receiver     `yaml:"receivers"`
	TimeIntervals []timeInterval `yaml:"time_intervals,omitempty"`
}

type global struct {
	SMTPSmarthost        string `yaml:"smtp_smarthost"`
	SMTPFrom             string `yaml:"smtp_from"`
	SMTPAuthUsername     string `yaml:"smtp_auth_username,omitempty"`
	SMTPAuthPasswordFile string `yaml:"smtp_auth_password_file,omitempty"`
	SMTPRequireTLS       bool   `yaml:"smtp_require_tls"`
}

type route struct {
	comment string // written above the route

	Receiver          string   `yaml:"receiver,omitempty"`
	Matchers          []string `yaml:"matchers,omitempty"`
	MuteTimeIntervals []string `yaml:"mute_time_intervals,flow,omitempty"`
	Continue          bool     `yaml:"continue,omitempty"`
	GroupBy           []string `yaml:"group_by,flow,omitempty"`
	GroupWait         string   `yaml:"group_wait,omitempty"`
	GroupInterval     string   `yaml:"group_interval,omitempty"`
	RepeatInterval    string   `yaml:"repeat_interval,omitempty"`
	Routes            []*route `yaml:"routes,omitempty"`
}

// MarshalYAML writes the route with its comment above it. Child routes
// are added as nodes, not encoded with the parent: yaml.v3 encodes a
// value into a node by printing and re-parsing it, which drops the
// comments of nested nodes.
func (r route) MarshalYAML() (any, error) {
	type plain route
	p := plain(r)
	p.Routes = nil
	n, err := withComment(p, r.comment)
	if err != nil || len(r.Routes) == 0 {
		return n, err
	}
	seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	for _, c := range r.Routes {
		cn, err := c.MarshalYAML()
		if err != nil {
			return nil, err
		}
		seq.Content = append(seq.Content, cn.(*yaml.Node))
	}
	n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "routes"}, seq)
	return n, nil
}

type inhibitRule struct {
	comment string

	SourceMatchers []string `yaml:"source_matchers"`
	TargetMatchers []string `yaml:"target_matchers"`
	Equal          []string `yaml:"equal,flow"`
}

// MarshalYAML writes the rule with its comment above it. (Alertmanager
// 0.35 has a name field for this, but older releases such as Debian's
// reject it.)
func (r inhibitRule) MarshalYAML() (any, error) {
	type plain inhibitRule
	return withComment(plain(r), r.comment)
}

type receiver struct {
	Name             string            `yaml:"name"`
	PagerdutyConfigs []pagerdutyConfig `yaml:"pagerduty_configs,omitempty"`
	SlackConfigs     []slackConfig     `yaml:"slack_configs,omitempty"`
	EmailConfigs     []emailConfig     `yaml:"email_configs,omitempty"`
	WebhookConfigs   []webhookConfig   `yaml:"webhook_configs,omitempty"`
}

type pagerdutyConfig struct {
	RoutingKeyFile string `yaml:"routing_key_file"`
	URL            string `yaml:"url,omitempty"`
}

type slackConfig struct {
	Channel      string `yaml:"channel"`
	APIURLFile   string `yaml:"api_url_file"`
	SendResolved bool   `yaml:"send_resolved"`
}

type emailConfig struct {
	To string `yaml:"to"`
}

type webhookConfig struct {
	URL          string      `yaml:"url"`
	SendResolved bool        `yaml:"send_resolved"`
	MaxAlerts    int         `yaml:"max_alerts"`
	HTTPConfig   *httpConfig `yaml:"http_config,omitempty"`
}

type httpConfig struct {
	Authorization authorization `yaml:"authorization"`
}

type authorization struct {
	CredentialsFile string `yaml:"credentials_file"`
}

type timeInterval struct {
	Name          string     `yaml:"name"`
	TimeIntervals []timeSpec `yaml:"time_intervals"`
}

type timeSpec struct {
	Times       []timeRange `yaml:"times"`
	Weekdays    []string    `yaml:"weekdays,flow,omitempty"`
	DaysOfMonth []string    `yaml:"days_of_month,flow,omitempty"`
	Months      []string    `yaml:"months,flow,omitempty"`
	Location    string      `yaml:"location"`
}

type timeRange struct {
	StartTime string `yaml:"start_time"`
	EndTime   string `yaml:"end_time"`
}

// withComment encodes v as a node carrying comment above it.
func withComment(v any, comment string) (*yaml.Node, error) {
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		return nil, err
	}
	n.HeadComment = comment
	return &n, nil
}
