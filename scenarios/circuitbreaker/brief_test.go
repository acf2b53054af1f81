package circuitbreaker_test

import (
	"strings"
	"testing"

	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/circuitbreaker"
	"github.com/holdfast-ci/holdfast/scenarios/scenariotest"
)

// TestBriefStatesTheContract holds README.md to the scenario table and to every number the
// scenarios judge by: a change on one side must show on the other.
func TestBriefStatesTheContract(t *testing.T) {
	brief := scenariotest.ReadBrief(t, circuitbreaker.Slug)
	for _, s := range circuitbreaker.Scenarios() {
		listed := strings.Contains(brief, "`"+s.Slug+"`")
		switch {
		case s.Visibility == scenarios.Public && (!listed || !strings.Contains(brief, s.Title)):
			t.Errorf("public scenario %s: the brief's table must list its slug and title %q", s.Slug, s.Title)
		case s.Visibility != scenarios.Public && listed:
			t.Errorf("hidden scenario %s is named in the brief", s.Slug)
		}
	}
	for _, want := range []string{
		"within **500 ms**",           // DownstreamTimeout
		"**5th consecutive failure**", // Threshold
		"**cooldown of 1 second**",    // Cooldown
		"`Retry-After: 1`",            // RetryAfter
		"**within 50 ms**",
		"median must be under 100 ms and every one under 400 ms", // FastMedian, FastMax
		"up to 1.5 s\n  after the request was sent",              // DownstreamTimeout + TimeoutSlack
		"250 ms before the cooldown can end",                     // LateInCooldown
		"one sent 750 ms after the breaker opened",               // Cooldown - LateInCooldown
		"takes 250 ms to answer",                                 // probeLatency
		"10 requests sent together",                              // burst
		"20 requests at once",                                    // 2 × burst
		"`AT&T` travels\nas `symbol=AT%26T`",                     // the URL-encoded symbol passthrough_and_errors asks for
	} {
		if !strings.Contains(brief, want) {
			t.Errorf("the brief does not say %q", want)
		}
	}
	if circuitbreaker.DownstreamTimeout.String() != "500ms" || circuitbreaker.Threshold != 5 || circuitbreaker.Cooldown.String() != "1s" ||
		circuitbreaker.RetryAfter != "1" || circuitbreaker.FastMedian.String() != "100ms" || circuitbreaker.FastMax.String() != "400ms" ||
		(circuitbreaker.DownstreamTimeout+circuitbreaker.TimeoutSlack).String() != "1.5s" ||
		circuitbreaker.LateInCooldown.String() != "250ms" {
		t.Error("a contract number changed: update README.md and this test together")
	}
}
