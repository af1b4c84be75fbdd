package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/business"
	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/config"
	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/incidents"
	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/sla"
	"github.com/hotel-ops/hotel-ops/internal/hotelapp"
	"github.com/hotel-ops/hotel-ops/internal/testenv"
)

// buildBinary builds the exporter into a temporary directory.
func buildBinary(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sla_exporter")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func writeTestFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// outage is the planted fault of the backfilled November 2025: the
// application down from 10:00 to 10:12 on the 10th, Tokyo time.
var (
	tokyo       = mustLoad("Asia/Tokyo")
	outageStart = time.Date(2025, 11, 10, 10, 0, 0, 0, tokyo)
	outageEnd   = time.Date(2025, 11, 10, 10, 12, 0, 0, tokyo)
)

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// november is up{job="hotel-saas"} each minute of November 2025 in
// Tokyo, 0 during the outage, as OpenMetrics for promtool.
func november() string {
	var b strings.Builder
	b.WriteString("# TYPE up gauge\n")
	start := time.Date(2025, 11, 1, 0, 0, 0, 0, tokyo)
	end := time.Date(2025, 12, 1, 0, 0, 0, 0, tokyo)
	for t := start; !t.After(end); t = t.Add(time.Minute) {
		v := 1
		if !t.Before(outageStart) && t.Before(outageEnd) {
			v = 0
		}
		fmt.Fprintf(&b, "up{job=\"hotel-saas\"} %d %d\n", v, t.Unix())
	}
	b.WriteString("# EOF\n")
	return b.String()
}

// TestBinary runs the built exporter as its users do: a bad file refused
// with its line, check-config, the business figures of a real database
// and Redis over HTTP, the SLA from a real Prometheus, and the report of
// a past month with a known outage.
func TestBinary(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()

	t.Run("bad config names the file, line and field", func(t *testing.T) {
		bad := writeTestFile(t, dir, "bad.yml", "redis: {addr: 127.0.0.1:1}\nqueries:\n  - name: flush\n    redis: {command: FLUSHALL, metric: m}\n")
		out, err := exec.Command(bin, "--config.file", bad, "check-config").CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
			t.Fatalf("exit %v, want 2\n%s", err, out)
		}
		if !strings.Contains(string(out), `bad.yml:4: queries[0].redis.command: \"FLUSHALL\" is not an allowed read-only command`) {
			t.Errorf("unhelpful error:\n%s", out)
		}
	})
	t.Run("a metric named like the Go collector's is refused", func(t *testing.T) {
		dsn := writeTestFile(t, dir, "nowhere.dsn", "postgres://sla@127.0.0.1:1/none")
		cfg := writeTestFile(t, dir, "clash.yml", "database: {dsn_file: "+dsn+"}\nqueries:\n  - {name: g, sql: 'SELECT 1 AS v', metrics: [{name: go_goroutines, value: v}]}\n")
		out, err := exec.Command(bin, "--config.file", cfg, "--web.listen-address", "127.0.0.1:0").CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "clashes") {
			t.Fatalf("exit %v, want 2 naming the clash\n%s", err, out)
		}
	})
	t.Run("check-config reads the DSN", func(t *testing.T) {
		dsn := writeTestFile(t, dir, "garbage.dsn", "not a dsn %%%")
		cfg := writeTestFile(t, dir, "garbage.yml", "database: {dsn_file: "+dsn+"}\n")
		out, err := exec.Command(bin, "--config.file", cfg, "check-config").CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "does not parse") || strings.Contains(string(out), "%%%") {
			t.Fatalf("exit %v, want 2 saying the DSN does not parse without quoting it\n%s", err, out)
		}
	})
	t.Run("a report whose sources fail is written and exits 1", func(t *testing.T) {
		cfg := writeTestFile(t, dir, "noprom.yml", "sla:\n  prometheus_url: http://127.0.0.1:1\n  timeout: 2s\n  slos: [{name: a, objective: 99.9%, up: up}]\n")
		out := filepath.Join(dir, "failed")
		res, err := exec.Command(bin, "--config.file", cfg, "report", "--period", "2025-11", "--out", out, "--format", "html").CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(res), "sections missing figures") {
			t.Fatalf("exit %v, want 1\n%s", err, res)
		}
		if html, err := os.ReadFile(out + ".html"); err != nil || !strings.Contains(string(html), "connection refused") {
			t.Errorf("the report does not say why: %v", err)
		}
	})
	t.Run("check-config reads the secrets", func(t *testing.T) {
		cfg := writeTestFile(t, dir, "missing.yml", "escalator: {url: http://127.0.0.1:1, token_file: "+filepath.Join(dir, "nope")+"}\n")
		out, err := exec.Command(bin, "--config.file", cfg, "check-config").CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "nope") {
			t.Fatalf("exit %v, want 2 naming the file\n%s", err, out)
		}
	})

	pg, pool := hotelDB(t, "sla")
	rd := testenv.StartRedis(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `INSERT INTO bookings (hotel_id, user_id, nights, amount, currency) SELECT 1, 'g', 1, 100, 'EUR' FROM generate_series(1, 17)`); err != nil {
		t.Fatal(err)
	}
	port := testenv.FreePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	// Prometheus holds November 2025 and scrapes the exporter as the
	// application's job, so that the current month is measured too.
	prom := testenv.StartPrometheus(t, testenv.PrometheusOptions{
		Backfill:   november(),
		ScrapeJobs: []testenv.ScrapeJob{{JobName: "hotel-saas", Targets: []string{addr}}},
	})
	dsn := writeTestFile(t, dir, "dsn", pg.DSN("postgres"))
	cfg := writeTestFile(t, dir, "sla.yml", fmt.Sprintf(`
database: {dsn_file: %s}
redis: {addr: %q}
queries:
  - name: orders
    sql: SELECT count(*) AS n FROM bookings
    metrics: [{name: sla_orders_total, type: counter, value: n}]
  - name: cache_keys
    redis: {command: DBSIZE, metric: sla_cache_keys}
sla:
  prometheus_url: %s
  refresh: 2s
  slos:
    - {name: availability, objective: 99.99%%, up: 'min(up{job="hotel-saas"})'}
reports:
  title: Test Hotel
`, dsn, rd.Addr, prom.URL))

	cmd := exec.Command(bin, "--config.file", cfg, "--web.listen-address", addr)
	logs := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	var body string
	deadline := time.Now().Add(30 * time.Second)
	for {
		body = scrape(t, "http://"+addr+"/metrics")
		if strings.Contains(body, `sla_orders_total{query="orders"} 17`) && strings.Contains(body, `sla_availability_ratio{period=`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("figures missing after 30s:\n%s\nlog:\n%s", body, logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, want := range []string{
		`sla_query_up{query="orders",source="sql"} 1`,
		`sla_query_up{query="cache_keys",source="redis"} 1`,
		`sla_cache_keys{query="cache_keys"} 0`,
		`sla_objective_ratio{slo="availability"} 0.9999`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("no %s in\n%s", want, body)
		}
	}
	promtool := testenv.Tool(t, "promtool")
	lint := exec.Command(promtool, "check", "metrics")
	lint.Stdin = strings.NewReader(body)
	if out, err := lint.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}

	t.Run("report of a month with a known outage", func(t *testing.T) {
		out := filepath.Join(dir, "reports", "2025-11")
		res, err := exec.Command(bin, "--config.file", cfg, "report", "--period", "2025-11", "--out", out).CombinedOutput()
		if err != nil {
			t.Fatalf("report: %v\n%s", err, res)
		}
		html, err := os.ReadFile(out + ".html")
		if err != nil {
			t.Fatal(err)
		}
		// 12 minutes down in a 30-day month: 1 − 12/43200.
		for _, want := range []string{"Test Hotel", "2025-11", "12.0 min", "99.972"} {
			if !strings.Contains(string(html), want) {
				t.Errorf("report lacks %q", want)
			}
		}
		pdf, err := os.ReadFile(out + ".pdf")
		if err != nil || !strings.HasPrefix(string(pdf), "%PDF") {
			t.Errorf("pdf: %v, starts %q", err, pdf[:min(len(pdf), 8)])
		}
	})
	t.Run("report refuses a period that is not a week or a month", func(t *testing.T) {
		res, err := exec.Command(bin, "--config.file", cfg, "report", "--period", "2025-Q4").CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(res), "weekly") {
			t.Fatalf("exit %v\n%s", err, res)
		}
	})
}

