package testenv

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestPgBouncerInFrontOfPrimary: queries through StartPgBouncer reach the
// primary, the options reach PgBouncer's settings, a wrong password is
// refused, and Stop and Start do what they say.
func TestPgBouncerInFrontOfPrimary(t *testing.T) {
	p := StartPrimary(t, "primary", PrimaryOptions{})
	b := StartPgBouncer(t, p, PgBouncerOptions{PoolMode: "transaction", PoolSize: 3, Password: "pw-testenv-1", Users: []string{"app"}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	query := func(dsn string) (string, error) {
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return "", err
		}
		defer c.Close(context.Background())
		var port string
		// Transaction pooling: no prepared statements across transactions.
		err = c.QueryRow(ctx, "SELECT current_setting('port')", pgx.QueryExecModeSimpleProtocol).Scan(&port)
		return port, err
	}
	if port, err := query(b.DSN("postgres", "postgres")); err != nil || port != strconv.Itoa(p.Port) {
		t.Fatalf("through pgbouncer: port %q, %v; want the primary's %d", port, err, p.Port)
	}
	if _, err := query(b.DSNWithPassword("postgres", "wrong", "postgres")); err == nil {
		t.Error("a wrong password was accepted")
	}

	c, err := pgconn.Connect(ctx, b.StatsDSN())
	if err != nil {
		t.Fatalf("stats user on the console: %v", err)
	}
	rs, err := c.Exec(ctx, "SHOW CONFIG").ReadAll()
	c.Close(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	conf := map[string]string{}
	for _, r := range rs[0].Rows {
		conf[string(r[0])] = string(r[1])
	}
	for k, want := range map[string]string{"pool_mode": "transaction", "default_pool_size": "3", "auth_type": "scram-sha-256", "listen_port": strconv.Itoa(b.Port), "admin_users": b.AdminUser, "stats_users": b.StatsUser} {
		if conf[k] != want {
			t.Errorf("SHOW CONFIG %s = %q, want %q", k, conf[k], want)
		}
	}

	b.Stop()
	if _, err := query(b.DSN("postgres", "postgres")); err == nil {
		t.Fatal("a stopped pgbouncer answered")
	}
	b.Start()
	if _, err := query(b.DSN("postgres", "postgres")); err != nil {
		t.Fatalf("after Start: %v", err)
	}
	// Options.Users are in the auth_file; others are refused by PgBouncer
	// itself, though PostgreSQL would let them in.
	p.Exec("CREATE ROLE app LOGIN")
	p.Exec("CREATE ROLE stranger LOGIN")
	if _, err := query(b.DSN("app", "postgres")); err != nil {
		t.Errorf("user app: %v", err)
	}
	if _, err := query(b.DSN("stranger", "postgres")); err == nil {
		t.Error("a user missing from the auth_file logged in")
	}
}
