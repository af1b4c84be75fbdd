package escalate

import (
	"testing"
	"time"
)

// The daily health check is at 09:00 in the spec's zone: from Tokyo's
// 08:59 it is a minute away, from 09:00 it is now, from 09:01 tomorrow,
// and across a month end it is the 1st.
func TestDailyHealthNext(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	h := &DailyHealth{Hour: 9, Zone: tokyo}
	for _, c := range []struct{ now, want string }{
		{"2026-12-02T23:59:00Z", "2026-12-03T09:00:00+09:00"}, // 08:59 in Tokyo
		{"2026-12-03T00:00:00Z", "2026-12-03T09:00:00+09:00"}, // 09:00 exactly
		{"2026-12-03T00:01:00Z", "2026-12-04T09:00:00+09:00"},
		{"2026-11-30T01:00:00Z", "2026-12-01T09:00:00+09:00"}, // 10:00 on the 30th
		{"2026-12-31T12:00:00Z", "2027-01-01T09:00:00+09:00"},
	} {
		now, _ := time.Parse(time.RFC3339, c.now)
		want, _ := time.Parse(time.RFC3339, c.want)
		if got := h.next(now); !got.Equal(want) {
			t.Errorf("from %s: %s, want %s", c.now, got, want)
		}
	}
}
