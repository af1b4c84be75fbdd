package yamlconf

import (
	"errors"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

type conf struct {
	Name  string         `yaml:"name"`
	Items map[string]int `yaml:"items"`
}

func (c *conf) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, Fieldf("name", "is required"))
	}
	for k, v := range c.Items {
		if v < 0 {
			errs = append(errs, Fieldf("items."+k, "must not be negative, got %d", v))
		}
	}
	return errors.Join(errs...)
}

func TestParseReportsFileLineField(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"name: x\nitems:\n  a: 1\n  b: -2\n", "c.yml:4: items.b: must not be negative, got -2"},
		{"items:\n  a: 1\n", "c.yml:1: name: is required"},
		{"name: x\nnmae: y\n", "c.yml: yaml: unmarshal errors: line 2: field nmae not found"},
		{"name: [\n", "c.yml: yaml: line 1"},
		{"", "c.yml: empty configuration file"},
	} {
		var v conf
		err := Parse("c.yml", []byte(c.in), &v)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.in, err, c.want)
		}
	}
	var v conf
	if err := Parse("c.yml", []byte("name: ok\nitems: {a: 1}\n"), &v); err != nil || v.Items["a"] != 1 {
		t.Errorf("valid config: %v %+v", err, v)
	}
}

func TestCheckerAndSetKeys(t *testing.T) {
	v := &Checker{Path: "channels.a", Type: "slack"}
	v.Secret("webhook_url", "", "", true)
	v.Secret("token", "f", "e", false)
	d := &Checker{Path: "diagnostics[0]"}
	d.Secret("dsn", "", "", true)
	got := []string{}
	for _, err := range []error{v.Err(), d.Err()} {
		got = append(got, err.Error())
	}
	want := []string{
		"channels.a.webhook_url_file: required for type slack (or webhook_url_env)\nchannels.a.token_file: set only one of token_file and token_env",
		"diagnostics[0].dsn_file: required (or dsn_env)",
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("got %q, want %q", got[i], want[i])
		}
	}
	if (&Checker{}).Err() != nil {
		t.Error("no problem recorded, yet an error")
	}
	type entry struct {
		A string            `yaml:"a"`
		B []string          `yaml:"b,omitempty"`
		C map[string]string `yaml:"c"`
		D int               `yaml:"d"`
		E string            `yaml:"-"`
	}
	keys := SetKeys(&entry{A: "x", B: []string{}, C: map[string]string{"k": "v"}, E: "y"})
	if strings.Join(keys, ",") != "a,c" {
		t.Errorf("SetKeys: %v, want a,c", keys)
	}
}

// A path into a list ("diagnostics[1].type") points at that element's
// line, and its field's.
func TestFindListIndexes(t *testing.T) {
	var root yaml.Node
	src := "diagnostics:\n  - name: a\n    type: http\n  - name: b\n    type: tpc\nm:\n  x: [1, 2]\n"
	if err := yaml.Unmarshal([]byte(src), &root); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]int{
		"diagnostics[1].type": 5, "diagnostics[1]": 4, "diagnostics[0].name": 2,
		"diagnostics[7].type": 1, "m.x[1]": 7, "diagnostics[x].type": 1,
	} {
		if got := Line(&root, path); got != want {
			t.Errorf("%s: line %d, want %d", path, got, want)
		}
	}
	if _, whole := Find(&root, "diagnostics[1].nope"); whole {
		t.Error("a missing field found")
	}
}
