package action

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/common/model"

	"github.com/hotel-ops/hotel-ops/internal/testenv"
)

type pgEnv struct {
	t  *testing.T
	pg *testenv.Postgres
}

func startPG(t *testing.T) *pgEnv {
	pg := testenv.StartPrimary(t, "action-pool-reset", testenv.PrimaryOptions{})
	pg.Exec("CREATE DATABASE app")
	pg.Exec("CREATE DATABASE other")
	return &pgEnv{t: t, pg: pg}
}

func (e *pgEnv) dsn(db, app string) string {
	return e.pg.DSN(db) + "&application_name=" + url.QueryEscape(app)
}

// session opens a connection to db as application app and returns its
// backend's pid.
func (e *pgEnv) session(db, app string) uint32 {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, e.dsn(db, app))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close(context.Background()) })
	return c.PgConn().PID()
}

// clientPIDs are the pids of the client backends, by application_name.
func (e *pgEnv) clientPIDs() map[uint32]string {
	e.t.Helper()
	c := e.pg.Connect("postgres")
	rows, err := c.Query(context.Background(), `SELECT pid, application_name FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()`)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[uint32]string{}
	for rows.Next() {
		var pid uint32
		var app string
		if err := rows.Scan(&pid, &app); err != nil {
			e.t.Fatal(err)
		}
		out[pid] = app
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	c.Close(context.Background())
	return out
}

// expect waits until none of gone is a backend any more (termination
// is a signal: the backend exits a moment later), then checks that every
// pid of kept still is.
func (e *pgEnv) expect(gone, kept []uint32) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		now := e.clientPIDs()
		left := slices.DeleteFunc(slices.Clone(gone), func(p uint32) bool { _, ok := now[p]; return !ok })
		if len(left) == 0 {
			for _, p := range kept {
				if _, ok := now[p]; !ok {
					e.t.Errorf("backend %d was terminated, and should not have been", p)
				}
			}
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("backends %v still there", left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *pgEnv) action(dsnApp string, edit func(*Config)) Action {
	e.t.Helper()
	c := base(TypePostgresPoolReset)
	c.DSNFile = writeFile(e.t, "dsn", e.dsn("postgres", dsnApp)+"\n")
	c.Labels = map[string]string{"instance": ".+"}
	c.Timeout = model.Duration(20 * time.Second)
	edit(&c)
	return newAction(e.t, c)
}

func TestPostgresPoolReset(t *testing.T) {
	e := startPG(t)
	ctx := context.Background()
	idle1 := e.session("app", "web-1")
	idle2 := e.session("app", "web-1")
	otherApp := e.session("app", "web-2")
	otherDB := e.session("other", "web-1")

	// One of web-1's sessions is in a transaction: not "idle".
	tx, err := pgx.Connect(ctx, e.dsn("app", "web-1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Close(context.Background()) })
	if _, err := tx.Exec(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	inTx := tx.PgConn().PID()

	a := e.action("escalator", func(c *Config) {
		c.Database = "app"
		c.ApplicationName = "{{.instance}}"
		c.State = "idle"
	})
	desc, err := a.Describe(map[string]string{"instance": "web-1"})
	if err != nil {
		t.Fatal(err)
	}
	if want := `terminate at most 50 client backends of database "app" with application_name "web-1" in state "idle" on the server of dsn_file `; !strings.HasPrefix(desc, want) {
		t.Errorf("Describe: %s", desc)
	}

	// A label that would widen the match if it were SQL text.
	detail, err := a.Run(ctx, map[string]string{"instance": "web-1' OR ''='"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(detail, "terminated 0 client backends") {
		t.Errorf("injection: %s", detail)
	}

	detail, err = a.Run(ctx, map[string]string{"instance": "web-1"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(detail, `terminated 2 client backends of database "app" with application_name "web-1" in state "idle"`) || !strings.HasSuffix(detail, "(at most 50)") {
		t.Errorf("detail %q", detail)
	}
	e.expect([]uint32{idle1, idle2}, []uint32{otherApp, otherDB, inTx})
}

// Max caps the terminations, and the action's own session, which the
// filter matches, is never one of them.
func TestPostgresMaxAndSelf(t *testing.T) {
	e := startPG(t)
	var pids []uint32
	for range 4 {
		pids = append(pids, e.session("app", "pool"))
	}
	a := e.action("pool", func(c *Config) {
		c.ApplicationName = "pool"
		c.Max = 3
	})
	detail, err := a.Run(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(detail, `terminated 3 client backends with application_name "pool"`) {
		t.Errorf("detail %q", detail)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := 0
		now := e.clientPIDs()
		for _, p := range pids {
			if _, ok := now[p]; ok {
				left++
			}
		}
		if left == 1 {
			break
		}
		if left == 0 || time.Now().After(deadline) {
			t.Fatalf("%d of the 4 sessions left, want 1", left)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The action's own session matches "pool" and is left out: with no
	// cap to speak of, one session left to end, and the query succeeds.
	a = e.action("pool", func(c *Config) { c.ApplicationName = "pool"; c.Max = 1000 })
	detail, err = a.Run(context.Background(), nil)
	if err != nil || !strings.HasPrefix(detail, "terminated 1 client backends") {
		t.Errorf("second run: %q, %v", detail, err)
	}
}

// With no filter at all only client backends go: the server's own
// processes (checkpointer, autovacuum launcher…) are untouched.
func TestPostgresOnlyClients(t *testing.T) {
	e := startPG(t)
	others := func() []uint32 {
		c := e.pg.Connect("postgres")
		defer c.Close(context.Background())
		rows, _ := c.Query(context.Background(), `SELECT pid FROM pg_stat_activity WHERE backend_type <> 'client backend' ORDER BY pid`)
		pids, err := pgx.CollectRows(rows, pgx.RowTo[uint32])
		if err != nil {
			t.Fatal(err)
		}
		return pids
	}
	before := others()
	if len(before) == 0 {
		t.Fatal("no background process in pg_stat_activity to check against")
	}
	s := e.session("app", "x")
	a := e.action("escalator", func(c *Config) { c.Max = 1000 })
	if _, err := a.Run(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	e.expect([]uint32{s}, nil)
	time.Sleep(200 * time.Millisecond)
	if after := others(); !slices.Equal(before, after) {
		t.Errorf("background processes changed: %v, then %v", before, after)
	}
}

func TestPostgresIdleFor(t *testing.T) {
	e := startPG(t)
	old := e.session("app", "w")
	time.Sleep(1500 * time.Millisecond)
	fresh := e.session("app", "w")
	a := e.action("escalator", func(c *Config) {
		c.ApplicationName = "w"
		c.IdleFor = model.Duration(time.Second)
	})
	detail, err := a.Run(context.Background(), nil)
	if err != nil || !strings.HasPrefix(detail, `terminated 1 client backends with application_name "w" unchanged for over 1s`) {
		t.Errorf("Run: %q, %v", detail, err)
	}
	e.expect([]uint32{old}, []uint32{fresh})
}
