package diagnose

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotel-ops/hotel-ops/internal/secret"
)

// redisProbe PINGs a Redis server and reports its memory and clients,
// through a client opened on the first run.
type redisProbe struct {
	c *Check

	mu     sync.Mutex
	client *redis.Client
	closed bool
}

func (p *redisProbe) getClient() (*redis.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errClosed
	}
	if p.client != nil {
		return p.client, nil
	}
	var password string
	if p.c.PasswordFile != "" || p.c.PasswordEnv != "" {
		var err error
		if password, err = secret.Read(p.c.PasswordFile, p.c.PasswordEnv); err != nil {
			return nil, fmt.Errorf("password: %w", err)
		}
	}
	timeout := p.c.timeout()
	p.client = redis.NewClient(&redis.Options{
		Addr:         p.c.Addr,
		Password:     password,
		DB:           p.c.DB,
		DialTimeout:  timeout,
		ReadTimeout:  timeout,
		WriteTimeout: timeout,
		// The check's context bounds every command.
		ContextTimeoutEnabled: true,
		// A diagnostic reports what it saw: a retry would hide a flaky
		// server and multiply the latency.
		MaxRetries:      -1,
		DialerRetries:   1,
		PoolSize:        2,
		ConnMaxIdleTime: 5 * time.Minute,
		// No CLIENT SETINFO on connect: managed Redis may refuse it, and
		// the probe needs nothing but PING and INFO.
		DisableIdentity: true,
	})
	return p.client, nil
}

func (p *redisProbe) probe(ctx context.Context) (outcome, error) {
	client, err := p.getClient()
	if err != nil {
		return outcome{}, err
	}
	start := time.Now()
	pong, err := client.Ping(ctx).Result()
	if err != nil {
		return outcome{}, fmt.Errorf("PING: %w", err)
	}
	latency := time.Since(start)
	out := outcome{latency: latency, head: fmt.Sprintf("%s in %s", pong, formatLatency(latency))}
	// INFO is extra: the server answered PING, so it is up even when INFO
	// is renamed away or slow (managed Redis does that).
	// The default sections hold memory and clients; naming several
	// sections needs Redis 7.
	info, err := client.Info(ctx).Result()
	if err != nil {
		out.tail = "INFO failed: " + describeError(err, p.c.timeout())
		return out, nil
	}
	out.tail = infoSummary(info)
	return out, nil
}

// infoSummary picks used_memory, maxmemory and connected_clients out of
// INFO's "key:value" lines: "used_memory 1.2 MiB (no maxmemory), 5
// clients".
func infoSummary(info string) string {
	fields := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":"); ok {
			fields[k] = v
		}
	}
	var parts []string
	if used, err := strconv.ParseInt(fields["used_memory"], 10, 64); err == nil {
		s := "used_memory " + formatBytes(used)
		if maxm, err := strconv.ParseInt(fields["maxmemory"], 10, 64); err == nil {
			if maxm == 0 {
				s += " (no maxmemory)"
			} else {
				s += fmt.Sprintf(" of %s (%.0f%%)", formatBytes(maxm), 100*float64(used)/float64(maxm))
			}
		}
		parts = append(parts, s)
	}
	if n, err := strconv.Atoi(fields["connected_clients"]); err == nil {
		parts = append(parts, fmt.Sprintf("%d clients", n))
	}
	if len(parts) == 0 {
		return "INFO without memory or clients figures"
	}
	return strings.Join(parts, ", ")
}

func (p *redisProbe) close() error {
	p.mu.Lock()
	client := p.client
	p.client, p.closed = nil, true
	p.mu.Unlock()
	if client == nil {
		return nil
	}
	if err := client.Close(); err != nil {
		return fmt.Errorf("closing the redis client: %w", err)
	}
	return nil
}
