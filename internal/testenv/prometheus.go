package testenv

import (
	"context"
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// PrometheusMajor is the major version of Prometheus the tests run (the
// Makefile's PROMETHEUS_VERSION, v0.3xx.y of the Go module, is 3.xx.y).
// Another major version is refused rather than tested against unnoticed.
const PrometheusMajor = 3

// ScrapeJob is one scrape_configs entry with static targets.
type ScrapeJob struct {
	JobName        string
	MetricsPath    string              // "" for /metrics
	Params         map[string][]string // URL parameters of each scrape
	Targets        []string            // host:port
	Labels         map[string]string   // added to every target of the job
	ScrapeInterval time.Duration       // 0 for the global one
	ScrapeTimeout  time.Duration       // 0 for min(interval, global timeout)
	// RelabelConfigs and MetricRelabelConfigs are YAML lists, as they
	// would appear under relabel_configs and metric_relabel_configs.
	RelabelConfigs       string
	MetricRelabelConfigs string
}

// PrometheusOptions configure StartPrometheus; every field is optional.
type PrometheusOptions struct {
	ScrapeJobs []ScrapeJob
	// ScrapeConfigs is a YAML list of further scrape_configs entries,
	// written as given (for service discovery, auth, and the like).
	ScrapeConfigs string
	// RuleFiles are paths of rule files (relative ones are taken from
	// the test's working directory); globs work as in rule_files.
	RuleFiles []string
	// Rules is the content of one more rule file, written next to
	// prometheus.yml (a "groups:" document).
	Rules string
	// AlertmanagerURLs are the Alertmanagers to send alerts to, as
	// http://127.0.0.1:port (with a path prefix if they have one).
	AlertmanagerURLs []string
	// ScrapeInterval and EvaluationInterval are the global intervals;
	// 0 means 1s, short so tests see changes quickly.
	ScrapeInterval     time.Duration
	EvaluationInterval time.Duration
	ExternalLabels     map[string]string
	// Backfill is history to start with: OpenMetrics text with a
	// timestamp (seconds) on every sample, ending in "# EOF". It is
	// turned into TSDB blocks with `promtool tsdb create-blocks-from
	// openmetrics` before the first start, and retention becomes 100y
	// (unless ExtraArgs sets it) so that old history is not deleted.
	Backfill string
	// ExtraArgs are added to the command line (e.g. --enable-feature=...);
	// one naming a flag StartPrometheus sets replaces it (Prometheus
	// refuses a flag given twice), e.g. --rules.alert.resend-delay=1m.
	ExtraArgs []string
}

// Prometheus is a real Prometheus 3 server on loopback, with its TSDB in a
// temporary directory that lives as long as the test.
type Prometheus struct {
	URL        string // http://127.0.0.1:port
	Addr       string // 127.0.0.1:port
	Dir        string // the temporary directory: config, rules, data, log
	ConfigFile string // Dir/prometheus.yml
	Log        string // the server's output, for failure messages
	Version    string // e.g. 3.16.0

	t      TB
	d      *Daemon
	client *http.Client
}

// PrometheusAlert is one active alert of /api/v1/alerts.
type PrometheusAlert struct {
	Labels      model.LabelSet `json:"labels"`
	Annotations model.LabelSet `json:"annotations"`
	State       string         `json:"state"` // "pending" or "firing"
	ActiveAt    time.Time      `json:"activeAt"`
	Value       string         `json:"value"`
}

// PrometheusTarget is one active target of /api/v1/targets.
type PrometheusTarget struct {
	Labels     model.LabelSet `json:"labels"`
	ScrapePool string         `json:"scrapePool"`
	ScrapeURL  string         `json:"scrapeUrl"`
	LastError  string         `json:"lastError"`
	LastScrape time.Time      `json:"lastScrape"`
	Health     string         `json:"health"` // "up", "down" or "unknown"
}

var promVersion struct {
	once    sync.Once
	version string
	err     error
}

// StartPrometheus writes prometheus.yml from opt into a temporary
// directory and starts Prometheus (`make tools` installs it into ./bin)
// on a free port of 127.0.0.1, waiting until /-/ready answers. The test's
// Cleanup kills it.
func StartPrometheus(t TB, opt PrometheusOptions) *Prometheus {
	t.Helper()
	bin := Tool(t, "prometheus")
	if bin == "" {
		return nil
	}
	promVersion.once.Do(func() { promVersion.version, promVersion.err = prometheusVersion(bin) })
	if promVersion.err != nil {
		t.Fatalf("%s: %v", bin, promVersion.err)
		return nil
	}
	if !strings.HasPrefix(promVersion.version, strconv.Itoa(PrometheusMajor)+".") {
		t.Fatalf("%s is Prometheus %s, not %d.x, the version the tests are pinned to: run `make tools`",
			bin, promVersion.version, PrometheusMajor)
		return nil
	}
	dir, err := os.MkdirTemp("", "hotelops-prometheus-")
	if err != nil {
		t.Fatalf("temp dir: %v", err)
		return nil
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	port := FreePort(t)
	p := &Prometheus{
		Addr:       fmt.Sprintf("127.0.0.1:%d", port),
		Dir:        dir,
		ConfigFile: filepath.Join(dir, "prometheus.yml"),
		Log:        filepath.Join(dir, "prometheus.log"),
		Version:    promVersion.version,
		t:          t,
		client:     &http.Client{Timeout: 30 * time.Second},
	}
	p.URL = "http://" + p.Addr
	if err := p.writeConfig(opt); err != nil {
		t.Fatalf("prometheus config: %v", err)
		return nil
	}
	args := []string{
		"--config.file=" + p.ConfigFile,
		"--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + p.Addr,
		"--web.enable-lifecycle",
		// The first notification goes out at once either way, but one
		// that fails (Alertmanager not up yet, restarting, answering
		// 5xx, or not yet discovered) is not retried: the alert is sent
		// again only after this delay, 1m by default.
		"--rules.alert.resend-delay=5s",
	}
	if opt.Backfill != "" {
		if err := backfill(t, dir, opt.Backfill); err != nil {
			t.Fatalf("prometheus backfill: %v", err)
			return nil
		}
		// Time retention counts back from the newest block: with the
		// default 15d, history longer than that loses its start, and old
		// history all of it once a block of fresh samples is written.
		args = append(args, "--storage.tsdb.retention.time=100y")
	}
	p.d = &Daemon{Name: "prometheus", Bin: bin, Args: withOverrides(args, opt.ExtraArgs), Dir: dir, Log: p.Log}
	t.Cleanup(p.Kill)
	p.Start()
	return p
}

// backfill writes the OpenMetrics text om into dir and makes TSDB blocks
// of it in dir/data, the server's storage.tsdb.path.
func backfill(t TB, dir, om string) error {
	t.Helper()
	promtool := Tool(t, "promtool")
	if promtool == "" {
		return fmt.Errorf("promtool missing")
	}
	if !strings.HasSuffix(strings.TrimSpace(om), "# EOF") {
		return fmt.Errorf(`the OpenMetrics text must end in "# EOF"`)
	}
	file := filepath.Join(dir, "backfill.om")
	if err := os.WriteFile(file, []byte(om), 0o600); err != nil {
		return err
	}
	// promtool rereads the whole file for each block it writes: with its
	// default of 2h blocks, eleven days of history took 21 s, with 24h
	// (a hidden flag of the pinned promtool, rounded down to the 18h
	// compaction range) 3 s.
	_, err := run(promtool, "tsdb", "create-blocks-from", "--max-block-duration=24h",
		"openmetrics", "--quiet", file, filepath.Join(dir, "data"))
	return err
}

// Start (re)starts Prometheus after Stop or Kill, on the same port and
// TSDB, and waits until it is ready.
func (p *Prometheus) Start() {
	p.t.Helper()
	if err := p.d.Start(); err != nil {
		p.t.Fatalf("%v", err)
		return
	}
	if err := p.d.WaitHTTP(p.URL+"/-/ready", 60*time.Second); err != nil {
		p.d.Kill()
		p.t.Fatalf("%v\nconfig:\n%s\nlog %s:\n%s", err, p.Config(), p.Log, p.d.Tail())
	}
}

// Stop shuts Prometheus down with SIGTERM (it flushes the TSDB head) and
// waits for it to exit; it kills it after 30s.
func (p *Prometheus) Stop() error { return p.d.Stop(30 * time.Second) }

// Kill kills Prometheus at once, as a crash would.
func (p *Prometheus) Kill() { p.d.Kill() }

// Running reports whether the process is alive.
func (p *Prometheus) Running() bool { return p.d.Running() }

// LogTail is the end of Prometheus's output, for failure messages.
func (p *Prometheus) LogTail() string { return p.d.Tail() }

// Config is the prometheus.yml in use.
func (p *Prometheus) Config() string {
	b, _ := os.ReadFile(p.ConfigFile)
	return string(b)
}

// Reload asks Prometheus to reread its configuration and rule files
// (POST /-/reload); the error says why it refused them.
func (p *Prometheus) Reload() error {
	req, _ := http.NewRequest(http.MethodPost, p.URL+"/-/reload", nil)
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("reloading prometheus: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("reloading prometheus: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

// Reconfigure rewrites prometheus.yml from opt and reloads it. ExtraArgs
// are command-line flags and do not change until a restart.
func (p *Prometheus) Reconfigure(opt PrometheusOptions) error {
	if err := p.writeConfig(opt); err != nil {
		return err
	}
	return p.Reload()
}

// Query evaluates an instant query now; an expression whose result is not
// an instant vector (a scalar, say) is an error.
func (p *Prometheus) Query(ctx context.Context, expr string) (model.Vector, error) {
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := p.api(ctx, "/api/v1/query", url.Values{"query": {expr}}, &data); err != nil {
		return nil, fmt.Errorf("query %s: %w", expr, err)
	}
	if data.ResultType != "vector" {
		return nil, fmt.Errorf("query %s: result is a %s, not a vector", expr, data.ResultType)
	}
	var v model.Vector
	if err := json.Unmarshal(data.Result, &v); err != nil {
		return nil, fmt.Errorf("query %s: decoding the result: %w", expr, err)
	}
	return v, nil
}

// WaitForQuery evaluates expr every 250ms until ok accepts the result or
// ctx ends; ok nil means "not empty". It returns the last result.
func (p *Prometheus) WaitForQuery(ctx context.Context, expr string, ok func(model.Vector) bool) (model.Vector, error) {
	if ok == nil {
		ok = func(v model.Vector) bool { return len(v) > 0 }
	}
	var v model.Vector
	var err error
	for {
		v, err = p.Query(ctx, expr)
		if err == nil && ok(v) {
			return v, nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("last result %v", v)
			}
			return v, fmt.Errorf("waiting for %s: %w (%v)", expr, ctx.Err(), err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Alerts are the active (pending and firing) alerts.
func (p *Prometheus) Alerts(ctx context.Context) ([]PrometheusAlert, error) {
	var data struct {
		Alerts []PrometheusAlert `json:"alerts"`
	}
	if err := p.api(ctx, "/api/v1/alerts", nil, &data); err != nil {
		return nil, fmt.Errorf("alerts: %w", err)
	}
	return data.Alerts, nil
}

// WaitForAlert waits until an alert named alertname is in state
// ("pending" or "firing") and returns it.
func (p *Prometheus) WaitForAlert(ctx context.Context, alertname, state string) (PrometheusAlert, error) {
	var seen []PrometheusAlert
	var err error
	for {
		seen, err = p.Alerts(ctx)
		for _, a := range seen {
			if string(a.Labels[model.AlertNameLabel]) == alertname && a.State == state {
				return a, nil
			}
		}
		select {
		case <-ctx.Done():
			return PrometheusAlert{}, fmt.Errorf("waiting for alert %s %s: %w (active: %v, %v)", alertname, state, ctx.Err(), seen, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Targets are the active scrape targets.
func (p *Prometheus) Targets(ctx context.Context) ([]PrometheusTarget, error) {
	var data struct {
		Active []PrometheusTarget `json:"activeTargets"`
	}
	if err := p.api(ctx, "/api/v1/targets", url.Values{"state": {"active"}}, &data); err != nil {
		return nil, fmt.Errorf("targets: %w", err)
	}
	return data.Active, nil
}

// WaitForTarget waits until the job has targets and all of them have the
// health ("up", "down" or "unknown"), and returns them.
func (p *Prometheus) WaitForTarget(ctx context.Context, job, health string) ([]PrometheusTarget, error) {
	var mine []PrometheusTarget
	var err error
	for {
		var all []PrometheusTarget
		all, err = p.Targets(ctx)
		mine = mine[:0]
		for _, tg := range all {
			if string(tg.Labels[model.JobLabel]) == job || tg.ScrapePool == job {
				mine = append(mine, tg)
			}
		}
		good := len(mine) > 0
		for _, tg := range mine {
			good = good && tg.Health == health
		}
		if err == nil && good {
			return mine, nil
		}
		select {
		case <-ctx.Done():
			return mine, fmt.Errorf("waiting for job %s to be %s: %w (targets: %+v, %v)", job, health, ctx.Err(), mine, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// api GETs an /api/v1 endpoint and decodes its "data" into out.
func (p *Prometheus) api(ctx context.Context, path string, q url.Values, out any) error {
	u := p.URL + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	var env struct {
		Status    string          `json:"status"`
		Data      json.RawMessage `json:"data"`
		ErrorType string          `json:"errorType"`
		Error     string          `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("%s: %s: %.200q", path, resp.Status, body)
	}
	if env.Status != "success" {
		return fmt.Errorf("%s: %s: %s: %s", path, resp.Status, env.ErrorType, env.Error)
	}
	return json.Unmarshal(env.Data, out)
}

// writeConfig renders opt as prometheus.yml (and the inline rule file).
func (p *Prometheus) writeConfig(opt PrometheusOptions) error {
	y, err := prometheusConfig(opt, p.Dir)
	if err != nil {
		return err
	}
	if opt.Rules != "" {
		if err := os.WriteFile(filepath.Join(p.Dir, "rules.yml"), []byte(opt.Rules), 0o600); err != nil {
			return err
		}
	}
	// Written whole and renamed, so a reload never reads half a file.
	tmp := p.ConfigFile + ".tmp"
	if err := os.WriteFile(tmp, y, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, p.ConfigFile)
}

// prometheusConfig renders opt as YAML; dir holds the inline rule file.
func prometheusConfig(opt PrometheusOptions, dir string) ([]byte, error) {
	dur := func(d, def time.Duration) string {
		if d <= 0 {
			d = def
		}
		return model.Duration(d).String()
	}
	global := map[string]any{
		"scrape_interval":     dur(opt.ScrapeInterval, time.Second),
		"evaluation_interval": dur(opt.EvaluationInterval, time.Second),
	}
	if len(opt.ExternalLabels) > 0 {
		global["external_labels"] = opt.ExternalLabels
	}
	cfg := map[string]any{"global": global}

	var rules []string
	for _, f := range opt.RuleFiles {
		abs, err := filepath.Abs(f)
		if err != nil {
			return nil, err
		}
		rules = append(rules, abs)
	}
	if opt.Rules != "" {
		rules = append(rules, filepath.Join(dir, "rules.yml"))
	}
	if len(rules) > 0 {
		cfg["rule_files"] = rules
	}

	scrape := []any{}
	for _, j := range opt.ScrapeJobs {
		if j.JobName == "" {
			return nil, fmt.Errorf("a scrape job without a JobName")
		}
		sc := map[string]any{"job_name": j.JobName}
		if j.MetricsPath != "" {
			sc["metrics_path"] = j.MetricsPath
		}
		if len(j.Params) > 0 {
			sc["params"] = j.Params
		}
		if j.ScrapeInterval > 0 {
			sc["scrape_interval"] = dur(j.ScrapeInterval, 0)
		}
		if j.ScrapeTimeout > 0 {
			sc["scrape_timeout"] = dur(j.ScrapeTimeout, 0)
		}
		static := map[string]any{"targets": append([]string{}, j.Targets...)}
		if len(j.Labels) > 0 {
			static["labels"] = j.Labels
		}
		sc["static_configs"] = []any{static}
		for key, src := range map[string]string{"relabel_configs": j.RelabelConfigs, "metric_relabel_configs": j.MetricRelabelConfigs} {
			if strings.TrimSpace(src) == "" {
				continue
			}
			var list []any
			if err := yaml.Unmarshal([]byte(src), &list); err != nil {
				return nil, fmt.Errorf("job %s: %s is not a YAML list: %w", j.JobName, key, err)
			}
			sc[key] = list
		}
		scrape = append(scrape, sc)
	}
	if strings.TrimSpace(opt.ScrapeConfigs) != "" {
		var more []any
		if err := yaml.Unmarshal([]byte(opt.ScrapeConfigs), &more); err != nil {
			return nil, fmt.Errorf("ScrapeConfigs is not a YAML list: %w", err)
		}
		scrape = append(scrape, more...)
	}
	cfg["scrape_configs"] = scrape

	var ams []any
	for _, s := range opt.AlertmanagerURLs {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("alertmanager URL %q: want http://host:port", s)
		}
		am := map[string]any{
			"scheme":         u.Scheme,
			"api_version":    "v2",
			"timeout":        "5s",
			"static_configs": []any{map[string]any{"targets": []string{u.Host}}},
		}
		if p := strings.TrimSuffix(u.Path, "/"); p != "" {
			am["path_prefix"] = p
		}
		ams = append(ams, am)
	}
	if len(ams) > 0 {
		cfg["alerting"] = map[string]any{"alertmanagers": ams}
	}
	return yaml.Marshal(cfg)
}

// withOverrides appends extra to args, leaving out the flags of args that
// extra sets again (--no-x counts as x).
func withOverrides(args, extra []string) []string {
	name := func(a string) string {
		n, _, _ := strings.Cut(a, "=")
		if rest, ok := strings.CutPrefix(n, "--no-"); ok {
			n = "--" + rest
		}
		return n
	}
	given := map[string]bool{}
	for _, a := range extra {
		given[name(a)] = true
	}
	var out []string
	for _, a := range args {
		if !given[name(a)] {
			out = append(out, a)
		}
	}
	return append(out, extra...)
}

var promVersionLine = regexp.MustCompile(`version (\d+)\.(\d+)\.(\d+)\S*`)

// prometheusVersion is the version of the Prometheus binary, from
// --version when it was built with one (release tarballs, Debian), else
// from the Go module version that `go install` records in the binary: it
// leaves --version empty.
func prometheusVersion(bin string) (string, error) {
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("--version: %v: %s", err, out)
	}
	if m := promVersionLine.FindStringSubmatch(string(out)); m != nil {
		return m[1] + "." + m[2] + "." + m[3], nil
	}
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		return "", fmt.Errorf("--version says no version (%q) and the build info is unreadable: %v", strings.TrimSpace(string(out)), err)
	}
	if info.Main.Path != "github.com/prometheus/prometheus" {
		return "", fmt.Errorf("not built from github.com/prometheus/prometheus but %q", info.Main.Path)
	}
	return prometheusReleaseOf(info.Main.Version)
}

// prometheusReleaseOf maps the Go module version of Prometheus to its
// release: v0.316.0 is 3.16.0, v0.54.1 is 2.54.1.
func prometheusReleaseOf(modVersion string) (string, error) {
	var minor, patch int
	if _, err := fmt.Sscanf(modVersion, "v0.%d.%d", &minor, &patch); err != nil {
		return "", fmt.Errorf("module version %q is not v0.N.M: %v", modVersion, err)
	}
	if minor >= 300 {
		return fmt.Sprintf("%d.%d.%d", minor/100, minor%100, patch), nil
	}
	return fmt.Sprintf("2.%d.%d", minor, patch), nil
}

// String describes the server for test logs.
func (p *Prometheus) String() string {
	return fmt.Sprintf("prometheus %s on %s (log %s)", p.Version, p.URL, p.Log)
}
