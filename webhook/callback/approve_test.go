package callback

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/hotel-ops/hotel-ops/webhook/action"
	"github.com/hotel-ops/hotel-ops/webhook/escalate"
	"github.com/hotel-ops/hotel-ops/webhook/policy"
)

// The Approve button of a step's action that needs approval (a standard
// change), clicked in Slack: the signed interaction approves it as the
// person who clicked, and the run goes ahead, once; a forged button
// (another action's name in its value) approves nothing.
func TestSlackButtonApproves(t *testing.T) {
	w := newWorld(t, both(t), nil)
	var purged atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { purged.Add(1) }))
	defer target.Close()
	var pol policy.File
	if err := yaml.Unmarshal([]byte(`policies:
  - {name: page, matchers: ['severity="critical"'], steps: [{after: 0s, actions: [purge], notify: [slack]}]}
`), &pol); err != nil {
		t.Fatal(err)
	}
	if err := pol.Validate(map[string]bool{"slack": true}, map[string]bool{"purge": true}); err != nil {
		t.Fatal(err)
	}
	no := false
	cfg := action.Config{Type: action.TypeHTTP, Category: action.CategoryStandard, Rollback: "none", DryRun: &no, URL: target.URL + "/purge"}
	a, err := action.New("purge", cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.eng.Policies = &pol
	w.eng.Actions = map[string]escalate.Action{"purge": {Config: &cfg, Run: a}}

	id := w.open(t, "HotelAppDown")
	if _, err := w.eng.Step(bg); err != nil {
		t.Fatal(err)
	}
	if _, err := w.eng.RunActionsDue(bg, "purge"); err != nil { // asks for approval
		t.Fatal(err)
	}
	if _, err := w.eng.SendDue(bg, "", 100); err != nil {
		t.Fatal(err)
	}
	msgs := w.slack.messages()
	var m struct {
		Blocks []struct {
			BlockID  string        `json:"block_id"`
			Elements []slackButton `json:"elements"`
		} `json:"blocks"`
	}
	if len(msgs) == 0 || json.Unmarshal(msgs[len(msgs)-1], &m) != nil {
		t.Fatalf("no Slack message: %q", msgs)
	}
	var approve slackButton
	for _, b := range m.Blocks {
		for _, e := range b.Elements {
			if strings.HasPrefix(e.ActionID, "approve:") {
				approve, approve.BlockID = e, b.BlockID
			}
		}
	}
	if approve.ActionID != "approve:purge" || approve.Value != id+" purge" || !strings.Contains(approve.URL, "/approve?") {
		t.Fatalf("Approve button %+v in %s", approve, msgs[len(msgs)-1])
	}

	forged := approve
	forged.Value = id + " other"
	if code := w.slackClick(t, click(forged, "mallory")); code != http.StatusOK {
		t.Fatalf("forged click: %d", code)
	}
	if n, _ := w.eng.RunActionsDue(bg, "purge"); n != 0 || purged.Load() != 0 {
		t.Fatalf("a forged button approved: %d runs, %d purges", n, purged.Load())
	}
	if code := w.slackClick(t, click(approve, "alice")); code != http.StatusOK {
		t.Fatalf("click: %d", code)
	}
	if _, err := w.eng.RunActionsDue(bg, "purge"); err != nil {
		t.Fatal(err)
	}
	if purged.Load() != 1 {
		t.Fatalf("purged %d times after the approval, want 1", purged.Load())
	}
	entries, err := w.st.Audit(bg, id, 50)
	if err != nil {
		t.Fatal(err)
	}
	var by string
	for _, e := range entries {
		if e.Action == "action_approved" {
			by = e.Detail
		}
	}
	if !strings.Contains(by, "approved by slack:alice") {
		t.Errorf("approval recorded as %q", by)
	}
	// Clicked again: nothing waits, nothing runs.
	if code := w.slackClick(t, click(approve, "alice")); code != http.StatusOK {
		t.Errorf("second click: %d", code)
	}
	w.eng.RunActionsDue(bg, "purge")
	if purged.Load() != 1 {
		t.Errorf("purged %d times after a second click", purged.Load())
	}
}
