package notify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// email sends a text/plain message through an SMTP relay. Recipients come
// only from the configuration: nothing in a Message can add one, which is
// why headers are written from fixed names and encoded values and why the
// envelope is built from the configured list, not from the headers.
type email struct {
	name       string
	smarthost  string
	host       string // smarthost without the port: TLS server name, AUTH host
	hello      string
	from       *mail.Address
	to         []*mail.Address
	username   string
	password   string
	requireTLS bool
	tls        *tls.Config
	timeout    time.Duration
	secrets    redactor
}

func newEmail(name string, c emailConfig, timeout time.Duration) (Notifier, error) {
	e := &email{
		name:       name,
		smarthost:  c.Smarthost,
		username:   c.Username,
		requireTLS: c.requireTLS(),
		timeout:    timeout,
		hello:      helloName(),
	}
	e.host, _, _ = net.SplitHostPort(c.Smarthost) // Validate checked the form
	var err error
	if e.from, err = mail.ParseAddress(c.From); err != nil {
		return nil, fmt.Errorf("notify %s: from: %w", name, err)
	}
	for _, s := range c.To {
		a, err := mail.ParseAddress(s)
		if err != nil {
			return nil, fmt.Errorf("notify %s: to: %w", name, err)
		}
		e.to = append(e.to, a)
	}
	if c.Username != "" {
		if e.password, err = readSecret(c.PasswordFile, c.PasswordEnv); err != nil {
			return nil, fmt.Errorf("notify %s: password: %w", name, err)
		}
		// A relay that echoes the AUTH PLAIN response back in an error
		// would leak the password base64-encoded; redact that form too.
		plain := base64.StdEncoding.EncodeToString([]byte("\x00" + c.Username + "\x00" + e.password))
		e.secrets = redactor{e.password, plain}
	}
	e.tls = &tls.Config{ServerName: e.host, MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("notify %s: ca_file: %w", name, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("notify %s: ca_file %s: no PEM certificate found", name, c.CAFile)
		}
		e.tls.RootCAs = pool
	}
	return e, nil
}

// helloName is the name given in EHLO. Some relays refuse "localhost" (what
// net/smtp says by default), so the host name is used when it looks like one.
func helloName() string {
	h, err := os.Hostname()
	if err != nil || h == "" || len(h) > 253 {
		return "localhost"
	}
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return "localhost"
		}
	}
	return h
}

// Send delivers the message once. An SMTP 5xx reply, a missing STARTTLS
// while TLS is required and an untrusted certificate are permanent; a
// dropped connection or a 4xx reply is worth another attempt.
func (e *email) Send(ctx context.Context, m Message) error {
	if err := checkMessage(m); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	err := e.deliver(ctx, e.render(m, time.Now()))
	if err == nil {
		return nil
	}
	perm := IsPermanent(err)
	var tpErr *textproto.Error
	if errors.As(err, &tpErr) && tpErr.Code >= 500 {
		perm = true
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		// Closing the connection on cancellation surfaces as an I/O
		// error; say why it happened.
		err = fmt.Errorf("%w (%v)", ctxErr, err)
		perm = false
	}
	err = fmt.Errorf("notify %s: smtp %s: %w", e.name, e.smarthost, err)
	if perm {
		err = &PermanentError{Err: err}
	}
	return e.secrets.error(err)
}

