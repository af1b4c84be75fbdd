package hotelapp

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestTrafficMix(t *testing.T) {
	s, b, h := strings.Count(trafficMix, "S"), strings.Count(trafficMix, "B"), strings.Count(trafficMix, "H")
	if s+b+h != len(trafficMix) {
		t.Fatalf("trafficMix %q has unknown kinds", trafficMix)
	}
	if conv := float64(b) / float64(s); conv < 0.10 || conv > 0.20 {
		t.Errorf("conversion of the mix is %.3f, want 0.10 to 0.20", conv)
	}
}

func TestTrafficRejectsBadConfiguration(t *testing.T) {
	for _, tr := range []*Traffic{
		{BaseURL: "http://127.0.0.1:1", RPS: -1},
		{BaseURL: "127.0.0.1:8080", RPS: 1},
		{BaseURL: "", RPS: 1},
	} {
		if err := tr.Run(context.Background()); err == nil {
			t.Errorf("Run accepted %+v", tr)
		}
	}
}

// testTraffic runs the generator against e for a few seconds: searches,
// hotel lists, bookings and logins arrive over HTTP in the mix's
// proportions, and nothing more is sent once Run has returned.
func testTraffic(t *testing.T, e *env) {
	searches0, bookings0 := e.count(`SELECT count(*) FROM searches`), e.count(`SELECT count(*) FROM bookings`)
	tr := &Traffic{BaseURL: e.srv.URL, RPS: 40, LoginRPS: 20, Client: &http.Client{Timeout: 5 * time.Second}}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("Run did not return 7s after its context ended")
	}
	mfs := e.scrape()
	search, hotels, book := requests(mfs, "200", "get", RouteSearch), requests(mfs, "200", "get", RouteHotels), requests(mfs, "201", "post", RouteBookings)
	success, failure := logins(mfs, LoginSuccess), logins(mfs, LoginFailure)
	t.Logf("3s of traffic: %v searches, %v hotel lists, %v bookings, logins %v ok %v failed", search, hotels, book, success, failure)
	if search < 30 || hotels < 5 || book < 3 {
		t.Errorf("too little traffic at 40 requests/s for 3s: %v searches, %v hotel lists, %v bookings", search, hotels, book)
	}
	if conv := book / search; conv < 0.08 || conv > 0.25 {
		t.Errorf("conversion %.3f, want about 0.15", conv)
	}
	if success < 20 || failure < 1 || failure > success/5 {
		t.Errorf("logins at 20/s for 3s: %v successes, %v failures", success, failure)
	}
	var errs float64
	for _, m := range mfs["http_requests_total"].GetMetric() {
		for _, l := range m.Label {
			if l.GetName() == "code" && l.GetValue()[0] == '5' {
				errs += m.GetCounter().GetValue()
			}
		}
	}
	if errs != 0 {
		t.Errorf("%v 5xx answers to generated traffic", errs)
	}
	// A request cancelled at the very end may have committed its row and
	// still be answered 499: allow for the few in flight then.
	if s := float64(e.count(`SELECT count(*) FROM searches`) - searches0); s < search || s > search+3 {
		t.Errorf("%v searches recorded, %v answered", s, search)
	}
	if b := float64(e.count(`SELECT count(*) FROM bookings`) - bookings0); b < book || b > book+3 {
		t.Errorf("%v bookings recorded, %v answered", b, book)
	}

	// Stopped means stopped.
	total := func() (n float64) {
		for _, m := range e.scrape()["http_requests_total"].GetMetric() {
			n += m.GetCounter().GetValue()
		}
		return n
	}
	// The server may still be finishing requests the client gave up on
	// when its context ended; those are counted when they finish. Wait
	// for the count to settle (a generator still sending at 40/s never
	// settles for 200 ms), then require that nothing new arrives.
	before := total()
	for settle := time.Now().Add(3 * time.Second); time.Now().Before(settle); {
		time.Sleep(200 * time.Millisecond)
		now := total()
		if now == before {
			break
		}
		before = now
	}
	time.Sleep(500 * time.Millisecond)
	if after := total(); after != before {
		t.Errorf("requests kept arriving after Run returned: %v, then %v", before, after)
	}
}
