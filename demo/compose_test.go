package main

// docker-compose.yml cannot be run here (no Docker engine), so these
// tests check what can be checked without one: every configuration it
// carries loads in the program that reads it, every hotel-ops command it
// runs is in the image, and its escalation policies are the shipped ones.

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	slaconfig "github.com/hotel-ops/hotel-ops/exporters/sla_exporter/config"
	"github.com/hotel-ops/hotel-ops/exporters/sla_exporter/examples"
	"github.com/hotel-ops/hotel-ops/internal/testenv"
	"github.com/hotel-ops/hotel-ops/webhook/api"
	"github.com/hotel-ops/hotel-ops/webhook/config"
	"github.com/hotel-ops/hotel-ops/webhook/notify"
)

type composeFile struct {
	Services map[string]struct {
		Build   string  `yaml:"build"`
		Command command `yaml:"command"`
		Configs []struct {
			Source, Target string
		} `yaml:"configs"`
	} `yaml:"services"`
	Configs map[string]struct {
		Content string `yaml:"content"`
	} `yaml:"configs"`
}

// command is a service's command: a list, or a string compose splits
// as a shell would (here: at spaces, enough for the commands compared).
type command []string

func (c *command) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*c = strings.Fields(n.Value)
		return nil
	}
	return n.Decode((*[]string)(c))
}

func readCompose(t *testing.T) composeFile {
	t.Helper()
	data, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return c
}

// content is the compose config a service mounts at target, written to a
// file of the same base name.
func content(t *testing.T, c composeFile, service, target string) string {
	t.Helper()
	for _, m := range c.Services[service].Configs {
		if m.Target == target {
			file := filepath.Join(t.TempDir(), filepath.Base(target))
			if err := os.WriteFile(file, []byte(c.Configs[m.Source].Content), 0o600); err != nil {
				t.Fatal(err)
			}
			return file
		}
	}
	t.Fatalf("docker-compose.yml: service %s mounts nothing at %s", service, target)
	return ""
}

func TestComposeEscalatorConfigLoads(t *testing.T) {
	c := readCompose(t)
	cfg, err := config.Load(content(t, c, "escalator", "/etc/escalator/escalator.yml"))
	if err != nil {
		t.Fatalf("escalator's configuration in docker-compose.yml: %v", err)
	}
	for name, ch := range cfg.Channels {
		if _, err := notify.New(name, ch, nil); err != nil {
			t.Errorf("channel %s: %v", name, err)
		}
	}
	// Every file the configuration and the command name is mounted.
	mounted := map[string]bool{}
	for _, m := range c.Services["escalator"].Configs {
		mounted[m.Target] = true
	}
	need := []string{cfg.AckLinks.SecretFile, cfg.ConsoleUsersFile}
	for _, arg := range c.Services["escalator"].Command {
		if v, ok := strings.CutPrefix(arg, "--api.token-file="); ok {
			need = append(need, v)
		}
	}
	for _, f := range need {
		if !mounted[f] {
			t.Errorf("escalator reads %s, which docker-compose.yml does not mount", f)
		}
	}
}

// sla_exporter's configuration loads, every file it reads is mounted,
// and it is the shipped example with only the servers changed.
func TestComposeSLAConfigLoads(t *testing.T) {
	c := readCompose(t)
	got, err := slaconfig.Load(content(t, c, "sla_exporter", "/etc/sla_exporter/sla.yml"))
	if err != nil {
		t.Fatalf("sla_exporter's configuration in docker-compose.yml: %v", err)
	}
	mounted := map[string]bool{}
	for _, m := range c.Services["sla_exporter"].Configs {
		mounted[m.Target] = true
	}
	for _, f := range []string{got.Database.DSNFile, got.Escalator.TokenFile} {
		if !mounted[f] {
			t.Errorf("sla_exporter reads %s, which docker-compose.yml does not mount", f)
		}
	}
	if !slices.Contains(c.Services["sla_exporter"].Command, "--config.file=/etc/sla_exporter/sla.yml") {
		t.Errorf("sla_exporter runs %q, not with the mounted configuration", c.Services["sla_exporter"].Command)
	}
	want, err := slaconfig.Parse("hotel.yml", examples.Hotel)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct{ what, got, want string }{
		{"redis.addr", got.Redis.Addr, "redis:6379"},
		{"sla.prometheus_url", got.SLA.PrometheusURL, "http://prometheus:9090"},
		{"escalator.url", got.Escalator.URL, "http://escalator:9096"},
	} {
		if s.got != s.want {
			t.Errorf("%s is %q, want this compose's %q", s.what, s.got, s.want)
		}
	}
	want.Redis.Addr, want.SLA.PrometheusURL, want.Escalator.URL = got.Redis.Addr, got.SLA.PrometheusURL, got.Escalator.URL
	g, err := yaml.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := yaml.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if string(g) != string(w) {
		t.Errorf("sla_exporter's configuration in docker-compose.yml is not exporters/sla_exporter/examples/hotel.yml with this compose's servers:\n%s\nwant:\n%s", g, w)
	}
}

