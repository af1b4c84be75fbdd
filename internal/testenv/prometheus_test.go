package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// The machine the tests run on may be busy building: generous waits.
const e2eWait = 90 * time.Second

const alwaysFiringRules = `groups:
  - name: testenv
    interval: 1s
    rules:
      - alert: TestenvAlwaysFiring
        expr: vector(1) > 0
        for: 0s
        labels: {severity: critical}
        annotations: {summary: always firing}
`

func TestPrometheusReleaseOfModuleVersion(t *testing.T) {
	for mod, want := range map[string]string{
		"v0.316.0": "3.16.0",
		"v0.300.1": "3.0.1",
		"v0.54.1":  "2.54.1",
	} {
		if got, err := prometheusReleaseOf(mod); err != nil || got != want {
			t.Errorf("prometheusReleaseOf(%q) = %q, %v; want %q", mod, got, err, want)
		}
	}
	for _, bad := range []string{"v3.0.0", "(devel)", ""} {
		if got, err := prometheusReleaseOf(bad); err == nil {
			t.Errorf("prometheusReleaseOf(%q) = %q, want an error", bad, got)
		}
	}
}

func TestPrometheusExtraArgsReplaceDefaults(t *testing.T) {
	got := withOverrides(
		[]string{"--config.file=c", "--web.enable-lifecycle", "--rules.alert.resend-delay=5s"},
		[]string{"--rules.alert.resend-delay=1m", "--no-web.enable-lifecycle", "--enable-feature=x"})
	want := "[--config.file=c --rules.alert.resend-delay=1m --no-web.enable-lifecycle --enable-feature=x]"
	if fmt.Sprint(got) != want {
		t.Errorf("got %v, want %s", got, want)
	}
}

