package business

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/config"
)

// Redis runs the read-only commands config.RedisCommands allows, and
// nothing else: the configuration names a command from that list and its
// arguments, never a command line, so no query can write or flush.
type Redis struct {
	Client *redis.Client
}

// NewRedis makes a client; it connects on first use.
func NewRedis(c *config.Redis) (*Redis, error) {
	pass, err := c.Password()
	if err != nil {
		return nil, fmt.Errorf("redis password: %w", err)
	}
	return &Redis{Client: redis.NewClient(&redis.Options{
		Addr: c.Addr, Username: c.Username, Password: pass, DB: c.DB,
		MaxRetries: -1, // a failed run is reported and retried at the next interval
		PoolSize:   4,
	})}, nil
}

// Run implements Source.
func (r *Redis) Run(ctx context.Context, q *config.Query, now time.Time) ([]Sample, error) {
	c := q.Redis
	var v float64
	var err error
	switch c.Command {
	case "SCARD":
		v, err = count(r.Client.SCard(ctx, c.Key).Result())
	case "PFCOUNT":
		v, err = count(r.Client.PFCount(ctx, c.Key).Result())
	case "ZCOUNT":
		lo, _ := config.ParseScore(c.Min) // validated
		hi, _ := config.ParseScore(c.Max)
		v, err = count(r.Client.ZCount(ctx, c.Key, lo.At(now), hi.At(now)).Result())
	case "DBSIZE":
		v, err = count(r.Client.DBSize(ctx).Result())
	case "GET":
		var s string
		s, err = r.Client.Get(ctx, c.Key).Result()
		if errors.Is(err, redis.Nil) {
			return nil, nil // no such key: no sample, like a query with no rows
		}
		if err == nil {
			if v, err = strconv.ParseFloat(strings.TrimSpace(s), 64); err != nil {
				err = fmt.Errorf("GET %s: the value is not a number: %w", c.Key, ErrResult)
			}
		}
	case "INFO":
		var s string
		if s, err = r.Client.Info(ctx, c.Section).Result(); err == nil {
			v, err = infoField(s, c.Field)
		}
	default:
		err = fmt.Errorf("command %s is not allowed", c.Command) // refused by Validate already
	}
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", q.Name, err)
	}
	return []Sample{{Metric: c.Metric, Value: v}}, nil
}

// Logger makes go-redis log through slog at debug level: a failing
// command is already a failed run, reported with its reason, and the
// client's own lines would bypass the exporter's log format.
func Logger(l *slog.Logger) { redis.SetLogger(redisLog{l}) }

type redisLog struct{ l *slog.Logger }

func (r redisLog) Printf(ctx context.Context, format string, v ...any) {
	r.l.DebugContext(ctx, fmt.Sprintf(format, v...), "component", "redis")
}

// Close closes the client.
func (r *Redis) Close() error { return r.Client.Close() }

func count(n int64, err error) (float64, error) { return float64(n), err }

// infoField reads one numeric field of an INFO answer ("field:value"
// lines, sections headed by "# Name").
func infoField(info, field string) (float64, error) {
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && k == field {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, fmt.Errorf("INFO field %s is not a number: %w", field, ErrResult)
			}
			return f, nil
		}
	}
	return 0, fmt.Errorf("INFO has no field %s: %w", field, ErrResult)
}

func isRedisError(err error) bool {
	var re redis.Error
	return errors.As(err, &re)
}
