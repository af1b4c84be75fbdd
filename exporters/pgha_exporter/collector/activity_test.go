package collector

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hotel-ops/hotel-ops/internal/testenv"
)

// TestActivityAgreesWithTheView holds sessions in every state a client can
// be in (idle over TCP and over the Unix socket, idle in a transaction,
// in an aborted one, running a query), beside a WAL sender and the
// server's own processes, and checks that the exporter's connection counts
// are what pg_stat_activity says to the same role: through the one-pass
// path (which counts the failed transaction block as idle, as its comment
// says), with ExactStates, and for a role whose sessions run with
// track_activities off (the view's "disabled" states).
func TestActivityAgreesWithTheView(t *testing.T) {
	primary := testenv.StartPrimary(t, "activity", testenv.PrimaryOptions{})
	testenv.StartStandby(t, primary, "standby1") // a WAL sender with a client port
	primary.Exec("CREATE ROLE pgha_monitor LOGIN")
	primary.Exec("GRANT pg_monitor TO pgha_monitor")
	primary.Exec("CREATE ROLE pgha_untracked LOGIN")
	primary.Exec("GRANT pg_monitor TO pgha_untracked")
	primary.Exec("ALTER ROLE pgha_untracked SET track_activities = off")
	ctx := context.Background()

	open := func(dsn string) *pgx.Conn {
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(ctx) })
		return c
	}
	for range 3 {
		open(primary.DSN("postgres"))
	}
	open(fmt.Sprintf("host=%s port=%d user=postgres dbname=postgres", primary.Dir, primary.Port)) // Unix socket
	for range 2 {
		c := open(primary.DSN("postgres"))
		if _, err := c.Exec(ctx, "BEGIN; SELECT 1"); err != nil {
			t.Fatal(err)
		}
	}
	aborted := open(primary.DSN("postgres"))
	if _, err := aborted.Exec(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if _, err := aborted.Exec(ctx, "SELECT 1/0"); err == nil {
		t.Fatal("division by zero succeeded")
	}
	sleeper := open(primary.DSN("postgres"))
	done := make(chan error, 1)
	go func() { _, err := sleeper.Exec(ctx, "SELECT pg_sleep(30)"); done <- err }()
	t.Cleanup(func() {
		_, _ = primary.Connect("postgres").Exec(ctx, "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)'")
		<-done
	})

	for _, tc := range []struct {
		name  string
		role  string
		exact bool
		fast  bool // the one-pass path runs
	}{
		{"one pass", "pgha_monitor", false, true},
		{"exact states", "pgha_monitor", true, false},
		{"track_activities off", "pgha_untracked", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			view := open(primary.DSNAs(tc.role, "postgres"))
			var fast bool
			if err := view.QueryRow(ctx, "SELECT NOT $1 AND pg_has_role('pg_read_all_stats', 'USAGE') AND current_setting('track_activities')::bool", tc.exact).Scan(&fast); err != nil {
				t.Fatal(err)
			}
			if fast != tc.fast {
				t.Fatalf("one-pass path for %s: %v, want %v", tc.name, fast, tc.fast)
			}
			p := newTarget(t, primary.DSNAs(tc.role, "postgres"), Options{Timeout: scrapeTimeout, ExactStates: tc.exact})
			deadline := time.Now().Add(10 * time.Second)
			for {
				// The view as the role sees it, from a session of its own:
				// that session is the active one here, the exporter's when
				// it scrapes, and idle otherwise, so the counts compare.
				want := map[string]float64{}
				rows, err := view.Query(ctx, "SELECT coalesce(state, 'unknown'), count(*)::float8 FROM pg_stat_activity WHERE backend_type = 'client backend' GROUP BY 1")
				if err != nil {
					t.Fatal(err)
				}
				for rows.Next() {
					var st string
					var n float64
					if err := rows.Scan(&st, &n); err != nil {
						t.Fatal(err)
					}
					want[stateLabel(st)] = n
				}
				rows.Close()
				held := want // as the view says, before folding
				if tc.fast {
					want = maps.Clone(want)
					want["idle"] += want["idle_in_transaction_aborted"]
					delete(want, "idle_in_transaction_aborted")
				}
				m := p.scrape(t)
				diff := ""
				for _, st := range append(connectionStates, "unknown") {
					got := m[fmt.Sprintf(`pgha_connections{state=%q}`, st)]
					if got != want[st] {
						diff += fmt.Sprintf(" %s: exporter %v, view %v;", st, got, want[st])
					}
				}
				if diff == "" {
					if tc.role == "pgha_monitor" && (held["idle"] < 4 || held["idle_in_transaction"] != 2 || held["idle_in_transaction_aborted"] != 1 || held["active"] != 2) {
						t.Fatalf("the sessions are not in the states this test holds them in: %v", held)
					}
					if v := m.Get(t, "pgha_longest_transaction_seconds"); tc.role == "pgha_monitor" && v <= 0 {
						t.Errorf("longest transaction %v s with transactions open", v)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("connections by state differ from pg_stat_activity:%s", diff)
				}
				time.Sleep(200 * time.Millisecond) // a session between states
			}
		})
	}
}
