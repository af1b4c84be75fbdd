package config

import (
	"strings"
	"testing"
)

// FuzzParseTargets: any input gives a config or an error, never a panic,
// and an accepted config names only valid targets with one source each.
func FuzzParseTargets(f *testing.F) {
	f.Add([]byte("targets:\n  primary:\n    dsn: host=127.0.0.1\n"))
	f.Add([]byte("targets:\n  a:\n    dsn_file: /x\n  b:\n    dsn_env: Y\n"))
	f.Add([]byte("targets: [1, 2]\n"))
	f.Add([]byte("targets:\n  a: {dsn: 'postgres://u:p@h:1/d', dsn_env: x}\n"))
	f.Add([]byte("&a [*a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ts, err := parseTargets("fuzz.yml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if len(ts.Targets) == 0 {
			t.Fatal("accepted a config without targets")
		}
		for name, src := range ts.Targets {
			if !targetName.MatchString(name) {
				t.Fatalf("accepted target name %q", name)
			}
			n := 0
			for _, v := range []string{src.DSN, src.File, src.Env} {
				if v != "" {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("accepted target %q with %d sources", name, n)
			}
		}
	})
}

// FuzzDSNNeverLeaksPassword: whatever the DSN around it, a password never
// appears in an error or in the description that is logged.
func FuzzDSNNeverLeaksPassword(f *testing.F) {
	f.Add("host=127.0.0.1 port=5432 user=x", "hunter2secret", false)
	f.Add("host=h port=notaport", "hunter2secret", false)
	f.Add("postgres://u:%s@h:5432/db", "hunter2secret", true)
	f.Add("postgres://u:%s@h:xx/db?sslmode=bogus", "p@ss:w/rd99", true)
	f.Add("postgresql://u:%s@[::1/db", "zzzzzzzz", true)
	f.Add("host='unterminated", "abcdefgh", false)
	f.Fuzz(func(t *testing.T, around, password string, url bool) {
		if len(password) < 8 || strings.ContainsAny(password, " '\\\x00") {
			return // short passwords match by chance; these bytes end a value
		}
		var dsn string
		if url {
			dsn = strings.Replace(around, "%s", password, 1)
			if !strings.Contains(dsn, password) {
				return
			}
		} else {
			dsn = around + " password=" + password
		}
		if strings.Count(dsn, password) > 1 || strings.Contains(strings.ReplaceAll(dsn, password, ""), password[:4]) {
			return // the password text is also elsewhere in the DSN
		}
		cfg, err := ParseDSN(dsn)
		if err != nil {
			if strings.Contains(err.Error(), password) {
				t.Fatalf("error leaks the password: %v", err)
			}
			_, rerr := Source{DSN: dsn}.Resolve()
			if rerr == nil || strings.Contains(rerr.Error(), password) {
				t.Fatalf("Resolve: %v", rerr)
			}
			return
		}
		if cfg.ConnConfig.Password != password {
			return // the text landed in another field (a host, say): not a password
		}
		if d := Describe(&cfg.ConnConfig.Config); strings.Contains(d, password) {
			t.Fatalf("description leaks the password: %s", d)
		}
	})
}