// hotelDB is a real PostgreSQL with the hotel booking schema.
func hotelDB(t testing.TB, name string) (*testenv.Postgres, *pgxpool.Pool) {
	t.Helper()
	pg := testenv.StartPrimary(t, name, testenv.PrimaryOptions{})
	pool, err := pgxpool.New(context.Background(), pg.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := hotelapp.EnsureSchema(context.Background(), pool); err != nil {
		t.Fatal(err)
	}
	return pg, pool
}

func scrape(t testing.TB, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// The exporter's own names are refused to queries: config.Own lists
// every descriptor of the SLA, incident and health collectors.
func TestOwnNamesAreTheCollectorsNames(t *testing.T) {
	var names []string
	for _, d := range slices.Concat(sla.Descriptors(), incidents.Descriptors(), business.Descriptors()) {
		names = append(names, descName(d.String()))
	}
	slices.Sort(names)
	own := slices.Clone(config.Own)
	slices.Sort(own)
	if !slices.Equal(names, own) {
		t.Errorf("config.Own:\n%v\ncollectors:\n%v", own, names)
	}
}

// descName reads fqName out of a Desc's String().
func descName(s string) string {
	_, rest, _ := strings.Cut(s, `fqName: "`)
	name, _, _ := strings.Cut(rest, `"`)
	return name
}