// The version check behind StartPrometheus's refusal of a Prometheus 2:
// from --version when it says one, else from the Go build info.
func TestPrometheusVersionOfBinaries(t *testing.T) {
	fake := filepath.Join(t.TempDir(), "prometheus")
	script := "#!/bin/sh\necho 'prometheus, version 2.42.0+ds (branch: debian/sid, revision: 2.42.0+ds-5)'\n"
	if err := os.WriteFile(fake, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	if v, err := prometheusVersion(fake); err != nil || v != "2.42.0" {
		t.Errorf("Debian's 2.42: %q, %v", v, err)
	}
	bin := Tool(t, "prometheus")
	if v, err := prometheusVersion(bin); err != nil || !strings.HasPrefix(v, "3.") {
		t.Errorf("%s: %q, %v", bin, v, err)
	}
	node := Tool(t, "node_exporter") // a Go binary, but not Prometheus
	if v, err := prometheusVersion(node); err == nil {
		t.Errorf("%s taken for Prometheus %s", node, v)
	}
}

// The rendered prometheus.yml is what the options say, and Prometheus's
// own checker (promtool, same version) accepts it.
func TestPrometheusConfigRendersOptions(t *testing.T) {
	dir := t.TempDir()
	opt := PrometheusOptions{
		ScrapeJobs: []ScrapeJob{{
			JobName: "node", Targets: []string{"127.0.0.1:9100"}, MetricsPath: "/probe",
			Params: map[string][]string{"module": {"http_2xx"}}, Labels: map[string]string{"env": "test"},
			ScrapeInterval: 2 * time.Second,
			RelabelConfigs: "- {source_labels: [__address__], target_label: instance, replacement: db-1}",
		}},
		ScrapeConfigs:      "- job_name: extra\n  static_configs: [{targets: ['127.0.0.1:1']}]\n",
		Rules:              alwaysFiringRules,
		AlertmanagerURLs:   []string{"http://127.0.0.1:9093", "http://127.0.0.1:9094/am/"},
		ScrapeInterval:     5 * time.Second,
		EvaluationInterval: 1500 * time.Millisecond,
		ExternalLabels:     map[string]string{"cluster": "testenv"},
	}
	y, err := prometheusConfig(opt, dir)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Global struct {
			ScrapeInterval     string            `yaml:"scrape_interval"`
			EvaluationInterval string            `yaml:"evaluation_interval"`
			ExternalLabels     map[string]string `yaml:"external_labels"`
		}
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName        string              `yaml:"job_name"`
			MetricsPath    string              `yaml:"metrics_path"`
			ScrapeInterval string              `yaml:"scrape_interval"`
			Params         map[string][]string `yaml:"params"`
			RelabelConfigs []map[string]any    `yaml:"relabel_configs"`
		} `yaml:"scrape_configs"`
		Alerting struct {
			Alertmanagers []struct {
				PathPrefix    string `yaml:"path_prefix"`
				StaticConfigs []struct {
					Targets []string
				} `yaml:"static_configs"`
			}
		}
	}
	if err := yaml.Unmarshal(y, &cfg); err != nil {
		t.Fatalf("%v\n%s", err, y)
	}
	g := cfg.Global
	if g.ScrapeInterval != "5s" || g.EvaluationInterval != "1s500ms" || g.ExternalLabels["cluster"] != "testenv" {
		t.Errorf("global: %+v", g)
	}
	if len(cfg.RuleFiles) != 1 || cfg.RuleFiles[0] != filepath.Join(dir, "rules.yml") {
		t.Errorf("rule_files: %v", cfg.RuleFiles)
	}
	if len(cfg.ScrapeConfigs) != 2 || cfg.ScrapeConfigs[0].JobName != "node" || cfg.ScrapeConfigs[1].JobName != "extra" {
		t.Fatalf("scrape_configs: %+v", cfg.ScrapeConfigs)
	}
	if j := cfg.ScrapeConfigs[0]; j.MetricsPath != "/probe" || j.ScrapeInterval != "2s" ||
		j.Params["module"][0] != "http_2xx" || len(j.RelabelConfigs) != 1 || j.RelabelConfigs[0]["replacement"] != "db-1" {
		t.Errorf("node job: %+v", j)
	}
	ams := cfg.Alerting.Alertmanagers
	if len(ams) != 2 || ams[0].StaticConfigs[0].Targets[0] != "127.0.0.1:9093" || ams[1].PathPrefix != "/am" {
		t.Errorf("alertmanagers: %+v", ams)
	}
	if _, err := prometheusConfig(PrometheusOptions{AlertmanagerURLs: []string{"127.0.0.1:9093"}}, dir); err == nil {
		t.Errorf("an Alertmanager URL without a scheme was accepted")
	}
	if _, err := prometheusConfig(PrometheusOptions{ScrapeJobs: []ScrapeJob{{JobName: "x", RelabelConfigs: "a: b"}}}, dir); err == nil {
		t.Errorf("relabel configs that are not a list were accepted")
	}

	promtool := Tool(t, "promtool")
	if err := os.WriteFile(filepath.Join(dir, "rules.yml"), []byte(opt.Rules), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(conf, y, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "config", conf).CombinedOutput(); err != nil {
		t.Errorf("promtool check config: %v\n%s\n%s", err, out, y)
	}
}

