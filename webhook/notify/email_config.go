package notify

import (
	"net"
	"net/http"
	"net/mail"
	"strconv"
	"time"
)

// emailConfig is an email channel's part of channels.<name>.
type emailConfig struct {
	Smarthost    string   `yaml:"smarthost"` // host:port of the relay
	From         string   `yaml:"from"`
	To           []string `yaml:"to"`
	Username     string   `yaml:"username"` // AUTH PLAIN when set
	PasswordFile string   `yaml:"password_file"`
	PasswordEnv  string   `yaml:"password_env"`
	// RequireTLS (default true) refuses to send when the relay does not
	// offer STARTTLS: incident details and credentials stay off the wire.
	RequireTLS *bool `yaml:"require_tls"`
	// CAFile, when set, is the only trust for the relay's certificate (a
	// private CA or a self-signed relay); otherwise the system roots.
	CAFile string `yaml:"ca_file"`
}

var emailType = newChannelType("email", ChannelConfig.email, func(name string, c emailConfig, _ *http.Client, timeout time.Duration) (Notifier, error) {
	return newEmail(name, c, timeout)
})

func (c ChannelConfig) email() emailConfig {
	return emailConfig{Smarthost: c.Smarthost, From: c.From, To: c.To, Username: c.Username,
		PasswordFile: c.PasswordFile, PasswordEnv: c.PasswordEnv, RequireTLS: c.RequireTLS, CAFile: c.CAFile}
}

func (c emailConfig) requireTLS() bool { return c.RequireTLS == nil || *c.RequireTLS }

func (c emailConfig) validate(v *checker) {
	if c.Smarthost == "" {
		v.Field("smarthost", "required for type email")
	} else if host, port, err := net.SplitHostPort(c.Smarthost); err != nil || host == "" || port == "" {
		v.Field("smarthost", "must be host:port, got %q", c.Smarthost)
	}
	if c.From == "" {
		v.Field("from", "required for type email")
	} else if _, err := mail.ParseAddress(c.From); err != nil {
		v.Field("from", "not an email address: %v", err)
	}
	if len(c.To) == 0 {
		v.Field("to", "required for type email: at least one address")
	}
	for i, to := range c.To {
		if _, err := mail.ParseAddress(to); err != nil {
			v.Field("to."+strconv.Itoa(i), "not an email address: %v", err)
		}
	}
	v.Secret("password", c.PasswordFile, c.PasswordEnv, false)
	hasPassword := c.PasswordFile != "" || c.PasswordEnv != ""
	if c.Username != "" && !hasPassword {
		v.Field("password_file", "required when username is set (or password_env)")
	}
	if c.Username == "" && hasPassword {
		v.Field("username", "required when a password is set")
	}
	if c.Username != "" && !c.requireTLS() {
		// net/smtp's PLAIN refuses to send a password in clear to
		// anything but localhost anyway; say so at load time.
		v.Field("require_tls", "must not be false when username is set: the password would cross the network in clear")
	}
}
