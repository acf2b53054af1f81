package scenariotest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/agent"
)

// RecordTimelinesEnv names a directory: when set, KillMatrix writes there the timeline of every
// failed public scenario it grades, as JSON (<challenge>.<row>.<scenario>.json), to be
// normalised into grading/testdata/timeline/.
const RecordTimelinesEnv = "HOLDFAST_RECORD_TIMELINES"

// characteristic is, per challenge, a kill-matrix row whose failure is the challenge's
// characteristic one, and what its timeline must show for a learner to see it happen. The
// check runs on the row's real grading (KillMatrix); none adds a grading of its own.
var characteristic = map[string]timelineCheck{
	"idempotent-payments": {Row: "broken-no-provider-key", Scenario: "timeout_handling", Check: doubleChargeAfterTimeout},
}

type timelineCheck struct {
	Row, Scenario string
	Check         func(tl *scenarios.Timeline) error
}

// checkTimelines holds a real grading's timelines to their rule: every failed public scenario
// has one that is not empty, no other scenario has one (a hidden scenario's would give it away),
// and the challenge's characteristic failure shows its characteristic events.
func checkTimelines(t *testing.T, ch grading.Challenge, row Row, v grading.Verdict) {
	t.Helper()
	for _, r := range v.Scenarios {
		switch {
		case r.Outcome == grading.OutcomeFailed && r.Visibility == scenarios.Public:
			if r.Timeline == nil || len(r.Timeline.Events) == 0 {
				t.Errorf("%s failed and is public, but has no timeline to show", r.Slug)
				continue
			}
			if r.Timeline.Note != "" {
				t.Errorf("%s: timeline incomplete: %s", r.Slug, r.Timeline.Note)
			}
			if len(r.Timeline.Events) > scenarios.MaxTimeline+1 {
				t.Errorf("%s: timeline of %d events; want at most %d and a gap", r.Slug, len(r.Timeline.Events), scenarios.MaxTimeline+1)
			}
			record(t, ch.Slug, row.Dir, r)
		case r.Timeline != nil:
			t.Errorf("%s (%s, %s) has a timeline; only failed public scenarios may", r.Slug, r.Visibility, r.Outcome)
		}
	}
	c, ok := characteristic[ch.Slug]
	if !ok || c.Row != row.Dir {
		return
	}
	for _, r := range v.Scenarios {
		if r.Slug != c.Scenario {
			continue
		}
		if r.Timeline == nil {
			t.Fatalf("%s: no timeline", r.Slug)
		}
		if err := c.Check(r.Timeline); err != nil {
			t.Errorf("%s's timeline does not show its failure: %v\n%s", r.Slug, err, strings.Join(grading.TimelineText(r.Timeline), "\n"))
		}
		return
	}
	t.Errorf("no scenario %s in the grading of %s", c.Scenario, row.Dir)
}

func record(t *testing.T, challenge, row string, r grading.ScenarioResult) {
	dir := os.Getenv(RecordTimelinesEnv)
	if dir == "" {
		return
	}
	b, err := json.MarshalIndent(r.Timeline, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, fmt.Sprintf("%s.%s.%s.json", challenge, row, r.Slug))
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded %s's timeline in %s", r.Slug, path)
}

var paymentIDRE = regexp.MustCompile(`"payment_id"\s*:\s*"([^"]+)"`)

// doubleChargeAfterTimeout: the provider was told to charge and hang once; the app's first
// charge was made and held, the app answered the harness anyway, and the retry charged the same
// payment again.
func doubleChargeAfterTimeout(tl *scenarios.Timeline) error {
	fault, charges := false, map[string]int{}
	var appCalls []agent.Event
	for _, e := range tl.Events {
		switch {
		case e.Kind == agent.EventFault && e.To == "provider" && strings.HasPrefix(e.What, string(agent.ModeChargeThenHang)):
			fault = true
		case e.Kind == agent.EventRequest && e.To == "provider" && strings.Contains(e.Note, "charged "):
			if m := paymentIDRE.FindStringSubmatch(e.Body); m != nil {
				charges[m[1]]++
			}
		case e.Kind == agent.EventRequest && e.From == "harness" && e.What == "POST /api/payments":
			appCalls = append(appCalls, e)
		}
	}
	if !fault {
		return fmt.Errorf("no charge_then_hang fault on the provider")
	}
	twice := false
	for _, n := range charges {
		twice = twice || n >= 2
	}
	if !twice {
		return fmt.Errorf("no payment charged twice at the provider (charges per payment: %v)", charges)
	}
	if len(appCalls) < 2 || appCalls[0].Key == "" || appCalls[0].Key != appCalls[1].Key {
		return fmt.Errorf("want the payment and its retry with one Idempotency-Key, got %d payments: %+v", len(appCalls), appCalls)
	}
	return nil
}
