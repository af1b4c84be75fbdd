package notify

import (
	"net/http"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/hotel-ops/hotel-ops/internal/yamlconf"
)

// DefaultTimeout bounds one attempt of a channel whose timeout is not set.
const DefaultTimeout = 10 * time.Second

// ChannelConfig is one channel of the escalator's configuration: the mapping
// under channels.<name>, flat whatever the type, as users write it. The
// caller decodes it strictly (unknown keys rejected); Validate checks it.
//
// This struct is only the union of the types' keys that the YAML decodes
// into (and that mixin fills to generate escalator.yml). What each type
// reads, its checks and its constructor are in that type's file:
// slack_config.go, email_config.go, pagerduty_config.go and
// webhook_config.go, each with its own configuration struct.
//
// Secrets are never inline: each is a file (mounted secret) or an
// environment variable, so the configuration can be committed and logged.
type ChannelConfig struct {
	Type string `yaml:"type"` // slack | email | pagerduty | webhook

	// slack: slackConfig
	WebhookURLFile string `yaml:"webhook_url_file,omitempty"`
	WebhookURLEnv  string `yaml:"webhook_url_env,omitempty"`

	// email: emailConfig
	Smarthost    string   `yaml:"smarthost,omitempty"`
	From         string   `yaml:"from,omitempty"`
	To           []string `yaml:"to,omitempty"`
	Username     string   `yaml:"username,omitempty"`
	PasswordFile string   `yaml:"password_file,omitempty"`
	PasswordEnv  string   `yaml:"password_env,omitempty"`
	RequireTLS   *bool    `yaml:"require_tls,omitempty"`
	CAFile       string   `yaml:"ca_file,omitempty"`

	// pagerduty: pagerDutyConfig
	RoutingKeyFile string `yaml:"routing_key_file,omitempty"`
	RoutingKeyEnv  string `yaml:"routing_key_env,omitempty"`

	// pagerduty (default DefaultPagerDutyURL) and webhook (required)
	URL string `yaml:"url,omitempty"`

	// webhook: webhookConfig
	BearerTokenFile string `yaml:"bearer_token_file,omitempty"`
	BearerTokenEnv  string `yaml:"bearer_token_env,omitempty"`

	// Timeout bounds one attempt, connection included (default 10s). Every
	// type has it.
	Timeout model.Duration `yaml:"timeout,omitempty"`
}

func (c ChannelConfig) timeout() time.Duration {
	if c.Timeout <= 0 {
		return DefaultTimeout
	}
	return time.Duration(c.Timeout)
}

// typeConfig is a type's own configuration struct, taken out of a
// ChannelConfig by that type's file.
type typeConfig interface {
	validate(v *checker)
}

// channelType is what a type's file declares: its name, the keys it reads
// and how it checks and builds a channel.
type channelType struct {
	name string
	// keys are the yaml keys of its configuration struct: the keys of
	// channels.<name> the type reads, besides type and timeout.
	keys     []string
	validate func(c ChannelConfig, v *checker)
	build    func(name string, c ChannelConfig, client *http.Client, timeout time.Duration) (Notifier, error)
}

// newChannelType ties a type's configuration struct T, cut out of a
// ChannelConfig by from, to its constructor. The keys come from T's yaml
// tags, so a key added to T is one the type accepts.
func newChannelType[T typeConfig](name string, from func(ChannelConfig) T, build func(name string, c T, client *http.Client, timeout time.Duration) (Notifier, error)) channelType {
	var zero T
	return channelType{
		name:     name,
		keys:     yamlKeys(reflect.TypeOf(zero)),
		validate: func(c ChannelConfig, v *checker) { from(c).validate(v) },
		build: func(name string, c ChannelConfig, client *http.Client, timeout time.Duration) (Notifier, error) {
			return build(name, from(c), client, timeout)
		},
	}
}

// channelTypes lists the types, in the order errors name them.
var channelTypes = []channelType{slackType, emailType, pagerDutyType, webhookType}

func lookupType(name string) (channelType, bool) {
	i := slices.IndexFunc(channelTypes, func(t channelType) bool { return t.name == name })
	if i < 0 {
		return channelType{}, false
	}
	return channelTypes[i], true
}

// yamlKeys lists the yaml keys of struct type t's fields, in order.
func yamlKeys(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		if k := yamlKey(t.Field(i)); k != "" {
			keys = append(keys, k)
		}
	}
	return keys
}

func yamlKey(f reflect.StructField) string {
	k, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if k == "-" {
		return ""
	}
	return k
}

// setKeys lists the keys of c that hold a value besides type and timeout,
// in declaration order.
func (c ChannelConfig) setKeys() []string {
	return slices.DeleteFunc(yamlconf.SetKeys(c), func(k string) bool { return k == "type" || k == "timeout" })
}

// checker collects the problems of one channel (yamlconf.Checker), with
// the checks channel types share.
type checker struct{ yamlconf.Checker }

// httpURL checks an endpoint URL key.
func (v *checker) httpURL(key, u string) {
	if msg := checkHTTPURL(u); msg != "" {
		v.Field(key, "%s", msg)
	}
}

// Validate checks c, with path the dotted location of the channel in the
// configuration (e.g. "channels.slack"). Each problem is a
// *yamlconf.FieldError naming the field, joined with errors.Join, so the
// loader can point at the line. Secrets are not read here: see New.
func (c ChannelConfig) Validate(path string) error {
	v := &checker{yamlconf.Checker{Path: path, Type: c.Type}}
	t, known := lookupType(c.Type)
	switch {
	case known:
		// A key set for a type that ignores it is an error: it is most
		// likely a channel of another type pasted or mistyped, and would
		// otherwise be silently dropped.
		for _, k := range c.setKeys() {
			if !slices.Contains(t.keys, k) {
				v.Field(k, "not used by type %s", c.Type)
			}
		}
	case c.Type == "":
		v.Field("type", "required: one of %s", typeNames())
	default:
		v.Field("type", "must be one of %s, got %q", typeNames(), c.Type)
	}
	if c.Timeout < 0 {
		v.Field("timeout", "must not be negative")
	}
	if known {
		t.validate(c, v)
	}
	return v.Err()
}

func typeNames() string {
	names := make([]string, len(channelTypes))
	for i, t := range channelTypes {
		names[i] = t.name
	}
	return strings.Join(names, ", ")
}

// checkHTTPURL returns what is wrong with an endpoint URL, "" if nothing
// (a webhook URL read from a secret goes through here too).
func checkHTTPURL(s string) string { return yamlconf.HTTPURLProblem(s) }
