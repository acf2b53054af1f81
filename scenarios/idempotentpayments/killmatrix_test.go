package idempotentpayments_test

import (
	"testing"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/idempotentpayments"
	"github.com/holdfast-ci/holdfast/scenarios/scenariotest"
)

// killMatrix says which scenarios each submission in testdata/ must fail; every other scenario
// must pass. The references fail none.
var killMatrix = []scenariotest.Row{
	{Dir: "reference"},
	{Dir: "reference-ts"},
	{Dir: "broken-check-then-insert", Fails: []string{"concurrent_duplicate_requests"}},
	{Dir: "broken-no-provider-key", Fails: []string{"partial_failure_recovery", "timeout_handling"}},
	{Dir: "broken-commit-before-charge", Fails: []string{"partial_failure_recovery", "provider_unreachable"}},
	{Dir: "broken-memory-idempotency", Fails: []string{"restart_persistence"}},
	{Dir: "broken-no-reconnect", Fails: []string{"database_connection_recovery"}},
	{Dir: "broken-lenient-currency", Fails: []string{"missing_key"}},
	{Dir: "broken-replay-200", Fails: []string{"duplicate_submission_handling", "key_reuse_different_payload", "database_connection_recovery", "restart_persistence"}},
	{Dir: "broken-ignore-payload", Fails: []string{"key_reuse_different_payload"}},
	{Dir: "broken-get-unknown-200", Fails: []string{"basic_request_handling"}},
	{Dir: "broken-jsonb-replay", Fails: []string{"duplicate_submission_handling", "key_reuse_different_payload", "database_connection_recovery", "restart_persistence"}},
	{Dir: "broken-provider-error-as-timeout", Fails: []string{"provider_unreachable"}},
	// Written blind, from the brief and the Python starter only (never scenarios/): a correct
	// solution in an unusual style and three honest mistakes. The boolean amount passed until
	// missing_key sent one (Python's bool is an int).
	{Dir: "reference-py"},
	{Dir: "broken-py-new-provider-key", Fails: []string{"partial_failure_recovery", "timeout_handling"}},
	{Dir: "broken-py-bool-amount", Fails: []string{"missing_key"}},
	{Dir: "broken-py-one-connection", Fails: []string{"database_connection_recovery"}},
}

func challenge(t *testing.T) grading.Challenge {
	return scenariotest.Challenge(t, idempotentpayments.Slug, idempotentpayments.Scenarios())
}

func TestEveryScenarioHasAKiller(t *testing.T) {
	scenariotest.EveryScenarioHasAKiller(t, idempotentpayments.Scenarios(), killMatrix)
}

func TestKillMatrix(t *testing.T) { scenariotest.KillMatrix(t, challenge(t), killMatrix) }

// TestVerdictsAreStable repeats the timing- and concurrency-sensitive scenarios against the
// references (pass every time) and the variants they catch (fail every time).
func TestVerdictsAreStable(t *testing.T) {
	scenariotest.Stable(t, challenge(t), []scenariotest.Repeat{
		{Dir: "reference", Scenario: "concurrent_duplicate_requests", Runs: 6, Pass: true},
		{Dir: "reference", Scenario: "timeout_handling", Runs: 3, Pass: true},
		{Dir: "reference", Scenario: "database_connection_recovery", Runs: 2, Pass: true},
		{Dir: "broken-check-then-insert", Scenario: "concurrent_duplicate_requests", Runs: 6, Pass: false},
		{Dir: "broken-no-provider-key", Scenario: "timeout_handling", Runs: 3, Pass: false},
		{Dir: "reference-ts", Scenario: "concurrent_duplicate_requests", Runs: 4, Pass: true},
		{Dir: "reference-ts", Scenario: "timeout_handling", Runs: 4, Pass: true},
	})
}

// TestStartersBuildAndServe: each starter a learner can pick builds, starts, and answers 501 on
// the routes left to implement.
func TestStartersBuildAndServe(t *testing.T) {
	scenariotest.StartersServe(t, challenge(t), "../../templates/idempotent-payments/starter",
		scenarios.Request{Method: "POST", Path: "/api/payments", Header: map[string]string{"Idempotency-Key": "k1"},
			Body: scenarios.JSON(map[string]any{"amount": 100, "currency": "usd"})},
		scenarios.Request{Path: "/api/payments/pay_1"})
}
