package distributedlock_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/distributedlock"
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
	{Dir: "broken-hilo-tokens", Fails: []string{"concurrent_triggers"}},
	{Dir: "broken-store-error-as-lost", Fails: []string{"store_error_answers_502"}},
	{Dir: "broken-no-store-deadline", Fails: []string{"store_hang_answers_502"}},
	{Dir: "broken-redis-error-as-busy", Fails: []string{"redis_down_answers_503"}},
	// Written blind, from the brief and the Python starter only (never scenarios/): a correct
	// solution in an unusual style and three honest mistakes, each caught as the brief predicts.
	{Dir: "reference-py"},
	{Dir: "broken-py-plain-del", Fails: []string{"release_only_by_owner"}},
	{Dir: "broken-py-no-release-on-error", Fails: []string{"store_error_answers_502", "store_hang_answers_502"}},
	{Dir: "broken-py-no-socket-timeout", Fails: []string{"redis_down_answers_503"}},
}

// properties maps each property the brief numbers (**P1**, …) to the scenarios that check it.
var properties = map[string][]string{
	"P1":  {"single_run", "concurrent_triggers"},                                                           // one lock for both replicas, 409 at once, nothing written
	"P2":  {"paused_holder_is_fenced", "release_only_by_owner", "killed_holder_lease_expires"},             // the 2 s lease: not sooner, not later
	"P3":  {"single_run", "concurrent_triggers", "paused_holder_is_fenced", "killed_holder_lease_expires"}, // tokens increase across replicas, ever
	"P4":  {"single_run", "concurrent_triggers", "paused_holder_is_fenced", "killed_holder_lease_expires"}, // steps 1–5 in order, 250 ms apart
	"P5":  {"refused_write_stops_the_run", "paused_holder_is_fenced"},                                      // stop at the first refusal
	"P6":  {"release_only_by_owner"},                                                                       // compare-and-delete
	"P7":  {"single_run", "store_error_answers_502", "store_hang_answers_502"},                             // release before answering, every path
	"P8":  {"single_run", "concurrent_triggers"},                                                           // 200 {"ran": true, "token"}
	"P9":  {"single_run", "concurrent_triggers"},                                                           // 409 {"ran": false}: busy
	"P10": {"refused_write_stops_the_run", "paused_holder_is_fenced", "release_only_by_owner"},             // 409 {"ran": false, "token"}: lost
	"P11": {"store_error_answers_502"},                                                                     // 502: the store answered an error
	"P12": {"store_hang_answers_502"},                                                                      // 502: no answer within the 1 s deadline
	"P13": {"redis_down_answers_503"},                                                                      // 503: Redis unreachable
	"P14": {"store_hang_answers_502", "redis_down_answers_503"},                                            // every answer within 5 s
	"P15": {"single_run", "concurrent_triggers", "paused_holder_is_fenced"},                                // Fencing-Token and X-Instance-Id on every write
}

func challenge(t *testing.T) grading.Challenge {
	return scenariotest.Challenge(t, distributedlock.Slug, distributedlock.Scenarios())
}

func TestEveryScenarioHasAKiller(t *testing.T) {
	scenariotest.EveryScenarioHasAKiller(t, distributedlock.Scenarios(), killMatrix)
}

func TestKillMatrix(t *testing.T) { scenariotest.KillMatrix(t, challenge(t), killMatrix) }

// TestEveryPropertyIsChecked holds the brief's numbered properties to the scenarios.
func TestEveryPropertyIsChecked(t *testing.T) {
	scenariotest.Properties(t, scenariotest.ReadBrief(t, distributedlock.Slug), distributedlock.Scenarios(), properties)
}

// TestVerdictsAreStable repeats the scenarios that hang on timing — a takeover inside a window,
// a thawed holder releasing while the new one still runs, a write given up after its 1 s
// deadline, Redis answering nothing, the winner of a race — against the references (pass every
// time) and the variant only that timing catches (fail every time). The kill matrix has already
// run each once; the repeats are kept few because every grading here lasts seconds.
func TestVerdictsAreStable(t *testing.T) {
	scenariotest.Stable(t, challenge(t), []scenariotest.Repeat{
		{Dir: "reference", Scenario: "release_only_by_owner", Runs: 2, Pass: true},
		{Dir: "reference", Scenario: "paused_holder_is_fenced", Runs: 2, Pass: true},
		{Dir: "reference", Scenario: "store_hang_answers_502", Runs: 2, Pass: true},
		{Dir: "reference", Scenario: "redis_down_answers_503", Runs: 1, Pass: true},
		{Dir: "broken-unconditional-del", Scenario: "release_only_by_owner", Runs: 3, Pass: false},
		{Dir: "reference-ts", Scenario: "release_only_by_owner", Runs: 2, Pass: true},
		{Dir: "reference-ts", Scenario: "paused_holder_is_fenced", Runs: 1, Pass: true},
		{Dir: "reference-ts", Scenario: "store_hang_answers_502", Runs: 2, Pass: true},
		{Dir: "reference-ts", Scenario: "redis_down_answers_503", Runs: 1, Pass: true},
		{Dir: "broken-no-store-deadline", Scenario: "store_hang_answers_502", Runs: 2, Pass: false},
		// Which replica wins a round is chance; the replica that reserved the lower block of
		// tokens is caught whichever it is, once the other has written (single_run sees to it).
		{Dir: "broken-hilo-tokens", Scenario: "single_run", Runs: 1, Pass: true},
		{Dir: "broken-hilo-tokens", Scenario: "concurrent_triggers", Runs: 2, Pass: false},
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
		"within 2 s", "deadline of 1 second", "token 2 after token 1001",
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