// The whole path: Prometheus scrapes node_exporter, a rule fires, the
// alert reaches a real Alertmanager, whose webhook is an HTTPRecorder.
func TestPrometheusAlertReachesAlertmanagerWebhook(t *testing.T) {
	node := StartNodeExporter(t)
	hook := StartHTTPRecorder(t)
	am := StartAlertmanager(t, fmt.Sprintf(`
route: {receiver: hook, group_wait: 100ms, group_interval: 1s, repeat_interval: 1h}
receivers:
  - name: hook
    webhook_configs:
      - url: %s/hook
        send_resolved: true
`, hook.URL))
	rules := filepath.Join(t.TempDir(), "always.yml")
	if err := os.WriteFile(rules, []byte(alwaysFiringRules), 0o600); err != nil {
		t.Fatal(err)
	}
	p := StartPrometheus(t, PrometheusOptions{
		ScrapeJobs:       []ScrapeJob{{JobName: "node", Targets: []string{node.Addr}}},
		RuleFiles:        []string{rules},
		AlertmanagerURLs: []string{am.URL},
		ExternalLabels:   map[string]string{"cluster": "testenv"},
	})
	t.Logf("%s", p)
	ctx, cancel := context.WithTimeout(t.Context(), e2eWait)
	defer cancel()

	if _, err := p.WaitForTarget(ctx, "node", "up"); err != nil {
		t.Fatalf("%v\n%s", err, p.LogTail())
	}
	v, err := p.Query(ctx, `up{job="node"}`)
	if err != nil || len(v) != 1 || v[0].Value != 1 || string(v[0].Metric["instance"]) != node.Addr {
		t.Fatalf("up{job=\"node\"} = %v, %v", v, err)
	}
	if v, err := p.Query(ctx, `count(node_cpu_seconds_total{job="node"}) > 0`); err != nil || len(v) != 1 {
		t.Errorf("no node_exporter metrics in Prometheus: %v, %v", v, err)
	}
	if a, err := p.WaitForAlert(ctx, "TestenvAlwaysFiring", "firing"); err != nil {
		t.Fatalf("%v\n%s", err, p.LogTail())
	} else if a.Labels["severity"] != "critical" || a.ActiveAt.IsZero() {
		t.Errorf("alert in Prometheus: %+v", a)
	}

	req, err := hook.WaitFor(ctx, func(r Request) bool {
		return r.Path == "/hook" && strings.Contains(string(r.Body), "TestenvAlwaysFiring")
	})
	if err != nil {
		log, _ := os.ReadFile(am.Log)
		t.Fatalf("no notification: %v\nprometheus:\n%s\nalertmanager:\n%s", err, p.LogTail(), log)
	}
	var msg struct {
		Status   string
		Receiver string
		Alerts   []struct {
			Status      string
			Labels      map[string]string
			Annotations map[string]string
		}
	}
	if err := req.DecodeJSON(&msg); err != nil {
		t.Fatalf("webhook body: %v: %s", err, req.Body)
	}
	if req.Method != "POST" || msg.Status != "firing" || msg.Receiver != "hook" || len(msg.Alerts) != 1 {
		t.Fatalf("webhook: %s %s", req.Method, req.Body)
	}
	a := msg.Alerts[0]
	// External labels go with the alerts Prometheus sends.
	if a.Labels["alertname"] != "TestenvAlwaysFiring" || a.Labels["severity"] != "critical" ||
		a.Labels["cluster"] != "testenv" || a.Annotations["summary"] != "always firing" {
		t.Errorf("alert as Alertmanager sent it: %+v", a)
	}
}

