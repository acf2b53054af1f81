package circuitbreaker_test

import (
	"testing"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/circuitbreaker"
	"github.com/holdfast-ci/holdfast/scenarios/scenariotest"
)

// killMatrix says which scenarios each submission in testdata/ must fail; every other scenario
// must pass. The references fail none.
var killMatrix = []scenariotest.Row{
	{Dir: "reference"},
	{Dir: "reference-py"},
	{Dir: "broken-no-breaker", Fails: []string{"opens_after_threshold", "fail_fast_under_latency", "single_half_open_probe", "probe_failure_reopens", "retry_storm"}},
	{Dir: "broken-retries", Fails: []string{"passthrough_and_errors", "opens_after_threshold", "fail_fast_under_latency", "single_half_open_probe", "probe_failure_reopens", "recovers_under_traffic", "consecutive_failures_only", "retry_storm"}},
	{Dir: "broken-no-half-open", Fails: []string{"single_half_open_probe", "probe_failure_reopens"}},
	{Dir: "broken-timeouts-not-counted", Fails: []string{"fail_fast_under_latency", "probe_failure_reopens"}},
	{Dir: "broken-cooldown-extends", Fails: []string{"recovers_under_traffic"}},
	{Dir: "broken-total-failures", Fails: []string{"opens_after_threshold", "consecutive_failures_only"}},
	{Dir: "broken-breaker-per-symbol", Fails: []string{"opens_after_threshold"}},
	{Dir: "broken-probe-errors-stuck", Fails: []string{"probe_failure_reopens"}},
	{Dir: "broken-refused-not-counted", Fails: []string{"probe_failure_reopens"}},
	{Dir: "broken-4xx-is-failure", Fails: []string{"consecutive_failures_only"}},
	{Dir: "broken-probe-holds-lock", Fails: []string{"single_half_open_probe"}},
	{Dir: "broken-cooldown-from-arrival", Fails: []string{"fail_fast_under_latency", "probe_failure_reopens"}},
	{Dir: "broken-symbol-not-encoded", Fails: []string{"passthrough_and_errors"}},
	// Written blind, from the brief and the TypeScript starter only (never scenarios/): a correct
	// solution in an unusual style and three honest mistakes, each caught as the brief predicts.
	{Dir: "reference-ts"},
	{Dir: "broken-ts-arrival-clock", Fails: []string{"fail_fast_under_latency", "probe_failure_reopens"}},
	{Dir: "broken-ts-no-half-open", Fails: []string{"probe_failure_reopens", "single_half_open_probe"}},
	{Dir: "broken-ts-4xx-is-failure", Fails: []string{"consecutive_failures_only"}},
}

func challenge(t *testing.T) grading.Challenge {
	return scenariotest.Challenge(t, circuitbreaker.Slug, circuitbreaker.Scenarios())
}

func TestEveryScenarioHasAKiller(t *testing.T) {
	scenariotest.EveryScenarioHasAKiller(t, circuitbreaker.Scenarios(), killMatrix)
}

func TestKillMatrix(t *testing.T) { scenariotest.KillMatrix(t, challenge(t), killMatrix) }

// TestVerdictsAreStable repeats the timing- and concurrency-sensitive scenarios against the
// references (pass every time) and the variants they catch (fail every time).
func TestVerdictsAreStable(t *testing.T) {
	scenariotest.Stable(t, challenge(t), []scenariotest.Repeat{
		{Dir: "reference", Scenario: "opens_after_threshold", Runs: 2, Pass: true},
		{Dir: "reference", Scenario: "fail_fast_under_latency", Runs: 2, Pass: true},
		{Dir: "reference", Scenario: "single_half_open_probe", Runs: 2, Pass: true},
		{Dir: "reference", Scenario: "retry_storm", Runs: 2, Pass: true},
		{Dir: "reference", Scenario: "recovers_under_traffic", Runs: 2, Pass: true},
		{Dir: "reference", Scenario: "probe_failure_reopens", Runs: 2, Pass: true},
		{Dir: "reference-py", Scenario: "fail_fast_under_latency", Runs: 2, Pass: true},
		{Dir: "reference-py", Scenario: "single_half_open_probe", Runs: 2, Pass: true},
		{Dir: "reference-py", Scenario: "retry_storm", Runs: 2, Pass: true},
		{Dir: "reference-py", Scenario: "probe_failure_reopens", Runs: 2, Pass: true},
		{Dir: "broken-no-half-open", Scenario: "single_half_open_probe", Runs: 2, Pass: false},
		{Dir: "broken-probe-holds-lock", Scenario: "single_half_open_probe", Runs: 2, Pass: false},
		{Dir: "broken-cooldown-from-arrival", Scenario: "fail_fast_under_latency", Runs: 2, Pass: false},
		{Dir: "broken-probe-errors-stuck", Scenario: "probe_failure_reopens", Runs: 2, Pass: false},
	})
}

// TestStartersBuildAndServe: each starter a learner can pick builds, starts, and answers 501 on
// the route left to implement.
func TestStartersBuildAndServe(t *testing.T) {
	scenariotest.StartersServe(t, challenge(t), "../../templates/circuit-breaker/starter",
		scenarios.Request{Path: "/api/quote?symbol=ACME"})
}
