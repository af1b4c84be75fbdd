package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotel-ops/hotel-ops/internal/metrictest"
	"github.com/hotel-ops/hotel-ops/internal/testenv"
)

// TestS3ThrottlingMidRefresh puts a proxy between the exporter and the S3
// server that, once armed, answers 503 SlowDown after a few requests: the
// refresh fails part way through its listing, the error is reported, and
// the last good figures stay.
func TestS3ThrottlingMidRefresh(t *testing.T) {
	s3 := testenv.StartS3(t)
	syn := newSynthetic(t, s3, "repo")
	syn.pgbackrestInfo(t, 2, time.Now().Add(-time.Hour))
	syn.writeSegmentFiles(t, 2, 2+5*256) // five folders: several listing requests

	var armed atomic.Bool
	var served atomic.Int64
	target, _ := url.Parse("https://" + s3.Endpoint)
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host // the signature covers the Host the client used
		},
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if armed.Load() && served.Add(1) > 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	srv.StartTLS()
	defer srv.Close()

	ca := filepath.Join(t.TempDir(), "proxy-ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)
	cfg := syn.configVia(t, "pgbackrest", "/repo", strings.TrimPrefix(srv.URL, "https://"), ca, "full_list_interval: 1ms")
	var logs bytes.Buffer
	mon, err := build(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(mon)

	mon.RefreshOnce(context.Background())
	good := metrictest.Gather(t, reg)
	if good.Get(t, "pitr_up") != 1 || good.Get(t, "pitr_wal_segments") != 5*256 {
		t.Fatalf("through the proxy: up %v, %v segments", good["pitr_up"], good["pitr_wal_segments"])
	}
	armed.Store(true)
	mon.RefreshOnce(context.Background())
	m := metrictest.Gather(t, reg)
	if m.Get(t, "pitr_up") != 0 || m.Get(t, `pitr_s3_request_errors_total{operation="ListObjectsV2"}`) < 1 {
		t.Errorf("throttled: up %v, list errors %v", m["pitr_up"], m[`pitr_s3_request_errors_total{operation="ListObjectsV2"}`])
	}
	for _, k := range []string{"pitr_wal_segments", "pitr_window_start_timestamp_seconds", "pitr_refresh_last_success_timestamp_seconds"} {
		if m.Get(t, k) != good.Get(t, k) {
			t.Errorf("%s changed from %v to %v during a failed refresh", k, good[k], m[k])
		}
	}
	if !strings.Contains(logs.String(), "SlowDown") || !strings.Contains(logs.String(), "repo/archive/main/15-1/") {
		t.Errorf("the log does not say what failed where:\n%s", logs.String())
	}
}
