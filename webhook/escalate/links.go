package escalate

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strconv"
	"time"
)

// Links signs acknowledgement links: whoever holds a notification can
// acknowledge its incident until the link expires, without an account.
type Links struct {
	Base   string // escalator's external URL
	Secret []byte
	TTL    time.Duration
}

// AckURL is the signed link for an incident, valid for TTL from now.
func (l *Links) AckURL(id string, now time.Time) string {
	exp := strconv.FormatInt(now.Add(l.TTL).Unix(), 10)
	q := url.Values{"id": {id}, "exp": {exp}, "sig": {l.sign(id, exp)}}
	return l.Base + "/ack?" + q.Encode()
}

func (l *Links) sign(id, exp string) string {
	m := hmac.New(sha256.New, l.Secret)
	m.Write([]byte(id + "\x00" + exp))
	return hex.EncodeToString(m.Sum(nil))
}

// ApproveURL is the signed link that approves the incident's waiting run
// of action, valid for TTL from now. Its signature covers another text
// than an acknowledgement link's, so neither serves as the other.
func (l *Links) ApproveURL(id, action string, now time.Time) string {
	exp := strconv.FormatInt(now.Add(l.TTL).Unix(), 10)
	q := url.Values{"id": {id}, "action": {action}, "exp": {exp}, "sig": {l.sign(approveSubject(id, action), exp)}}
	return l.Base + "/approve?" + q.Encode()
}

// VerifyApprove checks an approval link's signature and expiry.
func (l *Links) VerifyApprove(id, action, exp, sig string, now time.Time) bool {
	return l.Verify(approveSubject(id, action), exp, sig, now)
}

func approveSubject(id, action string) string { return "approve\x00" + id + "\x00" + action }

// Verify checks a link's signature and expiry.
func (l *Links) Verify(id, exp, sig string, now time.Time) bool {
	t, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || now.Unix() > t {
		return false
	}
	want := l.sign(id, exp)
	return hmac.Equal([]byte(want), []byte(sig))
}
