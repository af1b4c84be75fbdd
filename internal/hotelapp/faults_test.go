package hotelapp

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestParseFaults(t *testing.T) {
	good := []struct {
		in   string
		want Faults
	}{
		{`{}`, Faults{}},
		{`{"error_ratio": 1}`, Faults{ErrorRatio: 1}},
		{`{"error_ratio": 0.25, "latency": "1500ms", "login_failure_ratio": 0.5}`,
			Faults{ErrorRatio: 0.25, Latency: 1500 * time.Millisecond, LoginFailureRatio: 0.5}},
		{` {"latency": "60s"} ` + "\n", Faults{Latency: time.Minute}},
		{`{"latency": "0s"}`, Faults{}},
	}
	for _, c := range good {
		got, err := ParseFaults([]byte(c.in))
		if err != nil || got != c.want {
			t.Errorf("ParseFaults(%s) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	bad := []struct{ in, msg string }{
		{``, "empty body"},
		{`{"error_rate": 0.5}`, `unknown field "error_rate"`},
		{`{"error_ratio": 1.5}`, "error_ratio 1.5 is out of range"},
		{`{"error_ratio": -0.1}`, "error_ratio -0.1 is out of range"},
		{`{"login_failure_ratio": 2}`, "login_failure_ratio 2 is out of range"},
		{`{"latency": "61s"}`, "latency 1m1s is out of range"},
		{`{"latency": "-1s"}`, "latency -1s is out of range"},
		{`{"latency": "soon"}`, `latency "soon" is not a Go duration`},
		{`{"latency": 1500}`, "invalid faults JSON"},
		{`{"error_ratio": "0.5"}`, "invalid faults JSON"},
		{`{} {}`, "data after the object"},
		{`[]`, "invalid faults JSON"},
		{`{"error_ratio": 0.5`, "invalid faults JSON"},
		{`{"ERROR_RATIO": 0.5}`, `unknown field "ERROR_RATIO"`},
		{`{"error_ratio": null}`, "error_ratio must be a number"},
		{`{"latency": ""}`, `latency "" is not a Go duration`},
		{`{"error_ratio": 0.1, "error_ratio": 0.2}`, `field "error_ratio" given twice`},
		{`{"error_ratio": 1e400}`, "invalid faults JSON"},
		{`null`, "invalid faults JSON"},
	}
	for _, c := range bad {
		got, err := ParseFaults([]byte(c.in))
		if err == nil {
			t.Errorf("ParseFaults(%s) = %+v, want an error containing %q", c.in, got, c.msg)
			continue
		}
		if !strings.Contains(err.Error(), c.msg) {
			t.Errorf("ParseFaults(%s) error %q does not contain %q", c.in, err, c.msg)
		}
	}
}

func TestFaultsJSONRoundTrip(t *testing.T) {
	f := Faults{ErrorRatio: 0.1, Latency: 1500 * time.Millisecond, LoginFailureRatio: 1}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"error_ratio":0.1,"latency":"1.5s","login_failure_ratio":1}`; string(b) != want {
		t.Errorf("Marshal = %s, want %s", b, want)
	}
	var back Faults
	if err := json.Unmarshal(b, &back); err != nil || back != f {
		t.Errorf("Unmarshal(%s) = %+v, %v; want %+v", b, back, err, f)
	}
	if err := json.Unmarshal([]byte(`{"error_ratio": 3}`), &back); err == nil {
		t.Errorf("Unmarshal does not validate")
	}
}

// FuzzParseFaults checks that whatever ParseFaults accepts is in range and
// survives a round trip through its JSON form.
func FuzzParseFaults(f *testing.F) {
	for _, s := range []string{
		`{}`,
		`{"error_ratio": 0.5, "latency": "1500ms", "login_failure_ratio": 0.25}`,
		`{"latency": "60s"}`,
		`{"latency": "1h"}`,
		`{"latency": "-1ns"}`,
		`{"error_ratio": 1e-320}`,
		`{"error_ratio": 1.0000000000000002}`,
		`{"error_ratio": null, "latency": null}`,
		`{"ERROR_RATIO": 1}`,
		`{"error_ratio": 0.5, "error_ratio": 2}`,
		`{"x": 1}`,
		`{} trailing`,
		`"string"`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ParseFaults(data)
		if err != nil {
			if got != (Faults{}) {
				t.Fatalf("error %v with non-zero faults %+v", err, got)
			}
			return
		}
		if !(got.ErrorRatio >= 0 && got.ErrorRatio <= 1) || !(got.LoginFailureRatio >= 0 && got.LoginFailureRatio <= 1) {
			t.Fatalf("ratio out of range accepted: %+v from %q", got, data)
		}
		if got.Latency < 0 || got.Latency > MaxLatency {
			t.Fatalf("latency out of range accepted: %v from %q", got.Latency, data)
		}
		b, err := json.Marshal(got)
		if err != nil {
			t.Fatalf("marshal %+v: %v", got, err)
		}
		back, err := ParseFaults(b)
		if err != nil || back != got {
			t.Fatalf("round trip of %+v through %s: %+v, %v", got, b, back, err)
		}
	})
}
