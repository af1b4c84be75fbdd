package notify

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// smtpMail is one message as the test relay received it.
type smtpMail struct {
	From     string
	To       []string
	Data     []byte
	TLS      bool   // the message came over a STARTTLS-upgraded connection
	AuthUser string // who authenticated, "" for nobody
}

// smtpRelay is a real SMTP server on 127.0.0.1 that keeps what it receives.
type smtpRelay struct {
	addr       string
	user, pass string // required credentials; "" accepts mail without AUTH

	mu     sync.Mutex
	mails  []smtpMail
	mails0 int // MAIL commands seen, delivered or not
}

func (r *smtpRelay) received() []smtpMail {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.mails)
}

func (r *smtpRelay) mailCommands() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mails0
}

// startRelay starts the relay; with tlsConfig nil it offers no STARTTLS.
func startRelay(t *testing.T, tlsConfig *tls.Config, user, pass string) *smtpRelay {
	t.Helper()
	r := &smtpRelay{user: user, pass: pass}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &relaySession{relay: r, conn: c}, nil
	}))
	s.Domain = "relay.test"
	s.TLSConfig = tlsConfig
	s.ReadTimeout = 10 * time.Second
	s.WriteTimeout = 10 * time.Second
	// AllowInsecureAuth stays false: AUTH is offered only after STARTTLS.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = l.Addr().String()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(l)
	}()
	t.Cleanup(func() {
		_ = s.Close()
		<-done
	})
	return r
}

type relaySession struct {
	relay *smtpRelay
	conn  *smtp.Conn
	user  string
	from  string
	to    []string
}

func (s *relaySession) AuthMechanisms() []string {
	if s.relay.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *relaySession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.relay.user || pass != s.relay.pass {
			return smtp.ErrAuthFailed
		}
		s.user = user
		return nil
	}), nil
}

func (s *relaySession) Mail(from string, _ *smtp.MailOptions) error {
	s.relay.mu.Lock()
	s.relay.mails0++
	s.relay.mu.Unlock()
	if s.relay.user != "" && s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *relaySession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *relaySession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.relay.mu.Lock()
	s.relay.mails = append(s.relay.mails, smtpMail{From: s.from, To: s.to, Data: data, TLS: isTLS, AuthUser: s.user})
	s.relay.mu.Unlock()
	return nil
}

func (s *relaySession) Reset()        { s.from, s.to = "", nil }
func (s *relaySession) Logout() error { return nil }

// selfSigned makes a certificate for 127.0.0.1 that is its own CA, and
// writes it as PEM for ca_file.
func selfSigned(t *testing.T) (*tls.Config, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "notify test relay"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, caFile
}

var recipients = []string{"oncall@example.org", "Ops Team <ops@example.org>"}

func relayConfig(relay *smtpRelay, caFile string) ChannelConfig {
	return ChannelConfig{
		Type:      "email",
		Smarthost: relay.addr,
		From:      "Escalator <escalator@example.org>",
		To:        recipients,
		CAFile:    caFile,
		Timeout:   5e9,
	}
}

