package gradingtest

import (
	"context"
	"net/http"
	"time"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/scenarios"
)

// ScenarioPath is where the scripted app answers a scenario: ScenarioPath + its slug.
const ScenarioPath = "/gradingtest/scenarios/"

// Scenario returns a scenario that asks the scripted app for its outcome: it passes when the
// app answers 200 (the script does not name it in Fail) and fails, as the learner's failure,
// otherwise.
func Scenario(slug string, vis scenarios.Visibility, weight int) scenarios.Scenario {
	return scenarios.Scenario{Slug: slug, Title: "Scripted " + slug, Weight: weight, Visibility: vis, Timeout: 10 * time.Second,
		Run: func(ctx context.Context, h *scenarios.Harness) error {
			r := h.Do(ctx, scenarios.Request{Path: ScenarioPath + slug})
			if r.Err != nil || r.Status != http.StatusOK {
				return scenarios.Failf("200 from "+ScenarioPath+slug, "The script names this scenario in fail.", "%s", r.Describe())
			}
			return nil
		}}
}

// The slugs of Challenge's scenarios.
const (
	PublicScenario       = "answers"
	SecondPublicScenario = "keeps_state"
	HiddenScenario       = "recovers"
)

// Challenge returns a challenge named slug graded against the scripted app: two public
// scenarios and a hidden one, weights 2, 1 and 1.
func Challenge(slug string) grading.Challenge {
	return grading.Challenge{Slug: slug, Scenarios: []scenarios.Scenario{
		Scenario(PublicScenario, scenarios.Public, 2),
		Scenario(SecondPublicScenario, scenarios.Public, 1),
		Scenario(HiddenScenario, scenarios.Hidden, 1),
	}}
}

// Lookup is a challenge lookup (jobs.Deps.Challenge) that knows every slug as a scripted
// Challenge.
func Lookup(slug string) (grading.Challenge, error) { return Challenge(slug), nil }
