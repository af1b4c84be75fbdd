package diagnose

import (
	"context"
	"fmt"
	"net"
	"time"
)

// tcpProbe connects to a port, for services with no protocol of their own
// here (an SMTP relay, a payment gateway's socket).
type tcpProbe struct{ c *Check }

func (p *tcpProbe) probe(ctx context.Context) (outcome, error) {
	var d net.Dialer
	start := time.Now()
	conn, err := d.DialContext(ctx, "tcp", p.c.Addr)
	if err != nil {
		return outcome{}, fmt.Errorf("connecting: %w", err)
	}
	latency := time.Since(start)
	conn.Close()
	return outcome{latency: latency, head: "connected in " + formatLatency(latency)}, nil
}

func (p *tcpProbe) close() error { return nil }
