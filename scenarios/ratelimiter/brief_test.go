package ratelimiter_test

import (
	"strings"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/ratelimiter"
	"github.com/holdfast-ci/holdfast/scenarios/scenariotest"
)

// TestBriefStatesTheContract holds README.md to the scenario table and to the numbers the
// scenarios judge by: a change on one side must show on the other.
func TestBriefStatesTheContract(t *testing.T) {
	brief := scenariotest.ReadBrief(t, ratelimiter.Slug)
	for _, s := range ratelimiter.Scenarios() {
		listed := strings.Contains(brief, "`"+s.Slug+"`")
		switch {
		case s.Visibility == scenarios.Public && !listed:
			t.Errorf("public scenario %s: the brief's table must list it", s.Slug)
		case s.Visibility != scenarios.Public && strings.Contains(brief, "| `"+s.Slug+"`"):
			t.Errorf("hidden scenario %s is listed in the brief", s.Slug)
		}
	}
	for _, want := range []string{
		"**10 requests per client per window of 2 seconds.**", // Limit, Window
		"`n = floor(unix_time_ms / 2000)`",                    // windows aligned to Unix time
		"1.1 s into it for `recovery_after_window`",           // recoverOffset
		"**within 1 second**",                                 // OutageDeadline
		"adds nothing for a busy machine",                     // no slack on OutageDeadline
		"**within 5 seconds**",                                // RecoveryWithin
		`RateLimit-Policy: "default";q=10;w=2`,                // PolicyName, Limit, Window
		"retrying every 250 ms",                               // pollEvery
	} {
		if !strings.Contains(brief, want) {
			t.Errorf("the brief does not say %q", want)
		}
	}
	if ratelimiter.Limit != 10 || ratelimiter.Window != 2*time.Second || ratelimiter.OutageDeadline != time.Second ||
		ratelimiter.RecoveryWithin != 5*time.Second || ratelimiter.PolicyName != "default" {
		t.Error("a contract number changed: update README.md and this test together")
	}
}
