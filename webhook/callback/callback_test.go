package callback

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/hotel-ops/hotel-ops/internal/yamlconf"
)

func TestConfigValidate(t *testing.T) {
	for _, c := range []struct {
		yaml string
		want []string // each in the error; none: valid
	}{
		{`{}`, nil},
		{`{slack: {signing_secret_file: /s}, pagerduty: {secret_env: PD}}`, nil},
		{`{slack: {}}`, []string{"callbacks.slack.signing_secret_file: set one of signing_secret_file and signing_secret_env"}},
		{`{slack: {signing_secret_file: /s, signing_secret_env: S}}`, []string{"callbacks.slack.signing_secret_file: set one of"}},
		{`{pagerduty: {}}`, []string{"callbacks.pagerduty.secret_file: set one of secret_file and secret_env"}},
	} {
		var cfg Config
		if err := yaml.Unmarshal([]byte(c.yaml), &cfg); err != nil {
			t.Fatal(err)
		}
		err := cfg.Validate("callbacks")
		if len(c.want) == 0 {
			if err != nil {
				t.Errorf("%s: %v", c.yaml, err)
			}
			continue
		}
		var fe *yamlconf.FieldError
		if err == nil || !errors.As(err, &fe) {
			t.Errorf("%s: want a *yamlconf.FieldError, got %v", c.yaml, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", c.yaml, err, w)
			}
		}
	}
}

// Secrets are read once, at start-up: a missing one fails New, naming
// where it was looked for and nothing of any secret.
func TestNewReadsSecrets(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Slack: &SlackConfig{SigningSecretFile: missing}}, "callbacks.slack: signing secret: reading secret: open " + missing},
		{Config{PagerDuty: &PagerDutyConfig{SecretEnv: "CALLBACK_TEST_UNSET"}}, "callbacks.pagerduty: secret: environment variable CALLBACK_TEST_UNSET is unset or empty"},
		{Config{PagerDuty: &PagerDutyConfig{SecretFile: writeFile(t, "\n")}}, "is empty"},
	} {
		_, err := New(c.cfg, nil, nil, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want %q", err, c.want)
		}
	}
	t.Setenv("CALLBACK_TEST_SLACK", slackSecret)
	s, err := New(Config{Slack: &SlackConfig{SigningSecretEnv: "CALLBACK_TEST_SLACK"}}, nil, nil, nil)
	if err != nil || len(s.Paths()) != 1 {
		t.Fatalf("%v %v", s, err)
	}
}
