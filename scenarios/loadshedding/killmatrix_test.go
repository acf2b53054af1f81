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
	{Dir: "broken-no-limit", Fails: []string{"sheds_beyond_limit"}},
	{Dir: "broken-unbounded-queue", Fails: []string{"sheds_beyond_limit"}},
	{Dir: "broken-long-wait", Fails: []string{"sheds_beyond_limit"}},
	{Dir: "broken-health-behind-limiter", Fails: []string{"health_while_saturated"}},
	// A call that passes its deadline on a loaded machine (the slowest downstream takes 700 ms of
	// the 1 s) leaks a permit here too: the scenarios after it then find fewer than 4.
	{Dir: "broken-permit-leak", Fails: []string{"permits_released_on_failures"}, MayAlsoFail: []string{"health_while_saturated", "recovers_when_load_drops"}},
	{Dir: "broken-cooldown-after-shed", Fails: []string{"recovers_when_load_drops"}},
	{Dir: "broken-mutex-limit", Fails: []string{"serves_within_limit", "health_while_saturated", "recovers_when_load_drops", "permits_released_on_failures"}},
	// TypeScript: the references' limit as a counter on the event loop, and the mistake fetch
	// invites, a call without a deadline that holds its permit as long as the downstream hangs.
	{Dir: "reference-ts"},
	{Dir: "broken-ts-no-deadline", Fails: []string{"permits_released_on_failures"}},
	// Written blind, from the brief and the TypeScript starter only (never scenarios/): a correct
	// service whose permits are a state machine with a transition table, and three honest
	// mistakes. The first, a deadline raced against a fetch it never aborts, passed every
	// scenario until permits_released_on_failures counted the abandoned calls still in flight
	// at the downstream beside the next requests' (P7).
	{Dir: "reference-blind-ts"},
	{Dir: "broken-blind-ts-abandoned-fetch", Fails: []string{"permits_released_on_failures"}},
	{Dir: "broken-blind-ts-timeout-as-502", Fails: []string{"permits_released_on_failures"}},
	{Dir: "broken-blind-ts-stale-waiters", Fails: []string{"health_while_saturated", "recovers_when_load_drops", "permits_released_on_failures"}},
}

func challenge(t *testing.T) grading.Challenge {
	return scenariotest.Challenge(t, loadshedding.Slug, loadshedding.Scenarios())
}

func TestEveryScenarioHasAKiller(t *testing.T) {
	scenariotest.EveryScenarioHasAKiller(t, loadshedding.Scenarios(), killMatrix)
}

func TestKillMatrix(t *testing.T) { scenariotest.KillMatrix(t, challenge(t), killMatrix) }

// TestVerdictsAreStable repeats the timing-sensitive scenarios against the references (pass
// every time) and the variants they catch by a time (fail every time). broken-no-limit (12 calls
// in flight) and broken-health-behind-limiter (a 503 for /healthz) fail by a count and a status,
// not a time: their kill-matrix rows are enough.
func TestVerdictsAreStable(t *testing.T) {
	scenariotest.Stable(t, challenge(t), []scenariotest.Repeat{
		{Dir: "reference", Scenario: "sheds_beyond_limit", Runs: 2, Pass: true},
		{Dir: "reference", Scenario: "health_while_saturated", Runs: 2, Pass: true},
		{Dir: "reference", Scenario: "recovers_when_load_drops", Runs: 2, Pass: true},
		{Dir: "reference-py", Scenario: "sheds_beyond_limit", Runs: 2, Pass: true},
		{Dir: "reference-py", Scenario: "recovers_when_load_drops", Runs: 2, Pass: true},
		{Dir: "reference-py", Scenario: "health_while_saturated", Runs: 2, Pass: true},
		{Dir: "broken-unbounded-queue", Scenario: "sheds_beyond_limit", Runs: 2, Pass: false},
		{Dir: "broken-long-wait", Scenario: "sheds_beyond_limit", Runs: 2, Pass: false},
		{Dir: "broken-cooldown-after-shed", Scenario: "recovers_when_load_drops", Runs: 2, Pass: false},
	})
}

// TestStartersBuildAndServe: each starter a learner can pick builds, starts, and answers 501 on
// the route left to implement.
func TestStartersBuildAndServe(t *testing.T) {
	scenariotest.StartersServe(t, challenge(t), "../../templates/load-shedding/starter",
		scenarios.Request{Method: "POST", Path: "/api/work", Body: []byte(`{"id": "w-1"}`)})
}
