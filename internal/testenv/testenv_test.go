package testenv

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// recorder is a TB that records instead of ending the test.
type recorder struct {
	fatal, skip string
}

func (*recorder) Helper()                        {}
func (*recorder) Cleanup(func())                 {}
func (*recorder) Logf(string, ...any)            {}
func (r *recorder) Fatalf(f string, args ...any) { r.fatal = fmt.Sprintf(f, args...) }
func (r *recorder) Skipf(f string, args ...any)  { r.skip = fmt.Sprintf(f, args...) }

func TestMissingFailsInCIAndSkipsElsewhere(t *testing.T) {
	t.Setenv("CI", "true")
	var r recorder
	Missing(&r, "redis-server", "sudo apt-get install -y redis-server")
	if r.fatal == "" || r.skip != "" || !strings.Contains(r.fatal, "apt-get install -y redis-server") {
		t.Errorf("CI=true: fatal=%q skip=%q", r.fatal, r.skip)
	}
	t.Setenv("CI", "")
	r = recorder{}
	Missing(&r, "redis-server", "sudo apt-get install -y redis-server")
	if r.skip == "" || r.fatal != "" || !strings.Contains(r.skip, "make test") {
		t.Errorf("no CI: fatal=%q skip=%q", r.fatal, r.skip)
	}
}

func TestRedisAnswersOnLoopback(t *testing.T) {
	r := StartRedis(t)
	c, err := net.DialTimeout("tcp", r.Addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	fmt.Fprintf(c, "SET k v\r\nGET k\r\n")
	rd := bufio.NewReader(c)
	var lines []string
	for i := 0; i < 3; i++ {
		l, err := rd.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, strings.TrimSpace(l))
	}
	if got := strings.Join(lines, " "); got != "+OK $1 v" {
		t.Errorf("redis replied %q", got)
	}
}

func TestPrimaryAndStandbyReplicate(t *testing.T) {
	p := StartPrimary(t, "p", PrimaryOptions{})
	s := StartStandby(t, p, "s1")
	p.Exec("CREATE TABLE r (v text)")
	p.Exec("INSERT INTO r VALUES ('replicated')")
	c := s.Connect("postgres")
	deadline := time.Now().Add(10 * time.Second)
	for {
		var v string
		err := c.QueryRow(t.Context(), "SELECT v FROM r").Scan(&v)
		if err == nil && v == "replicated" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("row not on the standby after 10s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var app string
	if err := p.Connect("postgres").QueryRow(t.Context(), "SELECT application_name FROM pg_stat_replication").Scan(&app); err != nil || app != "s1" {
		t.Errorf("standby application_name %q, %v", app, err)
	}
}

func TestPgBackRestArchivesIntoS3(t *testing.T) {
	s3 := StartS3(t)
	conf := NewPgBackRestConfigPath(t)
	p := StartPrimary(t, "p", PrimaryOptions{ArchiveCommand: PgBackRestArchiveCommand(conf, "main")})
	b := StartPgBackRest(t, conf, p, s3, PgBackRestOptions{})
	b.Backup("full")
	out := b.Run("info", "--output=json")
	if !strings.Contains(out, `"type":"full"`) {
		t.Errorf("pgbackrest info: %s", out)
	}
}
