package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/smtp"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

func post(t *testing.T, c *http.Client, url, body string) (int, string) {
	t.Helper()
	resp, err := c.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A stalled receiver makes its client time out; the request is recorded
// anyway, and the stall does not hold up the test's Cleanup.
func TestHTTPRecorderStallMakesClientTimeOut(t *testing.T) {
	var rec *HTTPRecorder
	var cleanedUp time.Time
	t.Run("stalled", func(t *testing.T) {
		rec = StartHTTPRecorder(t)
		t.Cleanup(func() { cleanedUp = time.Now() })
		rec.Stall(time.Hour)
		client := &http.Client{Timeout: 300 * time.Millisecond}
		start := time.Now()
		_, err := client.Post(rec.URL+"/slack/T000/B000", "application/json", strings.NewReader(`{"text":"db down"}`))
		var nerr net.Error
		if err == nil || !errors.As(err, &nerr) || !nerr.Timeout() {
			t.Fatalf("want a client timeout, got %v", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("the timeout took %v", d)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		got, err := rec.WaitFor(ctx, func(r Request) bool { return r.Path == "/slack/T000/B000" })
		if err != nil {
			t.Fatal(err)
		}
		if got.Method != "POST" || string(got.Body) != `{"text":"db down"}` || got.Time.Before(start.Add(-time.Second)) ||
			got.Header.Get("Content-Type") != "application/json" {
			t.Errorf("recorded %+v", got)
		}
		// A second request stalls too while the first is still held.
		if _, err := client.Get(rec.URL + "/again"); err == nil {
			t.Errorf("the second request was answered during the stall")
		}
		// The stall lifted: answered at once, as a Slack webhook.
		rec.Stall(0)
		if code, body := post(t, http.DefaultClient, rec.URL+"/slack/T000/B000", `{}`); code != 200 || body != "ok" {
			t.Errorf("after the stall: %d %q", code, body)
		}
		rec.Stall(time.Hour)
		go func() { _, _ = http.Get(rec.URL + "/held-at-cleanup") }()
		if _, err := rec.WaitFor(ctx, func(r Request) bool { return r.Path == "/held-at-cleanup" }); err != nil {
			t.Fatal(err)
		}
	})
	if cleanedUp.IsZero() {
		t.Fatal("the subtest's cleanup did not run")
	}
	if d := time.Since(cleanedUp); d > 10*time.Second {
		t.Errorf("stopping a recorder with a stalled request took %v", d)
	}
	if _, err := http.Get(rec.URL + "/after-stop"); err == nil {
		t.Errorf("a stopped recorder answered")
	}
}

func TestHTTPRecorderAnswersAndFails(t *testing.T) {
	rec := StartHTTPRecorder(t)
	c := &http.Client{Timeout: 10 * time.Second}

	// PagerDuty Events API v2.
	code, body := post(t, c, rec.URL+"/v2/enqueue", `{"routing_key":"r","event_action":"trigger","dedup_key":"incident-7","payload":{"summary":"s","source":"db-1","severity":"critical"}}`)
	var pd struct {
		Status   string `json:"status"`
		Message  string `json:"message"`
		DedupKey string `json:"dedup_key"`
	}
	_ = json.Unmarshal([]byte(body), &pd)
	if code != http.StatusAccepted || pd.Status != "success" || pd.Message != "Event processed" || pd.DedupKey != "incident-7" {
		t.Errorf("PagerDuty answer: %d %s", code, body)
	}
	_, body = post(t, c, rec.URL+"/v2/enqueue", `{"routing_key":"r","event_action":"trigger"}`)
	if !regexp.MustCompile(`"dedup_key":"[0-9a-f]{32}"`).MatchString(body) {
		t.Errorf("PagerDuty answer without a dedup_key sent: %s", body)
	}

	// A generic webhook, with a query string.
	resp, err := c.Get(rec.URL + "/hook?a=1&a=2")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET: %s", resp.Status)
	}

	rec.FailWith(http.StatusServiceUnavailable)
	for i := 0; i < 2; i++ {
		if code, _ := post(t, c, rec.URL+"/v2/enqueue", `{}`); code != http.StatusServiceUnavailable {
			t.Errorf("FailWith(503): %d", code)
		}
	}
	rec.FailWith(0)
	if code, _ := post(t, c, rec.URL+"/hook", `{}`); code != 200 {
		t.Errorf("after FailWith(0): %d", code)
	}
	rec.FailNext(2, http.StatusTooManyRequests)
	var codes []int
	for i := 0; i < 3; i++ {
		code, _ := post(t, c, rec.URL+"/hook", `{}`)
		codes = append(codes, code)
	}
	if fmt.Sprint(codes) != "[429 429 200]" {
		t.Errorf("FailNext(2, 429): %v", codes)
	}

	big := bytes.Repeat([]byte("x"), MaxRecordedBody+10)
	resp, err = c.Post(rec.URL+"/big", "text/plain", bytes.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	reqs := rec.Requests()
	if len(reqs) != 10 {
		t.Fatalf("%d requests recorded, want 10", len(reqs))
	}
	if r := reqs[2]; r.Method != "GET" || r.Path != "/hook" || fmt.Sprint(r.Query["a"]) != "[1 2]" {
		t.Errorf("the GET: %+v", r)
	}
	if r := reqs[9]; !r.Truncated || len(r.Body) != MaxRecordedBody {
		t.Errorf("the big body: truncated %v, %d bytes", r.Truncated, len(r.Body))
	}
	reqs[0].Body[0] = '!' // a copy: the recorder's stays
	reqs[0].Header.Set("X-Changed", "1")
	if r := rec.Requests()[0]; r.Body[0] != '{' || r.Header.Get("X-Changed") != "" {
		t.Errorf("Requests is not a copy")
	}

	rec.Reset()
	if n := len(rec.Requests()); n != 0 {
		t.Errorf("%d requests after Reset", n)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if _, err := rec.WaitFor(ctx, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitFor after Reset: %v", err)
	}
	// WaitFor also sees requests that arrive while it waits.
	go func() {
		time.Sleep(100 * time.Millisecond)
		_, _ = http.Post(rec.URL+"/late", "text/plain", strings.NewReader("late"))
	}()
	ctx2, cancel2 := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel2()
	if r, err := rec.WaitFor(ctx2, func(r Request) bool { return r.Path == "/late" }); err != nil || string(r.Body) != "late" {
		t.Errorf("waiting for a later request: %+v, %v", r, err)
	}
}

const testMail = "From: Alertmanager <am@example.org>\r\n" +
	"To: oncall@example.org\r\n" +
	"Subject: =?UTF-8?q?Disk_full_=E2=80=94_db-1?=\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"\r\n" +
	"The disk of db-1 is full.\r\n"

func TestSMTPRecorderReceivesNetSMTP(t *testing.T) {
	rec := StartSMTPRecorder(t)
	to := []string{"oncall@example.org", "ops@example.org"}
	if err := smtp.SendMail(rec.Addr, nil, "am@example.org", to, []byte(testMail)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	m, err := rec.WaitFor(ctx, func(m Message) bool { return strings.HasPrefix(m.Subject, "Disk full") })
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Disk full — db-1" || m.From != "am@example.org" || strings.Join(m.To, ",") != strings.Join(to, ",") ||
		!bytes.Contains(m.Data, []byte("The disk of db-1 is full.")) || m.Header.Get("From") != "Alertmanager <am@example.org>" ||
		m.AuthUser != "" || m.Time.IsZero() {
		t.Errorf("recorded %+v", m)
	}
	if n := len(rec.Messages()); n != 1 {
		t.Errorf("%d messages", n)
	}
	rec.Reset()
	if n := len(rec.Messages()); n != 0 {
		t.Errorf("%d messages after Reset", n)
	}
	rec.Stop()
	if err := smtp.SendMail(rec.Addr, nil, "am@example.org", to, []byte(testMail)); err == nil {
		t.Errorf("a stopped recorder took mail")
	}
}

func TestSMTPRecorderRequiresAuthPlain(t *testing.T) {
	rec := StartSMTPRecorder(t)
	rec.RequireAuth("pager", "s3cret")
	to := []string{"oncall@example.org"}
	if err := smtp.SendMail(rec.Addr, nil, "am@example.org", to, []byte(testMail)); err == nil {
		t.Errorf("mail without AUTH was accepted")
	}
	if err := smtp.SendMail(rec.Addr, smtp.PlainAuth("", "pager", "wrong", "127.0.0.1"), "am@example.org", to, []byte(testMail)); err == nil {
		t.Errorf("a wrong password was accepted")
	}
	if err := smtp.SendMail(rec.Addr, smtp.PlainAuth("", "pager", "s3cret", "127.0.0.1"), "am@example.org", to, []byte(testMail)); err != nil {
		t.Fatal(err)
	}
	msgs := rec.Messages()
	if len(msgs) != 1 || msgs[0].AuthUser != "pager" {
		t.Errorf("recorded %+v", msgs)
	}
}

// Alertmanager's email notifier, without TLS and with AUTH PLAIN, reaches
// the recorder.
func TestSMTPRecorderReceivesAlertmanagerEmail(t *testing.T) {
	rec := StartSMTPRecorder(t)
	rec.RequireAuth("alertmanager", "am-pass")
	am := StartAlertmanager(t, fmt.Sprintf(`
global:
  smtp_smarthost: %s
  smtp_from: alertmanager@example.org
  smtp_require_tls: false
  smtp_auth_username: alertmanager
  smtp_auth_password: am-pass
route: {receiver: mail, group_wait: 100ms, group_interval: 1s, repeat_interval: 1h}
receivers:
  - name: mail
    email_configs:
      - to: oncall@example.org
`, rec.Addr))
	body := `[{"labels":{"alertname":"TestenvMail","severity":"critical"},"annotations":{"summary":"mail me"}}]`
	resp, err := http.Post(am.URL+"/api/v2/alerts", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("posting the alert: %s", resp.Status)
	}
	ctx, cancel := context.WithTimeout(t.Context(), e2eWait)
	defer cancel()
	m, err := rec.WaitFor(ctx, func(m Message) bool { return strings.Contains(m.Subject, "TestenvMail") })
	if err != nil {
		log, _ := os.ReadFile(am.Log)
		t.Fatalf("%v\nalertmanager:\n%s", err, log)
	}
	if !strings.Contains(m.Subject, "FIRING") || m.AuthUser != "alertmanager" || m.From != "alertmanager@example.org" ||
		len(m.To) != 1 || m.To[0] != "oncall@example.org" {
		t.Errorf("the mail: subject %q, auth %q, from %q, to %v", m.Subject, m.AuthUser, m.From, m.To)
	}
}
