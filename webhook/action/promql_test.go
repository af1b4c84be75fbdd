package action

import (
	"strings"
	"testing"
	"time"
)

func TestPromQLChecks(t *testing.T) {
	for _, c := range []struct {
		name, query, err string
	}{
		{"inside double quotes", `up{instance="{{.instance}}"} == 0`, ""},
		{"inside single quotes, with text around", `ALERTS{alertname='PostgresDown', instance='db-{{.instance}}:5432'}`, ""},
		{"outside quotes", `up{instance="a"} or vector({{.instance}})`, "outside a quoted string"},
		{"a label name", `up{ {{.instance}}="a"}`, "outside a quoted string"},
		{"unclosed", `up{instance="{{.instance}}}`, "not closed"},
		{"empty", `{{if false}}x{{end}}`, "empty query"},
		{"unknown label", `up{job="{{.job}}"}`, "job"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := base(TypeExec)
			cfg.Precondition = c.query
			err := cfg.Validate("actions.a")
			switch {
			case c.err == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), "actions.a.precondition") || !strings.Contains(err.Error(), c.err)):
				t.Fatalf("got %v, want actions.a.precondition: …%s…", err, c.err)
			}
		})
	}
}

func TestPromQLChecksRender(t *testing.T) {
	cfg := base(TypeExec)
	cfg.Precondition = `up{instance="{{.instance}}"} == 0`
	cfg.Postcheck = &Postcheck{Query: `up{instance="{{.instance}}"} == 1`}
	if err := cfg.Validate("actions.a"); err != nil {
		t.Fatal(err)
	}
	pre, post, within, err := cfg.Checks(map[string]string{"instance": "db-1"})
	if err != nil || pre != `up{instance="db-1"} == 0` || post != `up{instance="db-1"} == 1` || within != DefaultPostcheckWithin {
		t.Fatalf("%q %q %s %v", pre, post, within, err)
	}
	// A value that would end the string and add a selector is refused,
	// whatever quote it tries.
	for _, evil := range []string{`x"} or vector(1) #`, `x'`, "x`", `x\`, "x\n"} {
		if _, _, _, err := cfg.Checks(map[string]string{"instance": evil}); err == nil {
			t.Errorf("%q placed in a query", evil)
		}
	}
	cfg.Postcheck.Within = 0
	if _, _, w, _ := cfg.Checks(map[string]string{"instance": "db-1"}); w != 5*time.Minute {
		t.Errorf("default within %s", w)
	}
}
