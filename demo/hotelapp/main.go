// Command hotelapp is a small hotel booking application on PostgreSQL: a
// stand-in for the real SaaS that the end-to-end tests and `make demo`
// monitor. It serves a JSON API, its metrics on /metrics, fault switches on
// /admin/faults, and can generate its own traffic.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/hotel-ops/hotel-ops/internal/hotelapp"
	"github.com/hotel-ops/hotel-ops/internal/secret"
	"github.com/hotel-ops/hotel-ops/internal/service"
)

const adminTokenEnv = "HOTELAPP_ADMIN_TOKEN"

type flags struct {
	dsn, dsnFile   string
	maxConns       int32
	queryTimeout   time.Duration
	startupTimeout time.Duration
	tokenFile      string
	rps, loginRPS  float64
	trafficURL     string
	trafficTimeout time.Duration
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	svc := service.New("hotelapp", "A small hotel booking application on PostgreSQL: the stand-in the hotel-ops demo and end-to-end tests monitor.", "127.0.0.1:8080")
	var f flags
	a := svc.App
	a.Flag("pg.dsn", "DSN of the PostgreSQL database (libpq keyword/value or postgres:// URL). Prefer --pg.dsn-file or PGPASSWORD for secrets.").Envar("HOTELAPP_DSN").StringVar(&f.dsn)
	a.Flag("pg.dsn-file", "File holding the DSN of the PostgreSQL database.").StringVar(&f.dsnFile)
	a.Flag("pg.max-connections", "Connections the pool keeps open at most.").Default("10").Int32Var(&f.maxConns)
	a.Flag("pg.query-timeout", "Deadline of the database work of one request; past it the request answers 503.").Default("5s").DurationVar(&f.queryTimeout)
	a.Flag("pg.startup-timeout", "How long to retry creating the schema at start while PostgreSQL is unreachable.").Default("30s").DurationVar(&f.startupTimeout)
	a.Flag("admin.token-file", "File holding the bearer token of the fault switches on /admin/faults (or set "+adminTokenEnv+"). Without a token the admin endpoints are disabled (404).").StringVar(&f.tokenFile)
	a.Flag("traffic.rps", "API requests per second (searches, hotel lists, bookings) the process sends to itself over loopback HTTP; 0 disables.").Default("5").Float64Var(&f.rps)
	a.Flag("traffic.login-rps", "Logins per second the process sends to itself (1 in 20 with a wrong password); 0 disables.").Default("0.5").Float64Var(&f.loginRPS)
	a.Flag("traffic.url", "Base URL the built-in traffic is sent to. Default: http://127.0.0.1:<port of the first --web.listen-address>.").StringVar(&f.trafficURL)
	a.Flag("traffic.timeout", "Client timeout of one generated request.").Default("10s").DurationVar(&f.trafficTimeout)
	if _, err := svc.Parse(args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	logger := svc.Logger
	if err := f.validate(); err != nil {
		logger.Error("Invalid flags", "err", err)
		return 2
	}
	cfg, err := poolConfig(f)
	if err != nil {
		logger.Error("Invalid DSN", "err", err)
		return 2
	}
	token, err := adminToken(f.tokenFile)
	if err != nil {
		logger.Error("Invalid admin token", "err", err)
		return 2
	}
	if token == "" {
		logger.Info("Admin endpoints disabled: no --admin.token-file nor " + adminTokenEnv)
	}
	var traffic *hotelapp.Traffic
	if f.rps > 0 || f.loginRPS > 0 {
		base := f.trafficURL
		if base == "" {
			if base, err = selfURL(*svc.Web.WebListenAddresses, *svc.Web.WebSystemdSocket); err != nil {
				logger.Error("Invalid flags", "err", err)
				return 2
			}
		}
		if *svc.Web.WebConfigFile != "" && f.trafficURL == "" {
			logger.Warn("The built-in traffic speaks plain HTTP without credentials: with TLS or authentication in --web.config.file, set --traffic.url or --traffic.rps=0 --traffic.login-rps=0")
		}
		traffic = &hotelapp.Traffic{BaseURL: base, RPS: f.rps, LoginRPS: f.loginRPS,
			Client: &http.Client{Timeout: f.trafficTimeout}, Logger: logger.With("component", "traffic")}
	}

	ctx, stop := service.SignalContext()
	defer stop()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		logger.Error("Database pool", "err", err)
		return 1
	}
	defer pool.Close()
	logger.Info("Using PostgreSQL", "dsn", describe(&cfg.ConnConfig.Config))

	reg := prometheus.NewRegistry()
	reg.MustRegister(svc.BuildInfoCollector(), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	app, err := newApp(ctx, logger, f.startupTimeout, hotelapp.Options{
		Pool: pool, Registerer: reg, Logger: logger, AdminToken: token, QueryTimeout: f.queryTimeout,
	})
	if err != nil {
		if ctx.Err() != nil {
			return 0 // stopped by a signal while waiting for PostgreSQL
		}
		logger.Error("Starting", "err", err)
		return 1
	}
	mux, err := svc.Mux(reg, "/metrics",
		service.Link{Path: "/api/hotels", Text: "Hotels (API)"},
		service.Link{Path: "/healthz", Text: "Health"})
	if err != nil {
		logger.Error("Web handlers", "err", err)
		return 1
	}
	app.Register(mux)

	trafficDone := make(chan struct{})
	tctx, stopTraffic := context.WithCancel(ctx)
	if traffic != nil {
		logger.Info("Sending built-in traffic", "url", traffic.BaseURL, "rps", f.rps, "login_rps", f.loginRPS)
		go func() {
			defer close(trafficDone)
			if err := traffic.Run(tctx); err != nil {
				logger.Error("Traffic", "err", err)
			}
		}()
	} else {
		close(trafficDone)
	}
	serveErr := svc.Serve(ctx, mux)
	stopTraffic()
	<-trafficDone
	if serveErr != nil {
		logger.Error("Exiting", "err", serveErr)
		return 1
	}
	return 0
}

func (f *flags) validate() error {
	switch {
	case f.dsn != "" && f.dsnFile != "":
		return errors.New("give either --pg.dsn (or HOTELAPP_DSN) or --pg.dsn-file, not both")
	case f.dsn == "" && f.dsnFile == "":
		return errors.New("no database: give --pg.dsn, --pg.dsn-file or HOTELAPP_DSN")
	case f.maxConns < 1:
		return errors.New("--pg.max-connections must be at least 1")
	case f.queryTimeout <= 0:
		return errors.New("--pg.query-timeout must be positive")
	case f.startupTimeout < 0:
		return errors.New("--pg.startup-timeout must not be negative")
	case f.rps < 0 || f.loginRPS < 0:
		return errors.New("--traffic.rps and --traffic.login-rps must not be negative")
	case f.rps > 1000 || f.loginRPS > 1000:
		return errors.New("--traffic.rps and --traffic.login-rps are at most 1000")
	case f.trafficTimeout <= 0:
		return errors.New("--traffic.timeout must be positive")
	}
	return nil
}

// poolConfig reads and parses the DSN. pgx's parse errors may quote the
// DSN, password included, so they are replaced by one that cannot.
func poolConfig(f flags) (*pgxpool.Config, error) {
	dsn := f.dsn
	if f.dsnFile != "" {
		b, err := os.ReadFile(f.dsnFile)
		if err != nil {
			return nil, fmt.Errorf("reading the DSN file: %w", err)
		}
		if dsn = strings.TrimSpace(string(b)); dsn == "" {
			return nil, fmt.Errorf("the DSN file %s is empty", f.dsnFile)
		}
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, errors.New("invalid DSN: expected a libpq keyword/value string (host=... user=...) or a postgres:// URL")
	}
	cfg.MaxConns = f.maxConns
	cfg.MaxConnIdleTime = 5 * time.Minute
	cfg.ConnConfig.ConnectTimeout = f.queryTimeout
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = "hotelapp"
	}
	return cfg, nil
}

