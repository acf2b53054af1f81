package loadshedding_test

import (
	"testing"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/loadshedding"
	"github.com/holdfast-ci/holdfast/scenarios/scenariotest"
)

// killMatrix says which scenarios each submission in testdata/ must fail; every other scenario
// must pass. The references fail none.
var killMatrix = []scenariotest.Row{
	{Dir: "reference"},
	{Dir: "reference-py"},
}

func challenge(t *testing.T) grading.Challenge {
	return scenariotest.Challenge(t, loadshedding.Slug, loadshedding.Scenarios())
}

func TestKillMatrix(t *testing.T) { scenariotest.KillMatrix(t, challenge(t), killMatrix) }

// TestVerdictsAreStable repeats the timing-sensitive scenarios against the references (pass
// every time).
func TestVerdictsAreStable(t *testing.T) {
	scenariotest.Stable(t, challenge(t), []scenariotest.Repeat{
		{Dir: "reference", Scenario: "sheds_beyond_limit", Runs: 2, Pass: true},
		{Dir: "reference", Scenario: "health_while_saturated", Runs: 2, Pass: true},
		{Dir: "reference", Scenario: "recovers_when_load_drops", Runs: 2, Pass: true},
		{Dir: "reference-py", Scenario: "sheds_beyond_limit", Runs: 2, Pass: true},
		{Dir: "reference-py", Scenario: "recovers_when_load_drops", Runs: 2, Pass: true},
		{Dir: "reference-py", Scenario: "health_while_saturated", Runs: 2, Pass: true},
	})
}

// TestStartersBuildAndServe: each starter a learner can pick builds, starts, and answers 501 on
// the route left to implement.
func TestStartersBuildAndServe(t *testing.T) {
	scenariotest.StartersServe(t, challenge(t), "../../templates/load-shedding/starter",
		scenarios.Request{Method: "POST", Path: "/api/work", Body: []byte(`{"id": "w-1"}`)})
}
