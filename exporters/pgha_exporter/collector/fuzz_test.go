package collector

import (
	"strings"
	"testing"
)

// FuzzParseTable: an accepted heartbeat table name is one or two plain
// identifiers, quoted, so it can never carry SQL of its own.
func FuzzParseTable(f *testing.F) {
	for _, s := range []string{"pgha_heartbeat", "ops.heartbeat", "a.b.c", `x"; DROP TABLE t; --`, "1abc", "", "ünïcode"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		q, err := ParseTable(name)
		if err != nil {
			return
		}
		parts := strings.Split(name, ".")
		if len(parts) > 2 {
			t.Fatalf("accepted %q", name)
		}
		want := make([]string, len(parts))
		for i, p := range parts {
			if !identPart.MatchString(p) {
				t.Fatalf("accepted part %q", p)
			}
			want[i] = `"` + p + `"`
		}
		if q != strings.Join(want, ".") {
			t.Fatalf("quoted %q as %s", name, q)
		}
	})
}
