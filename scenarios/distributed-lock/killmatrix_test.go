package distributedlock_test

import (
	"net/http"
	"testing"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/scenarios"
	distributedlock "github.com/holdfast-ci/holdfast/scenarios/distributed-lock"
	"github.com/holdfast-ci/holdfast/scenarios/scenariotest"
)

// killMatrix says which scenarios each submission in testdata/ must fail; every other scenario
// must pass. The references fail none.
var killMatrix = []scenariotest.Row{
	{Dir: "reference"},
}

func challenge(t *testing.T) grading.Challenge {
	return scenariotest.Challenge(t, distributedlock.Slug, distributedlock.Scenarios())
}

func TestEveryScenarioHasAKiller(t *testing.T) {
	scenariotest.EveryScenarioHasAKiller(t, distributedlock.Scenarios(), killMatrix)
}

func TestKillMatrix(t *testing.T) { scenariotest.KillMatrix(t, challenge(t), killMatrix) }

// TestStartersBuildAndServe: each starter a learner can pick builds, starts (both replicas), and
// answers 501 on the route left to implement.
func TestStartersBuildAndServe(t *testing.T) {
	scenariotest.StartersServe(t, challenge(t), "../../templates/distributed-lock/starter",
		scenarios.Request{Method: http.MethodPost, Path: distributedlock.RunPath, Replica: 1},
		scenarios.Request{Method: http.MethodPost, Path: distributedlock.RunPath, Replica: 2})
}
