package notify

// DefaultPagerDutyURL is the PagerDuty Events API v2 endpoint.
const DefaultPagerDutyURL = "https://events.pagerduty.com/v2/enqueue"

// pagerDutyConfig is a pagerduty channel's part of channels.<name>.
type pagerDutyConfig struct {
	RoutingKeyFile string `yaml:"routing_key_file"`
	RoutingKeyEnv  string `yaml:"routing_key_env"`
	URL            string `yaml:"url"` // default DefaultPagerDutyURL
}

var pagerDutyType = newChannelType("pagerduty", ChannelConfig.pagerDuty, newPagerDuty)

func (c ChannelConfig) pagerDuty() pagerDutyConfig {
	return pagerDutyConfig{RoutingKeyFile: c.RoutingKeyFile, RoutingKeyEnv: c.RoutingKeyEnv, URL: c.URL}
}

func (c pagerDutyConfig) validate(v *checker) {
	v.Secret("routing_key", c.RoutingKeyFile, c.RoutingKeyEnv, true)
	if c.URL != "" {
		v.httpURL("url", c.URL)
	}
}