func TestEmailSTARTTLS(t *testing.T) {
	serverTLS, caFile := selfSigned(t)
	const password = "relay-pa55word"
	relay := startRelay(t, serverTLS, "escalator", password)
	cfg := relayConfig(relay, caFile)
	cfg.Username = "escalator"
	cfg.PasswordFile = writeSecret(t, password+"\n")
	n, err := New("mail", cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := hostileMessage()
	if err := n.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if err := n.Send(context.Background(), m); err != nil { // a retry of the same step
		t.Fatal(err)
	}
	mails := relay.received()
	if len(mails) != 2 {
		t.Fatalf("%d mails", len(mails))
	}
	got := mails[0]
	if !got.TLS || got.AuthUser != "escalator" {
		t.Errorf("TLS %v, user %q: want STARTTLS and AUTH", got.TLS, got.AuthUser)
	}
	// The envelope: exactly the configured recipients, whatever the
	// labels said.
	if got.From != "escalator@example.org" || !slices.Equal(got.To, []string{"oncall@example.org", "ops@example.org"}) {
		t.Errorf("envelope from %q to %q", got.From, got.To)
	}

	msg, err := mail.ReadMessage(bytes.NewReader(got.Data))
	if err != nil {
		t.Fatalf("not an RFC 5322 message: %v\n%s", err, got.Data)
	}
	// Headers: the expected set, no Bcc, recipients as configured.
	for name := range msg.Header {
		switch name {
		case "From", "To", "Subject", "Date", "Message-Id", "X-Escalator-Key", "X-Escalator-Incident",
			"X-Escalator-Event", "Auto-Submitted", "Mime-Version", "Content-Type", "Content-Transfer-Encoding":
		default:
			t.Errorf("unexpected header %s: %q", name, msg.Header[name])
		}
	}
	to, err := msg.Header.AddressList("To")
	if err != nil || len(to) != 2 || to[0].Address != "oncall@example.org" || to[1].Address != "ops@example.org" || to[1].Name != "Ops Team" {
		t.Errorf("To %v (%v)", to, err)
	}
	if _, err := msg.Header.AddressList("Cc"); err != mail.ErrHeaderNotPresent {
		t.Errorf("Cc: %v", err)
	}
	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || subject != "[CRITICAL] Disk full on db1  Bcc: evil@example.org" {
		t.Errorf("Subject %q (%v)", subject, err)
	}
	if k := msg.Header.Get("X-Escalator-Key"); k != m.Key {
		t.Errorf("X-Escalator-Key %q", k)
	}
	id := msg.Header.Get("Message-Id")
	if !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@example.org>") {
		t.Errorf("Message-ID %q", id)
	}
	again, _ := mail.ReadMessage(bytes.NewReader(mails[1].Data))
	if again.Header.Get("Message-Id") != id {
		t.Errorf("Message-ID changed between attempts: %q, %q", id, again.Header.Get("Message-Id"))
	}
	if mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type")); err != nil || mt != "text/plain" || params["charset"] != "utf-8" {
		t.Errorf("Content-Type %q", msg.Header.Get("Content-Type"))
	}
	if _, err := msg.Header.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}

	// No line of the raw message, headers or body, is an injected header.
	sc := bufio.NewScanner(bytes.NewReader(got.Data))
	for sc.Scan() {
		if strings.HasPrefix(strings.ToLower(sc.Text()), "bcc:") {
			t.Errorf("injected line %q", sc.Text())
		}
		if len(sc.Text()) > 998 {
			t.Errorf("line of %d octets", len(sc.Text()))
		}
	}

	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	text := string(body)
	for _, want := range []string{
		"Acknowledge: " + m.AckURL + "\r\n",
		"Console: " + m.ConsoleURL + "\r\n",
		"Incident: inc-42\r\n",
		"Policy: db-oncall (step 2)\r\n",
		"Started: 2025-03-01T12:00:00Z\r\n",
		"  inject: \"\\r\\nBcc: x@y\"\r\n",
		"  newline: \"a\\nb\\r\\nc\"\r\n",
		"  xss: <script>alert(\"x\")</script>\r\n",
		"Root volume above 95%.\r\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("body lacks %q:\n%s", want, text)
		}
	}
	// The real link comes before anything the description says.
	if strings.Index(text, "Acknowledge: "+m.AckURL) > strings.Index(text, "Acknowledge: https://evil.example") {
		t.Errorf("the description's link comes first:\n%s", text)
	}
}

