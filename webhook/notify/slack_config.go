package notify

// slackConfig is a slack channel's part of channels.<name>: the incoming
// webhook URL, which is itself the credential.
type slackConfig struct {
	WebhookURLFile string `yaml:"webhook_url_file"`
	WebhookURLEnv  string `yaml:"webhook_url_env"`
}

var slackType = newChannelType("slack", ChannelConfig.slack, newSlack)

func (c ChannelConfig) slack() slackConfig {
	return slackConfig{WebhookURLFile: c.WebhookURLFile, WebhookURLEnv: c.WebhookURLEnv}
}

func (c slackConfig) validate(v *checker) {
	v.Secret("webhook_url", c.WebhookURLFile, c.WebhookURLEnv, true)
}
