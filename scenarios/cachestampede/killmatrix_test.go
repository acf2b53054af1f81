package cachestampede_test

import (
	"strings"
	"testing"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/cachestampede"
	"github.com/holdfast-ci/holdfast/scenarios/scenariotest"
)

// killMatrix says which scenarios each submission in testdata/ must fail; every other scenario
// must pass. The references fail none.
var killMatrix = []scenariotest.Row{
	{Dir: "reference"},
	{Dir: "reference-py"},
	{Dir: "broken-naive-cache-aside", Fails: []string{"hot_key_flush_stampede", "distinct_keys_not_serialised", "expiry_under_load"}},
	{Dir: "broken-local-singleflight", Fails: []string{"hot_key_flush_stampede", "distinct_keys_not_serialised", "expiry_under_load"}},
	{Dir: "broken-memory-cache", Fails: []string{"read_through", "hot_key_flush_stampede", "distinct_keys_not_serialised", "expiry_under_load"}},
	{Dir: "broken-global-lock", Fails: []string{"distinct_keys_not_serialised"}},
	{Dir: "broken-lock-no-release", Fails: []string{"origin_failure_recovery", "crashed_filler_does_not_wedge"}},
	{Dir: "broken-sleepy-poll", Fails: []string{"stampede_latency"}},
	{Dir: "broken-no-id-validation", Fails: []string{"invalid_id_rejected"}},
	{Dir: "broken-all-errors-502", Fails: []string{"origin_failure_recovery"}},
	{Dir: "broken-lock-no-expiry", Fails: []string{"crashed_filler_does_not_wedge"}},
	{Dir: "broken-unbounded-wait", Fails: []string{"crashed_filler_does_not_wedge"}},
	// Written blind, from the brief and the TypeScript starter only (never scenarios/): a correct
	// solution in an unusual style and three honest mistakes, each caught as the brief predicts.
	{Dir: "reference-ts"},
	{Dir: "broken-ts-lock-no-expiry", Fails: []string{"crashed_filler_does_not_wedge"}},
	{Dir: "broken-ts-failed-fill-keeps-lock", Fails: []string{"origin_failure_recovery"}},
	{Dir: "broken-ts-process-copy", Fails: []string{"hot_key_flush_stampede", "read_through"}},
}

func challenge(t *testing.T) grading.Challenge {
	return scenariotest.Challenge(t, cachestampede.Slug, cachestampede.Scenarios())
}

func TestEveryScenarioHasAKiller(t *testing.T) {
	scenariotest.EveryScenarioHasAKiller(t, cachestampede.Scenarios(), killMatrix)
}

func TestKillMatrix(t *testing.T) { scenariotest.KillMatrix(t, challenge(t), killMatrix) }

// TestVerdictsAreStable repeats the timing- and concurrency-sensitive scenarios against the
// references (pass every time) and the variants they catch (fail every time). With the kill
// matrix's own run, each verdict below is seen at least twice; the runs are few because every
// scenario here races or measures time, and the package must stay quick.
func TestVerdictsAreStable(t *testing.T) {
	scenariotest.Stable(t, challenge(t), []scenariotest.Repeat{
		{Dir: "reference", Scenario: "hot_key_flush_stampede", Runs: 2, Pass: true},
		{Dir: "reference", Scenario: "stampede_latency", Runs: 3, Pass: true},
		{Dir: "reference", Scenario: "distinct_keys_not_serialised", Runs: 2, Pass: true},
		{Dir: "reference", Scenario: "expiry_under_load", Runs: 1, Pass: true},
		{Dir: "reference-py", Scenario: "hot_key_flush_stampede", Runs: 2, Pass: true},
		{Dir: "reference-py", Scenario: "stampede_latency", Runs: 3, Pass: true},
		{Dir: "reference-py", Scenario: "expiry_under_load", Runs: 1, Pass: true},
		{Dir: "broken-sleepy-poll", Scenario: "stampede_latency", Runs: 3, Pass: false},
		{Dir: "broken-local-singleflight", Scenario: "hot_key_flush_stampede", Runs: 2, Pass: false},
		{Dir: "broken-local-singleflight", Scenario: "expiry_under_load", Runs: 1, Pass: false},
		{Dir: "broken-global-lock", Scenario: "distinct_keys_not_serialised", Runs: 2, Pass: false},
		// A filler killed mid-fill: readers must give up within 2.5 s (+1 s), and the lock expire
		// within 5 s (+1.5 s); waiting for the lock instead takes about 5 s.
		{Dir: "reference", Scenario: "crashed_filler_does_not_wedge", Runs: 3, Pass: true},
		{Dir: "reference-py", Scenario: "crashed_filler_does_not_wedge", Runs: 3, Pass: true},
		{Dir: "broken-unbounded-wait", Scenario: "crashed_filler_does_not_wedge", Runs: 3, Pass: false},
	})
}

// TestStartersBuildAndServe: each starter a learner can pick builds, starts, and answers 501 on
// the route left to implement.
func TestStartersBuildAndServe(t *testing.T) {
	scenariotest.StartersServe(t, challenge(t), "../../templates/cache-stampede/starter",
		scenarios.Request{Path: "/api/products/p1"})
}

// TestBriefStatesTheNumbers holds the brief to the numbers the scenarios use, and to listing
// exactly the public scenarios.
func TestBriefStatesTheNumbers(t *testing.T) {
	brief := scenariotest.ReadBrief(t, cachestampede.Slug)
	for _, want := range []string{
		"**two replicas**", "Fresh for 2 seconds", "up to 4 seconds", "more than 4 s earlier",
		"after 2 s (`504`)", "waiting 2.5 s", "60 requests at once", "within 800 ms", "300 ms",
		"10 products never read before, 3 requests each", "within 2 s", "within 1 s of the first",
		"within 3 s", "`200` within 1 s", "expire by itself within\n   5 s", "after waiting 2.5 s",
	} {
		if !strings.Contains(brief, want) {
			t.Errorf("the brief does not say %q", want)
		}
	}
	for _, s := range cachestampede.Scenarios() {
		listed := strings.Contains(brief, "| `"+s.Slug+"` |")
		if listed != (s.Visibility == scenarios.Public) {
			t.Errorf("scenario %s (%s): listed in the brief = %v", s.Slug, s.Visibility, listed)
		}
	}
}
