package notify

// webhookConfig is a webhook channel's part of channels.<name>.
type webhookConfig struct {
	URL             string `yaml:"url"`
	BearerTokenFile string `yaml:"bearer_token_file"` // optional
	BearerTokenEnv  string `yaml:"bearer_token_env"`
}

var webhookType = newChannelType("webhook", ChannelConfig.webhook, newWebhook)

func (c ChannelConfig) webhook() webhookConfig {
	return webhookConfig{URL: c.URL, BearerTokenFile: c.BearerTokenFile, BearerTokenEnv: c.BearerTokenEnv}
}

func (c webhookConfig) validate(v *checker) {
	if c.URL == "" {
		v.Field("url", "required for type webhook")
	} else {
		v.httpURL("url", c.URL)
	}
	v.Secret("bearer_token", c.BearerTokenFile, c.BearerTokenEnv, false)
}
