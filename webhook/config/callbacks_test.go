package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The callbacks section loads with the rest, and its errors point at the
// file's line.
func TestCallbacksSection(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, "escalator.yml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const head = "store: {path: /tmp/e.db}\nchannels:\n  s: {type: slack, webhook_url_env: SLACK_URL}\npolicies:\n  - {name: p, matchers: ['severity=\"critical\"'], steps: [{after: 0s, notify: [s]}]}\n"
	c, err := Load(write(head + "callbacks:\n  slack: {signing_secret_file: /etc/escalator/slack-signing-secret}\n  pagerduty: {secret_env: PD_WEBHOOK_SECRET}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Callbacks.Slack == nil || c.Callbacks.Slack.SigningSecretFile != "/etc/escalator/slack-signing-secret" ||
		c.Callbacks.PagerDuty == nil || c.Callbacks.PagerDuty.SecretEnv != "PD_WEBHOOK_SECRET" {
		t.Errorf("callbacks %+v", c.Callbacks)
	}
	if c, err := Load(write(head)); err != nil || c.Callbacks.Slack != nil || c.Callbacks.PagerDuty != nil {
		t.Errorf("without callbacks: %+v %v", c, err)
	}
	_, err = Load(write(head + "callbacks:\n  slack:\n    signing_secret_file: /a\n    signing_secret_env: B\n"))
	if err == nil || !strings.Contains(err.Error(), "escalator.yml:8: callbacks.slack.signing_secret_file: set one of signing_secret_file and signing_secret_env") {
		t.Errorf("both set: %v", err)
	}
	_, err = Load(write(head + "callbacks:\n  pagerduty: {secret: inline}\n"))
	if err == nil || !strings.Contains(err.Error(), "field secret not found") {
		t.Errorf("an inline secret: %v", err)
	}
}
