// Command escalator is an Alertmanager webhook receiver that opens an
// incident per alert occurrence, escalates it on durable timers until it
// is acknowledged or resolved, and notifies Slack, e-mail, PagerDuty and
// webhooks. `escalator check-config` validates a configuration;
// `escalator simulate` prints what a policy would send when;
// `escalator maintenance start|end|status` silences a planned stop.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	commoncfg "github.com/prometheus/common/config"

	"github.com/hotel-ops/hotel-ops/internal/service"
	"github.com/hotel-ops/hotel-ops/webhook/action"
	"github.com/hotel-ops/hotel-ops/webhook/amsync"
	"github.com/hotel-ops/hotel-ops/webhook/api"
	"github.com/hotel-ops/hotel-ops/webhook/callback"
	"github.com/hotel-ops/hotel-ops/webhook/config"
	"github.com/hotel-ops/hotel-ops/webhook/diagnose"
	"github.com/hotel-ops/hotel-ops/webhook/escalate"
	"github.com/hotel-ops/hotel-ops/webhook/notify"
	"github.com/hotel-ops/hotel-ops/webhook/store"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	svc := service.New("escalator", "Alertmanager webhook receiver: incidents, durable escalation, notifications.", ":9096")
	var configFile, tokenFile string
	var maxBody int64
	runCmd := svc.App.Command("run", "Receive alerts and escalate (the default).").Default()
	svc.App.Flag("config.file", "YAML configuration: store, channels, policies.").Required().StringVar(&configFile)
	runCmd.Flag("api.token-file", "File holding the bearer token that Alertmanager and API clients send. Without it, --web.config.file must set basic_auth_users.").StringVar(&tokenFile)
	runCmd.Flag("web.max-body-bytes", "Largest webhook body accepted.").Default("1048576").Int64Var(&maxBody)
	storeTimeout := runCmd.Flag("web.store-timeout", "Longest wait for a delivery's commit; past it the answer is 503 and Alertmanager sends it again.").Default("900ms").Duration()
	svc.App.Command("check-config", "Validate the configuration and exit.")
	simCmd := svc.App.Command("simulate", "Print the timeline of what the policies would send for alert fixtures.")
	fixtures := simCmd.Arg("fixtures", "YAML file of alerts: labels, at, acked_after, resolved_after.").Required().String()
	horizon := simCmd.Flag("horizon", "How far to simulate.").Default("24h").Duration()
	maint := addMaintenance(svc.App)
	cmd, err := svc.Parse(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	cfg, err := config.Load(configFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	switch cmd {
	case "check-config":
		// Building the actions reads their secrets: a missing file is
		// found here, not at the start of the service.
		for _, name := range slices.Sorted(maps.Keys(cfg.Actions)) {
			a, err := action.New(name, cfg.Actions[name])
			if err != nil {
				fmt.Fprintf(os.Stderr, "%s: actions.%s: %v\n", configFile, name, err)
				return 2
			}
			a.Close()
		}
		fmt.Printf("%s: %d channels, %d policies, %d actions, %d diagnostics: OK\n", configFile, len(cfg.Channels), len(cfg.Policies), len(cfg.Actions), len(cfg.Diagnostics))
		return 0
	case "simulate":
		out, err := simulate(cfg, *fixtures, *horizon)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		fmt.Print(out)
		return 0
	case "maintenance start", "maintenance end", "maintenance status":
		if err := maint.run(cmd, cfg, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			var usage usageError
			if errors.As(err, &usage) {
				return 2
			}
			return 1
		}
		return 0
	}

	logger := svc.Logger
	var token []byte
	basic, err := openWebAuth(*svc.Web.WebConfigFile, logger)
	if err != nil {
		logger.Error("Authentication", "err", err)
		return 2
	}
	defer basic.Close()
	switch {
	case tokenFile != "" && basic != nil:
		// Basic auth guards every request and the API then wants a bearer
		// token in the same Authorization header: nothing could get in.
		logger.Error("Authentication", "err", "--api.token-file and basic_auth_users in --web.config.file exclude each other (both use the Authorization header): choose one")
		return 2
	case tokenFile != "":
		if token, err = readSecret(tokenFile); err != nil {
			logger.Error("API token", "err", err)
			return 2
		}
	case basic == nil:
		logger.Error("Authentication", "err", "no authentication configured: give --api.token-file, or a --web.config.file with basic_auth_users")
		return 2
	case cfg.ConsoleUsersFile != "":
		logger.Error("Authentication", "err", "console_users_file goes with --api.token-file: with basic_auth_users, the console takes the name the browser signed in with")
		return 2
	default:
		*svc.Web.WebConfigFile = basic.Copy // TLS and the rest; the basic auth is escalator's
	}
	var consoleUsers *api.UsersFile
	if cfg.ConsoleUsersFile != "" {
		if consoleUsers, err = api.OpenUsersFile(cfg.ConsoleUsersFile, api.ConsoleUsers(cfg.ConsoleUsersFile), logger); err != nil {
			logger.Error("Console", "err", err)
			return 2
		}
	}
	notifiers := map[string]notify.Notifier{}
	for name, c := range cfg.Channels {
		n, err := notify.New(name, c, &http.Client{Timeout: 30 * time.Second, Transport: channelTransport()})
		if err != nil {
			logger.Error("Channel", "channel", name, "err", err)
			return 2
		}
		notifiers[name] = n
	}
	actions := map[string]escalate.Action{}
	for name, c := range cfg.Actions {
		a, err := action.New(name, c)
		if err != nil {
			logger.Error("Action", "action", name, "err", err)
			return 2
		}
		defer a.Close()
		actions[name] = escalate.Action{Config: &c, Run: a}
	}
	var diagnoser escalate.Diagnoser
	if len(cfg.Diagnostics) > 0 {
		runner, err := diagnose.New(cfg.Diagnostics)
		if err != nil {
			logger.Error("Diagnostics", "err", err)
			return 2
		}
		defer runner.Close()
		diagnoser = runner
	}
	st, err := openStore(cfg.Store, logger)
	if err != nil {
		logger.Error("Store", "err", err)
		return 1
	}
	defer st.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(svc.BuildInfoCollector(), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if c, ok := st.(prometheus.Collector); ok { // the embedded store's own figures
		reg.MustRegister(c)
	}
	eng := &escalate.Engine{Store: st, Policies: &cfg.File, Notifiers: notifiers, Metrics: escalate.NewMetrics(reg), Logger: logger,
		History: time.Duration(cfg.HistoryRetention), Actions: actions, Diagnose: diagnoser}
	if p := cfg.Prometheus; p != nil {
		client, err := commoncfg.NewClientFromConfig(p.HTTPConfig, "escalator-prometheus")
		if err != nil {
			logger.Error("Prometheus", "err", err)
			return 2
		}
		promClient, err := promapi.NewClient(promapi.Config{Address: p.URL, Client: client})
		if err != nil {
			logger.Error("Prometheus", "err", err)
			return 2
		}
		eng.Prometheus = promv1.NewAPI(promClient)
	}
	if d := cfg.DailyHealth; d != nil {
		hour, minute, zone := d.Clock()
		eng.Daily = &escalate.DailyHealth{Hour: hour, Minute: minute, Zone: zone, Channels: d.Channels}
	}
	if cfg.AckLinks.SecretFile != "" {
		secret, err := readSecret(cfg.AckLinks.SecretFile)
		if err != nil {
			logger.Error("Acknowledgement links", "err", err)
			return 2
		}
		ttl := time.Duration(cfg.AckLinks.TTL)
		if ttl == 0 {
			ttl = 24 * time.Hour
		}
		eng.Links = &escalate.Links{Base: strings.TrimRight(cfg.ExternalURL, "/"), Secret: secret, TTL: ttl}
	}
	mux, err := svc.Mux(reg, "/metrics", service.Link{Path: "/console/", Text: "Incident console"}, service.Link{Path: "/api/v1/incidents", Text: "Incidents (API)"})
	if err != nil {
		logger.Error("Web handlers", "err", err)
		return 1
	}
	apiServer := &api.Server{Receiver: eng, Acker: eng, Incidents: st, Deliveries: eng.Metrics.Deliveries, Token: token,
		Users: consoleUsers, Secret: token, SecureCookies: strings.HasPrefix(strings.ToLower(cfg.ExternalURL), "https://"),
		MaxBody: maxBody, StoreTimeout: *storeTimeout, Logger: logger}
	if len(actions) > 0 {
		apiServer.Approver = eng
	}
	if eng.Daily != nil {
		apiServer.Reporter = eng
	}
	if eng.Links != nil {
		// The replicas share the links' secret in either mode.
		apiServer.Links, apiServer.Secret = eng.Links, eng.Links.Secret
	}
	apiServer.Register(mux)
	var handler http.Handler = mux
	if basic != nil {
		handler = api.BasicAuth(basic.Users, mux)
	}
	// Slack's and PagerDuty's callbacks go around the basic auth: they
	// cannot send a password, and their signature is their authentication.
	callbacks, err := callback.New(cfg.Callbacks, eng, eng, logger)
	if err != nil {
		logger.Error("Callbacks", "err", err)
		return 2
	}
	handler = callbacks.Route(handler)
	for _, p := range callbacks.Paths() {
		logger.Info("Callback endpoint", "path", p)
	}

	syncer, err := newSyncer(cfg.Alertmanager, st, eng, logger)
	if err != nil {
		logger.Error("Alertmanager", "err", err)
		return 2
	}

	ctx, stop := service.SignalContext()
	defer stop()
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { eng.Run(runCtx); close(done) }()
	if syncer != nil {
		eng.OnAck = syncer.Wake
		go syncer.Run(runCtx)
	}
	err = svc.Serve(ctx, handler)
	cancel()
	<-done
	if err != nil {
		logger.Error("Exiting", "err", err)
		return 1
	}
	return 0
}

// newSyncer reconciles with Alertmanager when the configuration names it.
func newSyncer(c *config.Alertmanager, st amsync.Store, eng *escalate.Engine, logger *slog.Logger) (*amsync.Syncer, error) {
	if c == nil {
		return nil, nil
	}
	hc, err := commoncfg.NewClientFromConfig(c.HTTPConfig, "escalator")
	if err != nil {
		return nil, fmt.Errorf("http_config: %w", err)
	}
	s := &amsync.Syncer{Store: st, Receiver: eng, Now: eng.Now, Interval: time.Duration(c.ReconcileInterval), SilenceFor: time.Duration(c.SilenceOnAck), Logger: logger}
	if s.Interval == 0 {
		s.Interval = time.Minute
	}
	s.Grace = 2 * s.Interval
	for _, u := range c.URLs {
		p, err := amsync.Client(u, hc)
		if err != nil {
			return nil, err
		}
		s.Peers = append(s.Peers, p)
	}
	return s, nil
}

// openStore opens the embedded store or connects to PostgreSQL.
func openStore(c config.Store, logger *slog.Logger) (store.Store, error) {
	if c.Postgres == nil {
		// A file there is an earlier version's store, copied into a
		// directory as it opens: said once, with where the old one is.
		s, err := store.OpenEmbedded(c.Path)
		if err != nil {
			return nil, err
		}
		if old := s.MigratedFrom(); old != "" {
			logger.Info("Store migrated from an earlier version's file into a directory", "path", c.Path, "old_file_kept_as", old)
		}
		return s, nil
	}
	var dsn string
	if c.Postgres.DSNFile != "" {
		b, err := readSecret(c.Postgres.DSNFile)
		if err != nil {
			return nil, fmt.Errorf("store DSN: %w", err)
		}
		dsn = string(b)
	} else if dsn = os.Getenv(c.Postgres.DSNEnv); dsn == "" {
		return nil, fmt.Errorf("store DSN: environment variable %s is empty", c.Postgres.DSNEnv)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return store.OpenPostgres(ctx, dsn)
}

// readSecret reads a secret file; the error never holds its content.
func readSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return nil, fmt.Errorf("%s is empty", path)
	}
	return []byte(s), nil
}

// channelTransport is a channel's own connection pool. A channel sends up
// to escalate.Engine.PerChannel notifications at once; Go's default pool
// keeps 2 idle connections per host, so after every burst each send
// opened a connection of its own (a TLS handshake, to Slack or
// PagerDuty): in a storm, a twentieth of escalator's CPU went to dialling.
func channelTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns, t.MaxIdleConnsPerHost = 64, 64
	return t
}
