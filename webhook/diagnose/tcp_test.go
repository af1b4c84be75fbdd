package diagnose

import (
	"net"
	"regexp"
	"testing"
)

func TestTCP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	accepted := make(chan struct{})
	go func() {
		if c, err := l.Accept(); err == nil {
			c.Close()
			close(accepted)
		}
	}()
	res, _ := runCheck(t, Check{Name: "smtp", Type: "tcp", Addr: addr})
	wantStatus(t, res, StatusOK)
	if !regexp.MustCompile(`^connected in (<1|\d+) ms$`).MatchString(res.Detail) {
		t.Errorf("detail %q", res.Detail)
	}
	<-accepted
	l.Close()

	res, _ = runCheck(t, Check{Name: "smtp", Type: "tcp", Addr: addr})
	wantStatus(t, res, StatusFailed)
	if res.Detail != "connection refused" {
		t.Errorf("closed port: detail %q, want connection refused", res.Detail)
	}
}
