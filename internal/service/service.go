// Package service is the wiring every hotel-ops binary shares: kingpin flags,
// promslog logging, version information, the exporter-toolkit web server
// (TLS, basic auth, systemd sockets), a landing page and graceful shutdown.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"
)

// ShutdownGrace is how long in-flight requests get to finish after SIGTERM.
const ShutdownGrace = 10 * time.Second

// Service holds the flags and logger of one binary.
type Service struct {
	Name        string // binary name, also the prefix of <name>_build_info
	Description string
	App         *kingpin.Application
	Web         *web.FlagConfig
	Logger      *slog.Logger

	logConfig *promslog.Config
}

// New declares the standard flags (web, log, version) on a new kingpin
// application. The caller adds its own flags to App before Parse.
func New(name, description, defaultAddress string) *Service {
	app := kingpin.New(name, description)
	s := &Service{
		Name:        name,
		Description: description,
		App:         app,
		Web:         kingpinflag.AddFlags(app, defaultAddress),
		logConfig:   &promslog.Config{},
	}
	promslogflag.AddFlags(app, s.logConfig)
	app.Version(version.Print(name))
	app.HelpFlag.Short('h')
	return s
}

// Parse reads the command line and sets up the logger.
func (s *Service) Parse(args []string) (string, error) {
	cmd, err := s.App.Parse(args)
	if err != nil {
		return "", err
	}
	s.Logger = promslog.New(s.logConfig)
	return cmd, nil
}

// BuildInfoCollector exports <name>_build_info with version labels.
func (s *Service) BuildInfoCollector() prometheus.Collector {
	return versioncollector.NewCollector(s.Name)
}

// Link is an entry of the landing page.
type Link struct{ Path, Text string }

// Mux serves reg at metricsPath (errors logged, not hidden) and a landing
// page at "/" linking to it and to links; callers add their own handlers.
func (s *Service) Mux(reg prometheus.Gatherer, metricsPath string, links ...Link) (*http.ServeMux, error) {
	return s.MuxHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(s.Logger.Handler(), slog.LevelError)}), metricsPath, links...)
}

// MuxHandler is Mux with the handler of metricsPath given, for metrics
// that depend on the request (a deadline from its scrape timeout header).
func (s *Service) MuxHandler(metrics http.Handler, metricsPath string, links ...Link) (*http.ServeMux, error) {
	cfg := web.LandingConfig{
		Name:        s.Name,
		Description: s.Description,
		Version:     version.Info(),
	}
	for _, l := range append([]Link{{metricsPath, "Metrics"}}, links...) {
		cfg.Links = append(cfg.Links, web.LandingLinks{Address: l.Path, Text: l.Text})
	}
	landing, err := web.NewLandingPage(cfg)
	if err != nil {
		return nil, fmt.Errorf("landing page: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle(metricsPath, metrics)
	mux.Handle("/", landing)
	return mux, nil
}

// SignalContext is cancelled on SIGINT or SIGTERM.
func SignalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// Serve runs the web server until ctx is cancelled, then shuts it down
// gracefully. It returns nil on a clean shutdown.
func (s *Service) Serve(ctx context.Context, handler http.Handler) error {
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- web.ListenAndServe(srv, s.Web, s.Logger) }()
	select {
	case err := <-errc:
		return fmt.Errorf("web server: %w", err)
	case <-ctx.Done():
	}
	s.Logger.Info("Shutting down", "grace", ShutdownGrace)
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("web server: %w", err)
	}
	return nil
}

// ServeMetrics serves reg at metricsPath with the landing page until ctx
// is cancelled, logging what went wrong, and returns the exit code: 0 on
// a clean shutdown, 1 otherwise.
func (s *Service) ServeMetrics(ctx context.Context, reg prometheus.Gatherer, metricsPath string, links ...Link) int {
	mux, err := s.Mux(reg, metricsPath, links...)
	if err != nil {
		s.Logger.Error("Web handlers", "err", err)
		return 1
	}
	if err := s.Serve(ctx, mux); err != nil {
		s.Logger.Error("Exiting", "err", err)
		return 1
	}
	return 0
}
