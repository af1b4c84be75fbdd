package action

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

var redisType = actionType{
	name:     TypeRedisCacheClear,
	keys:     []string{"redis_addr", "redis_password_file", "redis_password_env", "redis_db", "pattern", "flush_db", "max_keys"},
	validate: validateRedis,
	build:    newRedis,
}

// scanCount is the COUNT hint of each SCAN, and so about the size of each
// UNLINK: small enough not to stall the server, large enough to be quick.
const scanCount = 1000

func (c *Config) maxKeys() int {
	if c.MaxKeys <= 0 {
		return DefaultMaxKeys
	}
	return c.MaxKeys
}

func validateRedis(c *Config, v *checker) {
	if c.RedisAddr == "" {
		v.Field("redis_addr", "required for type %s (host:port)", c.Type)
	} else if _, _, err := net.SplitHostPort(c.RedisAddr); err != nil {
		v.Field("redis_addr", "must be host:port")
	}
	v.Secret("redis_password", c.RedisPasswordFile, c.RedisPasswordEnv, false)
	if c.RedisDB < 0 {
		v.Field("redis_db", "must not be negative")
	}
	if c.MaxKeys < 0 {
		v.Field("max_keys", "must not be negative")
	}
	switch {
	case c.FlushDB && c.Pattern != "":
		v.Field("pattern", "set either pattern or flush_db, not both")
	case c.FlushDB && c.MaxKeys != 0:
		v.Field("max_keys", "not used with flush_db, which empties the whole database")
	case !c.FlushDB && c.Pattern == "":
		v.Field("pattern", "required for type %s (or flush_db: true)", c.Type)
	case c.Pattern != "":
		if _, err := parseTemplate("pattern", c.Pattern, globEscaper); err != nil {
			v.Field("pattern", "%v", err)
			break
		}
		p, err := renderSample("pattern", c.Pattern, c, globEscaper)
		if err != nil {
			v.Field("pattern", "%v", labelError(err, c))
		} else if strings.Trim(p, "*") == "" {
			// An empty pattern is SCAN's default, *.
			v.Field("pattern", "matches every key: say flush_db: true to empty the database")
		}
	}
}

type redisAction struct {
	name    string
	addr    string
	db      int
	pattern *tmpl // nil: FLUSHDB
	maxKeys int
	client  *redis.Client
}

func newRedis(name string, c *Config) (Action, error) {
	a := &redisAction{name: name, addr: c.RedisAddr, db: c.RedisDB, maxKeys: c.maxKeys()}
	if c.Pattern != "" {
		var err error
		if a.pattern, err = mustParse(name, "pattern", c.Pattern, globEscaper); err != nil {
			return nil, err
		}
	}
	var password string
	if c.RedisPasswordFile != "" || c.RedisPasswordEnv != "" {
		var err error
		if password, err = readSecret(c.RedisPasswordFile, c.RedisPasswordEnv); err != nil {
			return nil, errorf(name, "redis password: %w", err)
		}
	}
	// The client connects at the first command, so a Redis that is down
	// when escalator starts fails its runs, not the start.
	a.client = redis.NewClient(&redis.Options{
		Addr:     c.RedisAddr,
		Password: password,
		DB:       c.RedisDB,
		// The run's deadline bounds each command, not the client's own
		// timeouts only.
		ContextTimeoutEnabled: true,
		DialTimeout:           c.timeout(),
		// Runs are rare: a small pool, and no CLIENT SETINFO nor
		// maintenance-notification handshake, which older servers and
		// proxies reject.
		PoolSize:                 2,
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
	return a, nil
}

func (a *redisAction) where() string { return fmt.Sprintf("%s db %d", a.addr, a.db) }

func (a *redisAction) Describe(allowed map[string]string) (string, error) {
	if a.pattern == nil {
		return "FLUSHDB " + a.where(), nil
	}
	p, err := a.pattern.render(allowed)
	if err != nil {
		return "", errorf(a.name, "pattern: %w", err)
	}
	return fmt.Sprintf("UNLINK keys matching %s in %s (at most %d)", p, a.where(), a.maxKeys), nil
}

func (a *redisAction) Run(ctx context.Context, allowed map[string]string) (string, error) {
	if a.pattern == nil {
		return a.flush(ctx)
	}
	p, err := a.pattern.render(allowed)
	if err != nil {
		return "", errorf(a.name, "pattern: %w", err)
	}
	// SCAN and UNLINK in batches rather than KEYS and DEL: neither
	// blocks the server for long, and UNLINK frees memory off the main
	// thread.
	var (
		cursor   uint64
		unlinked int64
		sent     int
		capped   bool
	)
	for {
		keys, next, err := a.client.Scan(ctx, cursor, p, scanCount).Result()
		if err != nil {
			return a.partial(unlinked, p), errorf(a.name, "SCAN %s in %s: %w", p, a.where(), err)
		}
		if left := a.maxKeys - sent; len(keys) > left {
			keys, capped = keys[:left], true
		}
		if len(keys) > 0 {
			n, err := a.client.Unlink(ctx, keys...).Result()
			if err != nil {
				return a.partial(unlinked, p), errorf(a.name, "UNLINK in %s: %w", a.where(), err)
			}
			unlinked += n
			sent += len(keys)
		}
		cursor = next
		if cursor == 0 {
			break
		}
		if sent >= a.maxKeys {
			// The scan is not over: there may be more.
			capped = true
			break
		}
	}
	detail := a.partial(unlinked, p)
	if capped {
		detail += fmt.Sprintf("; stopped at max_keys %d, more keys may match", a.maxKeys)
	}
	return detail, nil
}

func (a *redisAction) partial(unlinked int64, pattern string) string {
	return fmt.Sprintf("unlinked %d keys matching %s in %s", unlinked, pattern, a.where())
}

func (a *redisAction) flush(ctx context.Context) (string, error) {
	n, err := a.client.DBSize(ctx).Result()
	if err != nil {
		return "", errorf(a.name, "DBSIZE of %s: %w", a.where(), err)
	}
	// ASYNC: the keys are gone at once for clients, and the memory is
	// freed off the main thread.
	if err := a.client.FlushDBAsync(ctx).Err(); err != nil {
		return "", errorf(a.name, "FLUSHDB ASYNC of %s: %w", a.where(), err)
	}
	return fmt.Sprintf("flushed %s (%d keys)", a.where(), n), nil
}

func (a *redisAction) Close() error { return a.client.Close() }