// describe is a form of the DSN that is safe to log: never the password.
func describe(c *pgconn.Config) string {
	return fmt.Sprintf("host=%s port=%d user=%s dbname=%s", c.Host, c.Port, c.User, c.Database)
}

// adminToken reads --admin.token-file, or HOTELAPP_ADMIN_TOKEN.
func adminToken(file string) (string, error) {
	env := strings.TrimSpace(os.Getenv(adminTokenEnv))
	if file == "" {
		return env, nil // no token: the admin endpoints are off
	}
	if env != "" {
		return "", fmt.Errorf("give either --admin.token-file or %s, not both", adminTokenEnv)
	}
	token, err := secret.Read(file, "")
	if err != nil {
		return "", fmt.Errorf("the admin token: %w", err)
	}
	return token, nil
}

// selfURL is where the built-in traffic reaches this process: the first
// listen address, on loopback when it listens on every interface.
func selfURL(addrs []string, systemd bool) (string, error) {
	if systemd || len(addrs) == 0 {
		return "", errors.New("with --web.systemd-socket the built-in traffic needs --traffic.url")
	}
	host, port, err := net.SplitHostPort(addrs[0])
	if err != nil {
		return "", fmt.Errorf("--web.listen-address %q: %v; give --traffic.url", addrs[0], err)
	}
	if p, err := strconv.Atoi(port); err != nil || p <= 0 {
		return "", fmt.Errorf("the built-in traffic needs a fixed port in --web.listen-address (got %q) or --traffic.url", addrs[0])
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

// newApp retries while PostgreSQL is unreachable, for up to timeout.
func newApp(ctx context.Context, logger *slog.Logger, timeout time.Duration, opt hotelapp.Options) (*hotelapp.App, error) {
	deadline := time.Now().Add(timeout)
	for {
		app, err := hotelapp.New(ctx, opt)
		if err == nil {
			return app, nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return nil, err
		}
		logger.Warn("Database not ready, retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