// The console's demo account, as compose hands it to escalator ("$$" is
// compose's escape of "$"), signs in with the password the comments name.
func TestComposeConsoleAccount(t *testing.T) {
	c := readCompose(t)
	file := content(t, c, "escalator", "/etc/escalator/console-users.yml")
	data := strings.ReplaceAll(string(mustRead(t, file)), "$$", "$")
	users, err := api.ConsoleUsers(file)([]byte(data))
	if err != nil {
		t.Fatalf("the console users file in docker-compose.yml: %v", err)
	}
	if !users.Check("demo", "demo-console") {
		t.Error("demo / demo-console does not sign in to the compose console")
	}
}

// The compose policies are the shipped ones (generated from the spec),
// step for step: escalator sends every first page and escalation there as
// in service, to channels that all deliver to the mailbox.
func TestComposePoliciesAreTheShippedOnes(t *testing.T) {
	c := readCompose(t)
	compose, err := config.Load(content(t, c, "escalator", "/etc/escalator/escalator.yml"))
	if err != nil {
		t.Fatal(err)
	}
	shipped, err := config.Load("../alertmanager/escalator.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(compose.Policies) != len(shipped.Policies) {
		t.Errorf("%d policies in docker-compose.yml, %d shipped", len(compose.Policies), len(shipped.Policies))
	}
	for i, want := range shipped.Policies {
		if i >= len(compose.Policies) {
			break
		}
		got := compose.Policies[i]
		if got.Name != want.Name || !slices.Equal(got.Matchers, want.Matchers) {
			t.Errorf("policy %d: %s %q in docker-compose.yml, %s %q shipped (order matters: the first match wins)", i, got.Name, got.Matchers, want.Name, want.Matchers)
			continue
		}
		if !reflect.DeepEqual(got.Steps, want.Steps) {
			t.Errorf("policy %s: steps %+v in docker-compose.yml, %+v shipped", want.Name, got.Steps, want.Steps)
		}
	}
}

func TestComposeAlertmanagerConfigChecks(t *testing.T) {
	amtool := testenv.Tool(t, "amtool")
	c := readCompose(t)
	file := content(t, c, "alertmanager", "/etc/alertmanager/alertmanager.yml")
	res, err := exec.Command(amtool, "check-config", file).CombinedOutput()
	if err != nil || !strings.Contains(string(res), "SUCCESS") {
		t.Fatalf("amtool check-config on docker-compose.yml's alertmanager.yml: %v\n%s", err, res)
	}
	m := regexp.MustCompile(`credentials_file: ([^\s}]+)`).FindStringSubmatch(string(mustRead(t, file)))
	if m == nil {
		t.Fatal("Alertmanager's webhook to escalator has no credentials file")
	}
	if !slices.ContainsFunc(c.Services["alertmanager"].Configs, func(c struct{ Source, Target string }) bool { return c.Target == m[1] }) {
		t.Errorf("Alertmanager reads escalator's token from %s, which docker-compose.yml does not mount", m[1])
	}
}

func TestComposePrometheusConfigChecks(t *testing.T) {
	promtool := testenv.Tool(t, "promtool")
	c := readCompose(t)
	file := content(t, c, "prometheus", "/etc/prometheus/prometheus.yml")
	// The rules are mounted from ./rules; promtool reads them from here.
	rules, err := filepath.Abs("../rules")
	if err != nil {
		t.Fatal(err)
	}
	conf := strings.ReplaceAll(string(mustRead(t, file)), "/etc/prometheus/rules/", rules+"/")
	if conf == string(mustRead(t, file)) {
		t.Fatal("docker-compose.yml's prometheus.yml does not read the rules from /etc/prometheus/rules/")
	}
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := exec.Command(promtool, "check", "config", file).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check config on docker-compose.yml's prometheus.yml: %v\n%s", err, res)
	}
	// Each job the rules select is scraped (pgha, sla and escalator run here).
	for _, job := range []string{"pgha", "sla", "escalator"} {
		if !regexp.MustCompile(`job_name: ` + job + `\b`).MatchString(conf) {
			t.Errorf("docker-compose.yml's Prometheus does not scrape job %s", job)
		}
	}
}

// Each hotel-ops command a service built from the Dockerfile runs is
// one the Dockerfile builds.
func TestComposeCommandsAreInTheImage(t *testing.T) {
	dockerfile := string(mustRead(t, "../Dockerfile"))
	m := regexp.MustCompile(`go build -o /out/ (.+)`).FindStringSubmatch(dockerfile)
	if m == nil {
		t.Fatal("Dockerfile: no `go build -o /out/` line")
	}
	cmd := exec.Command("go", append([]string{"list", "-f", "{{if eq .Name \"main\"}}{{.ImportPath}}{{end}}"}, strings.Fields(m[1])...)...)
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v", m[1], err)
	}
	built := map[string]bool{}
	for _, p := range strings.Fields(string(out)) {
		built[filepath.Base(p)] = true
	}
	c := readCompose(t)
	n := 0
	for name, s := range c.Services {
		if s.Build == "" {
			continue
		}
		n++
		if len(s.Command) == 0 || !built[s.Command[0]] {
			t.Errorf("service %s runs %q, which the Dockerfile does not build (it builds %v)", name, s.Command, built)
		}
	}
	if n < 2 {
		t.Errorf("%d services are built from the Dockerfile, want pgha_exporter and escalator", n)
	}
}

func mustRead(t *testing.T, file string) []byte {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