func TestEmailPasswordFromEnvAndWrongPassword(t *testing.T) {
	serverTLS, caFile := selfSigned(t)
	relay := startRelay(t, serverTLS, "escalator", "right-password")
	cfg := relayConfig(relay, caFile)
	cfg.Username = "escalator"
	cfg.PasswordEnv = "NOTIFY_TEST_SMTP_PASSWORD"

	t.Setenv("NOTIFY_TEST_SMTP_PASSWORD", "right-password")
	n, err := New("mail", cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Send(context.Background(), hostileMessage()); err != nil {
		t.Fatal(err)
	}

	t.Setenv("NOTIFY_TEST_SMTP_PASSWORD", "wrong-password-S3CRET")
	n, err = New("mail", cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = fast(n, 3).Send(context.Background(), hostileMessage())
	// 535 is permanent: one attempt, and the password is nowhere.
	if !IsPermanent(err) || !strings.Contains(err.Error(), "535") {
		t.Errorf("got %v", err)
	}
	if strings.Contains(err.Error(), "wrong-password-S3CRET") {
		t.Errorf("error leaks the password: %v", err)
	}
	if got := len(relay.received()); got != 1 {
		t.Errorf("%d mails, want 1", got)
	}
}

func TestEmailRequireTLS(t *testing.T) {
	relay := startRelay(t, nil, "", "") // offers no STARTTLS
	_, caFile := selfSigned(t)
	n, err := New("mail", relayConfig(relay, caFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = fast(n, 3).Send(context.Background(), hostileMessage())
	if !IsPermanent(err) || !strings.Contains(err.Error(), "does not offer STARTTLS") {
		t.Errorf("got %v", err)
	}
	if relay.mailCommands() != 0 || len(relay.received()) != 0 {
		t.Error("a message started over a connection without TLS")
	}

	// Explicitly allowed: delivered in clear.
	no := false
	cfg := relayConfig(relay, "")
	cfg.RequireTLS = &no
	n, err = New("mail", cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Send(context.Background(), hostileMessage()); err != nil {
		t.Fatal(err)
	}
	if mails := relay.received(); len(mails) != 1 || mails[0].TLS {
		t.Errorf("mails %+v", mails)
	}
}

func TestEmailUntrustedCertificate(t *testing.T) {
	serverTLS, _ := selfSigned(t)
	_, otherCA := selfSigned(t)
	relay := startRelay(t, serverTLS, "", "")
	n, err := New("mail", relayConfig(relay, otherCA), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = fast(n, 3).Send(context.Background(), hostileMessage())
	if !IsPermanent(err) || !strings.Contains(err.Error(), "STARTTLS") || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("got %v", err)
	}
	if len(relay.received()) != 0 {
		t.Error("delivered over an untrusted connection")
	}
}

func TestEmailConnectionRefusedIsRetryable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	n, err := New("mail", ChannelConfig{Type: "email", Smarthost: addr, From: "a@example.org", To: []string{"b@example.org"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = n.Send(context.Background(), hostileMessage())
	if err == nil || IsPermanent(err) {
		t.Errorf("got %v, want a retryable error", err)
	}
}

// A relay that accepts the connection and then says nothing: the attempt
// ends at the channel's timeout, and cancellation ends it sooner.
func TestEmailTimeoutAndCancel(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		wg.Wait()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	cfg := ChannelConfig{Type: "email", Smarthost: l.Addr().String(), From: "a@example.org", To: []string{"b@example.org"}, Timeout: 2e8}
	n, err := New("mail", cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = n.Send(context.Background(), hostileMessage())
	if !errors.Is(err, context.DeadlineExceeded) || IsPermanent(err) || time.Since(start) > 3*time.Second {
		t.Errorf("got %v after %v", err, time.Since(start))
	}

	cfg.Timeout = 60e9
	n, _ = New("mail", cfg, nil)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start = time.Now()
	err = n.Send(ctx, hostileMessage())
	if !errors.Is(err, context.Canceled) || time.Since(start) > 3*time.Second {
		t.Errorf("got %v after %v", err, time.Since(start))
	}
}

func TestEmailRender(t *testing.T) {
	e := &email{from: &mail.Address{Name: "Eßcalator", Address: "esc@example.org"}, to: []*mail.Address{{Address: "a@example.org"}}}
	m := hostileMessage()
	m.Summary = strings.Repeat("ü", 2000) + "\nBcc: x@y"
	raw := e.render(m, time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	from, err := msg.Header.AddressList("From")
	if err != nil || from[0].Name != "Eßcalator" {
		t.Errorf("From %v %v", from, err)
	}
	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || strings.Contains(subject, "Bcc") || !strings.HasSuffix(subject, "…") {
		t.Errorf("Subject %q (%v)", subject, err)
	}
	for _, line := range strings.Split(string(raw), "\r\n") {
		if len(line) > 998 {
			t.Errorf("line of %d octets", len(line))
		}
	}
	if msg.Header.Get("Date") != "Sat, 01 Mar 2025 12:00:00 +0000" {
		t.Errorf("Date %q", msg.Header.Get("Date"))
	}
}
