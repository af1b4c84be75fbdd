package action

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/hotel-ops/hotel-ops/internal/testenv"
)

func redisClient(t *testing.T, addr string, db int) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, DB: db, DisableIdentity: true})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func setKeys(t *testing.T, c *redis.Client, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if err := c.Set(context.Background(), k, "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

func allKeys(t *testing.T, c *redis.Client) []string {
	t.Helper()
	keys, err := c.Keys(context.Background(), "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	return keys
}

func redisConfig(addr string) Config {
	c := base(TypeRedisCacheClear)
	c.RedisAddr = addr
	c.Labels = map[string]string{"instance": ".+"}
	c.Pattern = "sess:{{.instance}}:*"
	return c
}

// Only the keys matching the rendered pattern go, and glob characters in
// a label value match only themselves.
func TestRedisPattern(t *testing.T) {
	srv := testenv.StartRedis(t)
	rc := redisClient(t, srv.Addr, 0)
	setKeys(t, rc,
		"sess:web-1:a", "sess:web-1:b", "sess:web-10:a", "sess:web-2:a", "cart:web-1:a",
		"sess:web-*:a", "sess:web-?:a", "sess:web-[12]:a", `sess:web-\:a`, "sess:*:a")
	a := newAction(t, redisConfig(srv.Addr))
	ctx := context.Background()

	desc, err := a.Describe(map[string]string{"instance": "web-1"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "UNLINK keys matching sess:web-1:* in " + srv.Addr + " db 0 (at most 100000)"; desc != want {
		t.Errorf("Describe: %s", desc)
	}
	detail, err := a.Run(ctx, map[string]string{"instance": "web-1"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "unlinked 2 keys matching sess:web-1:* in " + srv.Addr + " db 0"; detail != want {
		t.Errorf("detail %q, want %q", detail, want)
	}
	want := []string{"cart:web-1:a", "sess:*:a", "sess:web-*:a", "sess:web-10:a", "sess:web-2:a", "sess:web-?:a", "sess:web-[12]:a", `sess:web-\:a`}
	if got := allKeys(t, rc); !slices.Equal(got, want) {
		t.Fatalf("left %q, want %q", got, want)
	}

	// Each value removes its own key, literally, and nothing else.
	for _, v := range []string{"web-*", "web-?", "web-[12]", `web-\`, "*"} {
		before := allKeys(t, rc)
		detail, err := a.Run(ctx, map[string]string{"instance": v})
		if err != nil {
			t.Fatalf("%q: %v", v, err)
		}
		if !strings.HasPrefix(detail, "unlinked 1 keys") {
			t.Errorf("%q: %s", v, detail)
		}
		gone := "sess:" + v + ":a"
		after := allKeys(t, rc)
		if slices.Contains(after, gone) || len(after) != len(before)-1 {
			t.Errorf("instance=%q widened the match or missed: before %q, after %q", v, before, after)
		}
	}
	if got, want := allKeys(t, rc), []string{"cart:web-1:a", "sess:web-10:a", "sess:web-2:a"}; !slices.Equal(got, want) {
		t.Errorf("left %q, want %q", got, want)
	}
}

func TestRedisMaxKeys(t *testing.T) {
	srv := testenv.StartRedis(t)
	rc := redisClient(t, srv.Addr, 0)
	ctx := context.Background()
	pipe := rc.Pipeline()
	for i := range 2500 {
		pipe.Set(ctx, fmt.Sprintf("sess:web-1:%d", i), "v", 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	c := redisConfig(srv.Addr)
	c.MaxKeys = 1200
	a := newAction(t, c)
	detail, err := a.Run(ctx, map[string]string{"instance": "web-1"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "unlinked 1200 keys matching sess:web-1:* in " + srv.Addr + " db 0; stopped at max_keys 1200, more keys may match"; detail != want {
		t.Errorf("detail %q", detail)
	}
	if n := rc.DBSize(ctx).Val(); n != 1300 {
		t.Errorf("%d keys left, want 1300", n)
	}
	// The rest fits: no cap reported.
	c.MaxKeys = 1300
	detail, err = newAction(t, c).Run(ctx, map[string]string{"instance": "web-1"})
	if err != nil || strings.Contains(detail, "max_keys") || !strings.HasPrefix(detail, "unlinked 1300 keys") {
		t.Errorf("detail %q, %v", detail, err)
	}
	if n := rc.DBSize(ctx).Val(); n != 0 {
		t.Errorf("%d keys left", n)
	}
}

// FLUSHDB empties the named database and leaves the others alone.
func TestRedisFlushDB(t *testing.T) {
	srv := testenv.StartRedis(t)
	db0, db3, db4 := redisClient(t, srv.Addr, 0), redisClient(t, srv.Addr, 3), redisClient(t, srv.Addr, 4)
	setKeys(t, db0, "a", "b")
	setKeys(t, db3, "c", "d", "e")
	setKeys(t, db4, "f")
	c := redisConfig(srv.Addr)
	c.Pattern = ""
	c.FlushDB = true
	c.RedisDB = 3
	a := newAction(t, c)
	if desc, _ := a.Describe(nil); desc != "FLUSHDB "+srv.Addr+" db 3" {
		t.Errorf("Describe: %s", desc)
	}
	detail, err := a.Run(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := "flushed " + srv.Addr + " db 3 (3 keys)"; detail != want {
		t.Errorf("detail %q", detail)
	}
	if got := allKeys(t, db3); len(got) != 0 {
		t.Errorf("db 3 still has %q", got)
	}
	if got := allKeys(t, db0); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("db 0 has %q", got)
	}
	if got := allKeys(t, db4); !slices.Equal(got, []string{"f"}) {
		t.Errorf("db 4 has %q", got)
	}
}

func TestRedisDown(t *testing.T) {
	c := redisConfig(fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)))
	a := newAction(t, c)
	if _, err := a.Run(context.Background(), map[string]string{"instance": "x"}); err == nil || !strings.Contains(err.Error(), "action test: SCAN sess:x:* in 127.0.0.1:") {
		t.Errorf("Run against nothing: %v", err)
	}
}
