package sla

import (
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	promconfig "github.com/prometheus/common/config"

	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/config"
)

// NewAPI is the Prometheus HTTP API client of cfg: its URL, its bearer
// token when one is configured, and cfg.Timeout on every request.
func NewAPI(cfg *config.SLA) (v1.API, error) { return newAPI(cfg, api.DefaultRoundTripper) }

// newAPI is NewAPI over the transport rt (tests wrap it to count requests).
func newAPI(cfg *config.SLA, rt http.RoundTripper) (v1.API, error) {
	token, err := cfg.BearerToken()
	if err != nil {
		// The error of secret.Read names the file or variable, never the value.
		return nil, fmt.Errorf("sla: reading the Prometheus bearer token: %w", err)
	}
	if token != "" {
		// Read once at start, as the exporter reads its other secrets.
		rt = promconfig.NewAuthorizationCredentialsRoundTripper("Bearer", promconfig.NewInlineSecret(token), rt)
	}
	client, err := api.NewClient(api.Config{
		Address: cfg.PrometheusURL,
		// The client's own timeout is a backstop: Compute also puts each
		// query under a context deadline of cfg.Timeout.
		Client: &http.Client{Transport: rt, Timeout: time.Duration(cfg.Timeout)},
	})
	if err != nil {
		return nil, fmt.Errorf("sla: Prometheus client for %s: %w", cfg.PrometheusURL, err)
	}
	return v1.NewAPI(client), nil
}