// node_exporter dies: Prometheus marks it down, and it comes back.
func TestPrometheusSeesNodeExporterStop(t *testing.T) {
	node := StartNodeExporter(t)
	node.WriteTextfile("testenv", "# TYPE testenv_marker gauge\ntestenv_marker 42")
	p := StartPrometheus(t, PrometheusOptions{
		ScrapeJobs: []ScrapeJob{{JobName: "node", Targets: []string{node.Addr}}},
	})
	ctx, cancel := context.WithTimeout(t.Context(), e2eWait)
	defer cancel()
	if _, err := p.WaitForQuery(ctx, `up{job="node"} == 1`, nil); err != nil {
		t.Fatalf("%v\n%s", err, p.LogTail())
	}
	if _, err := p.WaitForQuery(ctx, `testenv_marker{job="node"} == 42`, nil); err != nil {
		t.Errorf("the textfile metric: %v", err)
	}

	if err := node.Stop(); err != nil {
		t.Fatalf("stopping node_exporter: %v", err)
	}
	if node.Running() {
		t.Fatal("node_exporter still running after Stop")
	}
	v, err := p.WaitForQuery(ctx, `up{job="node"} == 0`, nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, p.LogTail())
	}
	if len(v) != 1 || string(v[0].Metric["instance"]) != node.Addr {
		t.Errorf("up == 0 for %v", v)
	}
	tg, err := p.WaitForTarget(ctx, "node", "down")
	if err != nil || tg[0].LastError == "" {
		t.Errorf("target after the stop: %+v, %v", tg, err)
	}

	node.Start()
	if _, err := p.WaitForQuery(ctx, `up{job="node"} == 1`, nil); err != nil {
		t.Fatalf("after the restart: %v\n%s", err, p.LogTail())
	}
	if _, err := p.WaitForQuery(ctx, `up{job="nonexistent"}`, func(v model.Vector) bool { return len(v) == 0 }); err != nil {
		t.Errorf("a query with no result: %v", err)
	}
	if _, err := p.Query(ctx, `time()`); err == nil || !strings.Contains(err.Error(), "not a vector") {
		t.Errorf("a scalar result: %v", err)
	}
	if _, err := p.Query(ctx, `up{`); err == nil || !strings.Contains(err.Error(), "bad_data") {
		t.Errorf("a malformed query: %v", err)
	}
}

// Reconfigure and Reload apply new rules; a bad config is refused with
// Prometheus's reason, and Stop and Start keep the TSDB.
func TestPrometheusReloadAndRestart(t *testing.T) {
	p := StartPrometheus(t, PrometheusOptions{})
	ctx, cancel := context.WithTimeout(t.Context(), e2eWait)
	defer cancel()
	if a, err := p.Alerts(ctx); err != nil || len(a) != 0 {
		t.Fatalf("alerts before any rule: %v, %v", a, err)
	}
	opt := PrometheusOptions{
		Rules: alwaysFiringRules,
		ScrapeJobs: []ScrapeJob{{JobName: "self", Targets: []string{p.Addr}, ScrapeInterval: 500 * time.Millisecond,
			MetricRelabelConfigs: "- {source_labels: [__name__], regex: 'prometheus_build_info|up', action: keep}"}},
	}
	if err := p.Reconfigure(opt); err != nil {
		t.Fatalf("%v\n%s", err, p.LogTail())
	}
	if _, err := p.WaitForAlert(ctx, "TestenvAlwaysFiring", "firing"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.WaitForTarget(ctx, "self", "up"); err != nil {
		t.Fatal(err)
	}
	// metric_relabel_configs dropped everything else.
	if _, err := p.WaitForQuery(ctx, `prometheus_build_info{job="self"}`, nil); err != nil {
		t.Fatal(err)
	}
	if v, err := p.Query(ctx, `prometheus_http_requests_total{job="self"}`); err != nil || len(v) != 0 {
		t.Errorf("metric_relabel_configs kept %v, %v", v, err)
	}

	bad := opt
	bad.ScrapeConfigs = "- job_name: broken\n  scrape_interval: soon\n"
	if err := p.Reconfigure(bad); err == nil || !strings.Contains(err.Error(), "soon") {
		t.Errorf("a bad config: %v", err)
	}

	if err := p.Reconfigure(opt); err != nil {
		t.Fatal(err)
	}
	if _, err := p.WaitForQuery(ctx, `count_over_time(prometheus_build_info{job="self"}[10m]) >= 3`, nil); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, p.LogTail())
	}
	if p.Running() {
		t.Fatal("still running after Stop")
	}
	if err := p.Reload(); err == nil {
		t.Error("a stopped Prometheus reloaded")
	}
	p.Start()
	if v, err := p.Query(ctx, `count_over_time(prometheus_build_info{job="self"}[10m]) >= 3`); err != nil || len(v) != 1 {
		t.Errorf("samples from before the restart: %v, %v", v, err)
	}
}
