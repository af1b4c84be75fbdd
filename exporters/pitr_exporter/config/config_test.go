package config

import (
	"strings"
	"testing"
	"time"
)

const minimal = "s3:\n  endpoint: localhost:9000\n  bucket: backups\n"

func TestDefaultsEncodeTheSpec(t *testing.T) {
	c, err := Parse("pitr.yml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	full, incr := c.Policy.Backups["full"], c.Policy.Backups["incr"]
	if full.Daily != "03:00" || time.Duration(full.Retention) != 30*24*time.Hour {
		t.Errorf("full: %+v", full)
	}
	if time.Duration(incr.Every) != 6*time.Hour || time.Duration(incr.Retention) != 7*24*time.Hour {
		t.Errorf("incr: %+v", incr)
	}
	if time.Duration(c.Policy.PITRWindow) != 7*24*time.Hour || time.Duration(c.Policy.RPO) != 15*time.Minute || c.Policy.Location.String() != "Asia/Tokyo" {
		t.Errorf("policy: %+v", c.Policy)
	}
}

func TestOverridesMergeByType(t *testing.T) {
	c, err := Parse("pitr.yml", []byte(minimal+"policy:\n  backups:\n    incr: {every: 4h, retention: 3d}\n    diff: {daily: '12:00', retention: 14d}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(c.Policy.Backups["incr"].Every) != 4*time.Hour || c.Policy.Backups["full"].Daily != "03:00" || c.Policy.Backups["diff"].Daily != "12:00" {
		t.Errorf("backups %+v", c.Policy.Backups)
	}
}

func TestErrorsNameLineAndField(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"s3:\n  endpoint: http://x:9000/\n  bucket: b\n", "pitr.yml:2: s3.endpoint: want host:port"},
		{minimal + "repository:\n  type: barman\n", "pitr.yml:5: repository.type: want pgbackrest or walg"},
		{minimal + "policy:\n  backups:\n    incr: {daily: '25:00', retention: 1d}\n", "pitr.yml:6: policy.backups.incr.daily: want HH:MM"},
		{minimal + "policy:\n  backups:\n    incr: {every: 1h}\n", "pitr.yml:6: policy.backups.incr.retention"},
		{minimal + "policy:\n  timezone: Mars/Olympus\n", "pitr.yml:5: policy.timezone"},
		{minimal + "refresh:\n  interval: 10s\n  timeout: 1m\n", "pitr.yml:6: refresh.timeout: must not exceed"},
		{minimal + "repository:\n  wal_segment_size: 1000\n", "pitr.yml:5: repository.wal_segment_size"},
		{minimal + "s3x: 1\n", "field s3x not found"},
	} {
		_, err := Parse("pitr.yml", []byte(c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.yaml, err, c.want)
		}
	}
}

func TestNextDue(t *testing.T) {
	c, _ := Parse("pitr.yml", []byte(minimal))
	p := &c.Policy
	tokyo := p.Location
	at := func(d, h, m int) time.Time { return time.Date(2026, 11, d, h, m, 0, 0, tokyo) }
	now := at(28, 12, 0)
	full := p.Backups["full"]
	for _, c := range []struct{ last, want time.Time }{
		{at(28, 3, 5), at(29, 3, 0)},  // today's ran: tomorrow's is next
		{at(28, 2, 30), at(29, 3, 0)}, // a little early still counts for today
		{at(28, 1, 0), at(28, 3, 0)},  // an ad hoc backup at 01:00 does not
		{time.Time{}, now},            // none yet: due now
	} {
		if got := p.NextDue(full, c.last, now); !got.Equal(c.want) {
			t.Errorf("last %s: next %s, want %s", c.last, got, c.want)
		}
	}
	if got := p.NextDue(p.Backups["incr"], at(28, 9, 0), now); !got.Equal(at(28, 15, 0)) {
		t.Errorf("incr next %s", got)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte(minimal + "replica:\n  s3: {endpoint: 'a:1', bucket: r}\npolicy: {rpo: 5m}\n"))
	f.Add([]byte("repository: {type: walg}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if c.Policy.Location == nil || c.Refresh.Timeout > c.Refresh.Interval || c.S3.Bucket == "" {
			t.Fatalf("accepted %+v", c)
		}
	})
}
