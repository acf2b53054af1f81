package distributedlock_test

import (
	"net/http"
	"strings"
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
	{Dir: "reference-ts"},
	{Dir: "broken-memory-lock", Fails: []string{"single_run", "concurrent_triggers", "paused_holder_is_fenced", "release_only_by_owner", "killed_holder_lease_expires"}},
	{Dir: "broken-no-ttl", Fails: []string{"paused_holder_is_fenced", "release_only_by_owner", "killed_holder_lease_expires"}},
	{Dir: "broken-unconditional-del", Fails: []string{"release_only_by_owner"}},
	{Dir: "broken-ignore-refusal", Fails: []string{"refused_write_stops_the_run", "paused_holder_is_fenced", "release_only_by_owner"}},
	{Dir: "broken-token-on-release", Fails: []string{"paused_holder_is_fenced", "release_only_by_owner", "killed_holder_lease_expires"}},
}

func challenge(t *testing.T) grading.Challenge {
	return scenariotest.Challenge(t, distributedlock.Slug, distributedlock.Scenarios())
}

func TestEveryScenarioHasAKiller(t *testing.T) {
	scenariotest.EveryScenarioHasAKiller(t, distributedlock.Scenarios(), killMatrix)
}

func TestKillMatrix(t *testing.T) { scenariotest.KillMatrix(t, challenge(t), killMatrix) }

// TestVerdictsAreStable repeats the scenarios that hang on timing — a takeover inside a window,
// a thawed holder releasing while the new one still runs — against the references (pass every
// time) and the variant only that timing catches (fail every time). The kill matrix has already
// run each once; the repeats are kept few because every grading here lasts seconds.
func TestVerdictsAreStable(t *testing.T) {
	scenariotest.Stable(t, challenge(t), []scenariotest.Repeat{
		{Dir: "reference", Scenario: "release_only_by_owner", Runs: 2, Pass: true},
		{Dir: "reference", Scenario: "paused_holder_is_fenced", Runs: 2, Pass: true},
		{Dir: "broken-unconditional-del", Scenario: "release_only_by_owner", Runs: 3, Pass: false},
		{Dir: "reference-ts", Scenario: "release_only_by_owner", Runs: 2, Pass: true},
		{Dir: "reference-ts", Scenario: "paused_holder_is_fenced", Runs: 1, Pass: true},
	})
}

// TestStartersBuildAndServe: each starter a learner can pick builds, starts (both replicas), and
// answers 501 on the route left to implement.
func TestStartersBuildAndServe(t *testing.T) {
	scenariotest.StartersServe(t, challenge(t), "../../templates/distributed-lock/starter",
		scenarios.Request{Method: http.MethodPost, Path: distributedlock.RunPath, Replica: 1},
		scenarios.Request{Method: http.MethodPost, Path: distributedlock.RunPath, Replica: 2})
}

// TestBriefStatesTheContract holds the brief to the numbers and names the scenarios use, and to
// listing every public scenario by its title.
func TestBriefStatesTheContract(t *testing.T) {
	brief := scenariotest.ReadBrief(t, distributedlock.Slug)
	for _, want := range []string{
		"POST " + distributedlock.RunPath, "POST $DOWNSTREAM_URL" + distributedlock.StorePath,
		distributedlock.InstanceHeader, "Fencing-Token",
		"lease of 2 seconds", "PX 2000", "steps 1 to 5", "waits 250 ms", "at least 200 ms",
		"1.5 s after that lease ran out", "3 rounds of 4 simultaneous triggers", "within 5 seconds",
		`{"ran": true, "token": 42}`, `{"ran": false}`,
	} {
		if !strings.Contains(brief, want) {
			t.Errorf("the brief does not say %q", want)
		}
	}
	for _, s := range distributedlock.Scenarios() {
		listed := strings.Contains(brief, "| "+s.Title+" |")
		if listed != (s.Visibility == scenarios.Public) {
			t.Errorf("scenario %q (%s): listed in the brief = %v", s.Title, s.Visibility, listed)
		}
	}
}
