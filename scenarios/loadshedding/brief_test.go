package loadshedding_test

import (
	"strings"
	"testing"

	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/loadshedding"
	"github.com/holdfast-ci/holdfast/scenarios/scenariotest"
)

// TestBriefStatesTheContract holds README.md to the scenario table and to every number the
// scenarios judge by: a change on one side must show on the other.
func TestBriefStatesTheContract(t *testing.T) {
	brief := scenariotest.ReadBrief(t, loadshedding.Slug)
	for _, s := range loadshedding.Scenarios() {
		listed := strings.Contains(brief, "`"+s.Slug+"`")
		switch {
		case s.Visibility == scenarios.Public && (!listed || !strings.Contains(brief, s.Title)):
			t.Errorf("public scenario %s: the brief's table must list its slug and title %q", s.Slug, s.Title)
		case s.Visibility != scenarios.Public && listed:
			t.Errorf("hidden scenario %s is named in the brief", s.Slug)
		}
	}
	for _, want := range []string{
		"**4 permits**",        // Limit
		"to **100 ms**",        // MaxWait
		"within **1 second**",  // Deadline
		"`Retry-After: 1`",     // RetryAfter
		"1 to 64 characters",   // MaxID
		"one of 65 characters", // MaxID + 1
		"median must be under 250 ms and every one under 600 ms", // FastMedian, FastMax
		"within 400 ms of the moment",                            // AdmitWithin
		"come back within\n500 ms",                               // HealthWithin
		"A request sent 150 ms after",                            // RecoverAfter
		"up to 2 s after the request was sent",                   // Deadline + TimeoutSlack
		"takes 300 ms, 500 ms or 700 ms to answer",               // serveLatency, recoverLatency, saturateLatency
		"12 requests at once while the downstream takes 700 ms",
		"4 requests hold the permits while the downstream takes 700 ms",
		"5 health checks",
		"8 requests at once while the downstream takes 500 ms",
		"up to three\nrequests to a healthy downstream, 1.1 s apart", // settle
	} {
		if !strings.Contains(brief, want) {
			t.Errorf("the brief does not say %q", want)
		}
	}
	if loadshedding.Limit != 4 || loadshedding.MaxWait.String() != "100ms" || loadshedding.Deadline.String() != "1s" ||
		loadshedding.RetryAfter != "1" || loadshedding.MaxID != 64 || loadshedding.FastMedian.String() != "250ms" ||
		loadshedding.FastMax.String() != "600ms" || loadshedding.AdmitWithin.String() != "400ms" ||
		loadshedding.HealthWithin.String() != "500ms" || loadshedding.RecoverAfter.String() != "150ms" ||
		(loadshedding.Deadline+loadshedding.TimeoutSlack).String() != "2s" {
		t.Error("a contract number changed: update README.md and this test together")
	}
}
