package testenv

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"net"
	"net/mail"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is one mail SMTPRecorder accepted.
type Message struct {
	Time     time.Time // when the DATA ended
	From     string    // MAIL FROM
	To       []string  // RCPT TO, in order
	Data     []byte    // the message as sent: headers and body
	Header   mail.Header
	Subject  string // the Subject header, RFC 2047 words decoded
	AuthUser string // who authenticated with AUTH PLAIN, "" for nobody
}

func (m Message) clone() Message {
	m.To = append([]string(nil), m.To...)
	m.Data = append([]byte(nil), m.Data...)
	if m.Header != nil {
		h := make(mail.Header, len(m.Header))
		for k, v := range m.Header {
			h[k] = append([]string(nil), v...)
		}
		m.Header = h
	}
	return m
}

// SMTPRecorder is a real SMTP server on 127.0.0.1, without TLS, that
// keeps every message it accepts. It takes mail without authentication
// (Alertmanager's email config then needs `smtp_require_tls: false`)
// unless RequireAuth is called.
type SMTPRecorder struct {
	Addr string // 127.0.0.1:port, a smarthost

	msgs journal[Message]
	srv  *smtp.Server
	done chan struct{}

	mu         sync.Mutex
	user, pass string
	stopped    bool
}

// StartSMTPRecorder starts a recorder stopped by the test's Cleanup.
func StartSMTPRecorder(t TB) *SMTPRecorder {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listening on loopback: %v", err)
		return nil
	}
	r := &SMTPRecorder{Addr: l.Addr().String(), done: make(chan struct{})}
	r.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &smtpSession{r: r}, nil
	}))
	r.srv.Domain = "smtp-recorder.test"
	r.srv.ReadTimeout = 30 * time.Second
	r.srv.WriteTimeout = 30 * time.Second
	r.srv.MaxMessageBytes = 10 << 20
	// There is no TLS on loopback; AUTH is offered (when required)
	// anyway. Go's net/smtp PlainAuth allows that only for localhost.
	r.srv.AllowInsecureAuth = true
	go func() {
		defer close(r.done)
		_ = r.srv.Serve(l)
	}()
	t.Cleanup(r.Stop)
	return r
}

// RequireAuth makes the server offer AUTH PLAIN and refuse mail from
// sessions that did not authenticate as username and password.
func (r *SMTPRecorder) RequireAuth(username, password string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.user, r.pass = username, password
}

func (r *SMTPRecorder) credentials() (string, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.user, r.pass
}

// Stop closes the server: later connections are refused, as by a relay
// that is down.
func (r *SMTPRecorder) Stop() {
	r.mu.Lock()
	stopped := r.stopped
	r.stopped = true
	r.mu.Unlock()
	if stopped {
		return
	}
	_ = r.srv.Close()
	<-r.done
}

// Messages is a copy of every message accepted since the start or Reset.
func (r *SMTPRecorder) Messages() []Message {
	all := r.msgs.all()
	for i := range all {
		all[i] = all[i].clone()
	}
	return all
}

// WaitFor returns the first accepted message that pred accepts, waiting
// for one to arrive until ctx ends; pred nil accepts any.
func (r *SMTPRecorder) WaitFor(ctx context.Context, pred func(Message) bool) (Message, error) {
	m, err := r.msgs.waitFor(ctx, func(x Message) bool { return pred == nil || pred(x.clone()) })
	if err != nil {
		return Message{}, fmt.Errorf("SMTPRecorder %s: %w", r.Addr, err)
	}
	return m.clone(), nil
}

// Reset forgets the recorded messages.
func (r *SMTPRecorder) Reset() { r.msgs.reset() }

// smtpSession is one SMTP connection.
type smtpSession struct {
	r        *SMTPRecorder
	authUser string
	from     string
	to       []string
}

var _ smtp.AuthSession = (*smtpSession)(nil)

func (s *smtpSession) AuthMechanisms() []string {
	if user, _ := s.r.credentials(); user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *smtpSession) Auth(mech string) (sasl.Server, error) {
	user, pass := s.r.credentials()
	if user == "" || mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != user || password != pass || (identity != "" && identity != username) {
			return smtp.ErrAuthFailed
		}
		s.authUser = username
		return nil
	}), nil
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if user, _ := s.r.credentials(); user != "" && s.authUser == "" {
		return smtp.ErrAuthRequired
	}
	s.from, s.to = from, nil
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := Message{Time: time.Now(), From: s.from, To: append([]string(nil), s.to...), Data: data, AuthUser: s.authUser}
	if parsed, err := mail.ReadMessage(bytes.NewReader(data)); err == nil {
		m.Header = parsed.Header
		m.Subject = parsed.Header.Get("Subject")
		if dec, err := new(mime.WordDecoder).DecodeHeader(m.Subject); err == nil {
			m.Subject = dec
		}
	}
	s.r.msgs.add(m)
	return nil
}

func (s *smtpSession) Reset()        { s.from, s.to = "", nil }
func (s *smtpSession) Logout() error { return nil }