func (e *email) deliver(ctx context.Context, msg []byte) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", e.smarthost)
	if err != nil {
		return err
	}
	defer conn.Close()
	// net/smtp takes no context. When ctx ends (the attempt's timeout or
	// the caller's cancellation) a deadline in the past wakes any blocked
	// read or write. Only ctx drives it, not a copy of its deadline on the
	// connection, so by the time I/O fails ctx.Err() says why.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	c, err := smtp.NewClient(conn, e.host)
	if err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	defer c.Close()
	if err := c.Hello(e.hello); err != nil {
		return fmt.Errorf("EHLO: %w", err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(e.tls.Clone()); err != nil {
			err = fmt.Errorf("STARTTLS: %w", err)
			if certProblem(err) {
				// Retrying cannot make the certificate trusted.
				return &PermanentError{Err: err}
			}
			return err
		}
	} else if e.requireTLS {
		// Retrying would only meet the same relay (or the same
		// downgrade); the relay or require_tls has to change.
		return &PermanentError{Err: errors.New("relay does not offer STARTTLS and require_tls is on")}
	}
	if e.username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return &PermanentError{Err: errors.New("relay does not offer AUTH but a username is configured")}
		}
		// PlainAuth also refuses to send the password over a
		// connection without TLS to anything but localhost.
		if err := c.Auth(smtp.PlainAuth("", e.username, e.password, e.host)); err != nil {
			return fmt.Errorf("AUTH: %w", err)
		}
	}
	if err := c.Mail(e.from.Address); err != nil {
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	for _, to := range e.to {
		if err := c.Rcpt(to.Address); err != nil {
			return fmt.Errorf("RCPT TO: %w", err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	// The relay has accepted the message. A failed QUIT must not turn
	// into a retry, which would deliver it twice.
	_ = c.Quit()
	return nil
}

func certProblem(err error) bool {
	var (
		unknown  x509.UnknownAuthorityError
		invalid  x509.CertificateInvalidError
		hostname x509.HostnameError
		verify   *tls.CertificateVerificationError
	)
	return errors.As(err, &unknown) || errors.As(err, &invalid) || errors.As(err, &hostname) || errors.As(err, &verify)
}

// subjectRunes bounds the Subject: mail clients show a line of it.
const subjectRunes = 200

// render builds the RFC 5322 message. Every header value that carries
// message data is reduced to one line and RFC 2047-encoded when not plain
// ASCII, so a "\r\nBcc: x@y" in a summary stays inside the Subject.
func (e *email) render(m Message, now time.Time) []byte {
	var b bytes.Buffer
	header := func(name, value string) {
		b.WriteString(name)
		b.WriteString(": ")
		b.WriteString(value)
		b.WriteString("\r\n")
	}
	to := make([]string, len(e.to))
	for i, a := range e.to {
		to[i] = a.String()
	}
	header("From", e.from.String())
	header("To", strings.Join(to, ", "))
	header("Subject", encodeHeader(truncate(title(m), subjectRunes)))
	header("Date", now.Format(time.RFC1123Z))
	// The same key gives the same Message-ID on every retry and after a
	// restart, so a relay or mailbox that dedups on it drops repeats.
	header("Message-ID", messageID(m.Key, e.from.Address))
	header("X-Escalator-Key", encodeHeader(m.Key))
	if m.Incident != "" {
		// Only a Report may have none (checkMessage).
		header("X-Escalator-Incident", encodeHeader(m.Incident))
	}
	header("X-Escalator-Event", string(m.Event))
	// RFC 3834: vacation responders must not answer a page.
	header("Auto-Submitted", "auto-generated")
	header("MIME-Version", "1.0")
	header("Content-Type", mime.FormatMediaType("text/plain", map[string]string{"charset": "utf-8"}))
	// Quoted-printable keeps any line length and any UTF-8 text within
	// what every relay passes (7-bit, 76-column lines).
	header("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")

	qp := quotedprintable.NewWriter(&b)
	_, _ = qp.Write([]byte(emailBody(m)))
	_ = qp.Close()
	return b.Bytes()
}

// encodeHeader makes s safe as an unstructured header value: one line of
// text, RFC 2047 encoded-words when it is not plain printable ASCII.
//
// Go's encoder splits long text into encoded-words of at most 75 characters
// but puts them on one line; folding before each word keeps the header
// within the 998-octet line limit (white space between encoded-words is not
// part of the text, so the fold changes nothing once decoded). Text that
// needed no encoding is returned as is, and is short: callers truncate.
func encodeHeader(s string) string {
	enc := mime.QEncoding.Encode("utf-8", oneLine(s))
	if strings.HasPrefix(enc, "=?") {
		enc = strings.ReplaceAll(enc, "?= =?", "?=\r\n =?")
	}
	return enc
}

func messageID(key, from string) string {
	domain := "escalator.invalid"
	if i := strings.LastIndexByte(from, '@'); i >= 0 && i+1 < len(from) {
		domain = from[i+1:]
	}
	// The key holds characters a msg-id may not (spaces, "<", "@"), so a
	// digest of it stands in for it; X-Escalator-Key carries it readable.
	sum := sha256.Sum256([]byte(key))
	return "<" + hex.EncodeToString(sum[:16]) + "@" + domain + ">"
}

// emailBody is the plain-text body. The acknowledge link comes right after
// the headline, before any multi-line text from the alert, so a description
// cannot put a look-alike link above the real one. Label keys and values
// that contain control characters are quoted, so each label stays on its
// own line.
func emailBody(m Message) string {
	if m.Event == Report {
		return reportBody(m)
	}
	var b strings.Builder
	line := bodyLine(&b)
	line(title(m))
	line()
	if m.AckURL != "" {
		line("Acknowledge: ", oneLine(m.AckURL))
	}
	if m.ConsoleURL != "" {
		line("Console: ", oneLine(m.ConsoleURL))
	}
	for _, a := range m.Approvals {
		if a.URL != "" {
			line("Approve ", oneLine(a.Action), ": ", oneLine(a.URL))
		}
	}
	if m.AckURL != "" || m.ConsoleURL != "" || len(m.Approvals) > 0 {
		line()
	}
	line("Incident: ", quoteIfControl(m.Incident))
	line("Event: ", string(m.Event))
	line("Severity: ", quoteIfControl(m.Severity))
	line("Policy: ", quoteIfControl(m.Policy), " (step ", strconv.Itoa(m.Step), ")")
	if !m.StartsAt.IsZero() {
		line("Started: ", m.StartsAt.UTC().Format(time.RFC3339))
	}
	if note := truncatedNote(m.Truncated); note != "" {
		line(note, ".")
	}
	if d := strings.TrimSpace(m.Description); d != "" {
		line()
		line("Description:")
		line(multiLine(d))
	}
	infoParagraph(line, "Automation:", automationLines(m))
	infoParagraph(line, "Diagnostics:", diagnosticsLines(m))
	if len(m.Labels) > 0 {
		line()
		line("Labels:")
		for _, k := range sortedKeys(m.Labels) {
			line("  ", quoteIfControl(k), ": ", quoteIfControl(m.Labels[k]))
		}
	}
	return b.String()
}

// reportBody is a Report's plain-text body: its summary, its description
// and its diagnostics, and nothing of an incident (no links, fields or
// labels), whatever else m holds.
func reportBody(m Message) string {
	var b strings.Builder
	line := bodyLine(&b)
	line(title(m))
	if d := strings.TrimSpace(m.Description); d != "" {
		line()
		line(multiLine(d))
	}
	infoParagraph(line, "Diagnostics:", diagnosticsLines(m))
	return b.String()
}

// bodyLine returns a function that writes its parts to b as one line.
func bodyLine(b *strings.Builder) func(parts ...string) {
	return func(parts ...string) {
		for _, p := range parts {
			b.WriteString(p)
		}
		b.WriteString("\n")
	}
}

// infoParagraph writes automation or diagnostics lines as a paragraph
// headed heading, nothing when there are none. They quote labels: each
// line is indented and kept to one line, so none can pass for a line of the
// message such as "Acknowledge: …", within capLines' bounds.
func infoParagraph(line func(parts ...string), heading string, lines []string) {
	if len(lines) == 0 {
		return
	}
	line()
	line(heading)
	kept, more := capLines(lines, infoMaxBytes, func(l string) string { return "  " + oneLine(l) })
	for _, l := range kept {
		line(l)
	}
	if more > 0 {
		line("  ", moreNote(more))
	}
}

func quoteIfControl(s string) string {
	if strings.ContainsFunc(s, unicode.IsControl) {
		return strconv.Quote(s)
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// multiLine keeps the line breaks of free text but no other control
// character, normalised to "\n" (the quoted-printable writer emits CRLF).
func multiLine(s string) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\r\n", "\n")
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n', r == '\t':
			return r
		case unicode.IsControl(r):
			return ' '
		}
		return r
	}, s)
}
