package notify

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hotel-ops/hotel-ops/internal/yamlconf"
)

// Every key of ChannelConfig but type and timeout belongs to a type, each
// type's keys are keys of ChannelConfig, and each type's struct is filled
// from ChannelConfig whole: a key added on one side only, or a field its
// file forgets to copy, fails here rather than being dropped silently.
func TestChannelTypesCoverChannelConfig(t *testing.T) {
	all := yamlKeys(reflect.TypeOf(ChannelConfig{}))
	used := map[string]bool{"type": true, "timeout": true}
	for _, ct := range channelTypes {
		for _, k := range ct.keys {
			if !slices.Contains(all, k) {
				t.Errorf("type %s reads %q, which ChannelConfig lacks", ct.name, k)
			}
			used[k] = true
		}
	}
	for _, k := range all {
		if !used[k] {
			t.Errorf("ChannelConfig key %q belongs to no type", k)
		}
	}

	// Every field set: each type's struct must come out with no zero
	// field.
	var full ChannelConfig
	v := reflect.ValueOf(&full).Elem()
	yes := true
	for i := range v.NumField() {
		switch f := v.Field(i); f.Kind() {
		case reflect.String:
			f.SetString("x")
		case reflect.Slice:
			f.Set(reflect.ValueOf([]string{"x"}))
		case reflect.Pointer:
			f.Set(reflect.ValueOf(&yes))
		case reflect.Int64:
			f.SetInt(1)
		default:
			t.Fatalf("field %s of kind %s: extend this test", v.Type().Field(i).Name, f.Kind())
		}
	}
	for name, typed := range map[string]any{"slack": full.slack(), "email": full.email(), "pagerduty": full.pagerDuty(), "webhook": full.webhook()} {
		tv := reflect.ValueOf(typed)
		for i := range tv.NumField() {
			if tv.Field(i).IsZero() {
				t.Errorf("type %s: %s is not copied from ChannelConfig", name, tv.Type().Field(i).Name)
			}
		}
		ct, ok := lookupType(name)
		if !ok || !slices.Equal(ct.keys, yamlKeys(tv.Type())) {
			t.Errorf("type %s: keys %v", name, ct.keys)
		}
	}
}

// The file users write is unchanged by the split: the same keys, and the
// same errors at the same lines and paths.
func TestChannelErrorsInTheFile(t *testing.T) {
	src := `channels:
  chat:
    type: slack
    webhook_url_env: SLACK_URL
    smarthost: relay:25
    to: []
  pd:
    type: pagerduty
    routing_key_file: /k
    url: ftp://pd
    bearer_token_env: T
  hook:
    type: webhook
  mail:
    type: email
    smarthost: relay:587
    from: a@example.org
    to: [b@example.org, nope]
    webhook_url_file: /u
  odd:
    type: sms
`
	err := yamlconf.Parse("esc.yml", []byte(src), &validated{})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"esc.yml:5: channels.chat.smarthost: not used by type slack",
		"esc.yml:10: channels.pd.url: must be an http or https URL",
		"esc.yml:11: channels.pd.bearer_token_env: not used by type pagerduty",
		"channels.hook.url: required for type webhook",
		"channels.mail.to.1: not an email address",
		"esc.yml:19: channels.mail.webhook_url_file: not used by type email",
		`esc.yml:21: channels.odd.type: must be one of slack, email, pagerduty, webhook, got "sms"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	// An empty list is no value: "to: []" on a slack channel is not an
	// error, as before.
	if strings.Contains(err.Error(), "channels.chat.to") {
		t.Errorf("empty to reported:\n%v", err)
	}
	// An unknown key is still refused by the strict decoder.
	err = yamlconf.Parse("esc.yml", []byte("channels:\n  chat:\n    type: slack\n    webhook_url_env: E\n    channel: '#ops'\n"), &validated{})
	if err == nil || !strings.Contains(err.Error(), "line 5: field channel not found") {
		t.Errorf("unknown key: got %v", err)
	}
}
