package flashsale_test

import (
	"testing"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/flashsale"
	"github.com/holdfast-ci/holdfast/scenarios/scenariotest"
)

// killMatrix says which scenarios each submission in testdata/ must fail; every other scenario
// must pass. The references fail none.
var killMatrix = []scenariotest.Row{
	{Dir: "reference"},
	{Dir: "reference-py"},
	{Dir: "broken-read-then-update", Fails: []string{"concurrent_no_oversell", "concurrent_no_false_sold_out", "linearizable_history"}},
	{Dir: "broken-optimistic-sold-out", Fails: []string{"concurrent_no_oversell", "concurrent_no_false_sold_out", "linearizable_history"}},
	{Dir: "broken-check-then-insert", Fails: []string{"order_retry_idempotent", "last_unit_retry"}},
	{Dir: "broken-stock-check-first", Fails: []string{"last_unit_retry"}},
	{Dir: "broken-replica-cache", Fails: []string{"basic_buy_and_sold_out", "concurrent_no_oversell", "concurrent_no_false_sold_out",
		"linearizable_history", "order_retry_idempotent", "last_unit_retry", "restock_keeps_orders", "sold_out_order_can_retry"}},
	{Dir: "broken-put-insert-only", Fails: []string{"restock_keeps_orders"}},
	{Dir: "broken-sold-out-remembered", Fails: []string{"sold_out_order_can_retry"}},
	// Written blind, from the brief and the TypeScript starter only (never scenarios/): a correct
	// solution in an unusual style and three honest mistakes, each caught as the brief predicts.
	{Dir: "reference-ts"},
	{Dir: "broken-ts-read-then-write", Fails: []string{"concurrent_no_false_sold_out", "concurrent_no_oversell", "linearizable_history"}},
	{Dir: "broken-ts-take-before-claim", Fails: []string{"last_unit_retry"}},
	{Dir: "broken-ts-sold-out-remembered", Fails: []string{"sold_out_order_can_retry"}},
}

func challenge(t *testing.T) grading.Challenge {
	return scenariotest.Challenge(t, flashsale.Slug, flashsale.Scenarios())
}

func TestEveryScenarioHasAKiller(t *testing.T) {
	scenariotest.EveryScenarioHasAKiller(t, flashsale.Scenarios(), killMatrix)
}

func TestKillMatrix(t *testing.T) { scenariotest.KillMatrix(t, challenge(t), killMatrix) }

// TestVerdictsAreStable repeats the concurrency scenarios against the references (pass every
// time) and the variants they catch (fail every time).
func TestVerdictsAreStable(t *testing.T) {
	scenariotest.Stable(t, challenge(t), []scenariotest.Repeat{
		{Dir: "reference", Scenario: "concurrent_no_oversell", Runs: 2, Pass: true},
		{Dir: "reference", Scenario: "concurrent_no_false_sold_out", Runs: 2, Pass: true},
		{Dir: "reference", Scenario: "linearizable_history", Runs: 2, Pass: true},
		{Dir: "reference", Scenario: "order_retry_idempotent", Runs: 2, Pass: true},
		{Dir: "reference", Scenario: "last_unit_retry", Runs: 2, Pass: true},
		{Dir: "reference-py", Scenario: "concurrent_no_oversell", Runs: 2, Pass: true},
		{Dir: "reference-py", Scenario: "linearizable_history", Runs: 2, Pass: true},
		{Dir: "reference-py", Scenario: "order_retry_idempotent", Runs: 2, Pass: true},
		{Dir: "broken-read-then-update", Scenario: "concurrent_no_oversell", Runs: 3, Pass: false},
		{Dir: "broken-optimistic-sold-out", Scenario: "concurrent_no_false_sold_out", Runs: 3, Pass: false},
		{Dir: "broken-optimistic-sold-out", Scenario: "linearizable_history", Runs: 3, Pass: false},
		{Dir: "broken-check-then-insert", Scenario: "order_retry_idempotent", Runs: 3, Pass: false},
	})
}

// TestStartersBuildAndServe: each starter a learner can pick builds, starts (both replicas), and
// answers 501 on the routes left to implement.
func TestStartersBuildAndServe(t *testing.T) {
	scenariotest.StartersServe(t, challenge(t), "../../templates/flash-sale/starter",
		scenarios.Request{Method: "PUT", Path: "/api/items/sku-1", Body: scenarios.JSON(map[string]any{"stock": 5})},
		scenarios.Request{Path: "/api/items/sku-1"},
		scenarios.Request{Method: "POST", Path: "/api/orders", Body: scenarios.JSON(map[string]any{"order_id": "o-1", "sku": "sku-1", "quantity": 1})},
		scenarios.Request{Path: "/api/orders/o-1"})
}
