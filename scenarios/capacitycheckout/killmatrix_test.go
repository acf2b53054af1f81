package capacitycheckout_test

import (
	"testing"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/capacitycheckout"
	"github.com/holdfast-ci/holdfast/scenarios/scenariotest"
)

// killMatrix says which scenarios each submission in testdata/ must fail; every other scenario
// must pass. The reference fails none.
var killMatrix = []scenariotest.Row{
	{Dir: "reference"},
	// The reference's code with a claim written before measuring: three times its knee, and
	// the CPU blamed for what its 8 connections do.
	{Dir: "reference-wrong-claim", Fails: []string{"claim_is_honest"}},
	{Dir: "broken-no-pool-limit", Fails: []string{"overload_at_2x"}},
	{Dir: "broken-unbounded-queue", Fails: []string{"overload_at_2x"}},
	{Dir: "broken-retry-no-budget", Fails: []string{"provider_fault_under_load"}},
	// Written blind, from the brief and the Go starter only (never scenarios/): a correct service
	// in an unusual style (eight worker goroutines each owning one connection, a bounded
	// mailbox, a retry budget from a token bucket; claims 75/s) and honest mistakes, each
	// caught as the writer predicted: a 256-slot mailbox "for headroom" (p99 2 s at twice the
	// claim), and /healthz pinging the database on a ninth connection (9 open: over P3, and the
	// claimed postgres-connections no longer what saturated). A third, retries without a
	// budget, failed provider_fault_under_load like broken-retry-no-budget and is not a row.
	{Dir: "reference-blind"},
	{Dir: "broken-blind-big-mailbox", Fails: []string{"overload_at_2x"}},
	{Dir: "broken-blind-health-connection", Fails: []string{"claim_is_honest", "overload_at_2x"}},
	// TypeScript, from the TS starter, testdata/reference-ts: pg's Pool capped at 8 and opened at
	// start, a checkout waiting at most 300 ms for a connection (connectionTimeoutMillis), then
	// 503; its knee measured 76/s alone, the Go reference's. And testdata/
	// broken-ts-pool-waits-forever: connectionTimeoutMillis left out (pg's default waits forever),
	// failing overload_at_2x. Neither is a row yet: in the full test command (final8, four
	// gradings and the chaos test beside) reference-ts measured a knee of 45/s against its claim
	// of 70 and failed claim_is_honest, and with them in this package broken-blind-health-
	// connection, green in every full run before, ended in "none of 3 rounds could judge".
	// Python, from the Python starter, testdata/reference-py: ThreadingHTTPServer, 8 psycopg2
	// connections opened at start in a queue.Queue, get(timeout=0.3) then 503. The pool sets its
	// knee too (84/s measured); it claims 60, for more CPU per checkout than Go or TypeScript.
	// Not a row yet: at load 9-18 on 2 cores it failed overload_at_2x 2 times in ~21 (9 of 360
	// requests unanswered at 2 s; one 503 after the overload) and claim_is_honest once in ~14
	// (the first 20/s step broke, p50 367 ms). The judge gives a starved machine no allowance in
	// those two places (the first step breaking; requests unanswered at 2x), and a correct
	// Python service, with more CPU per checkout, is the most exposed: issue 12, left.
}

func challenge(t *testing.T) grading.Challenge {
	return scenariotest.Challenge(t, capacitycheckout.Slug, capacitycheckout.Scenarios())
}

func TestEveryScenarioHasAKiller(t *testing.T) {
	scenariotest.EveryScenarioHasAKiller(t, capacitycheckout.Scenarios(), killMatrix)
}

func TestKillMatrix(t *testing.T) { scenariotest.KillMatrix(t, challenge(t), killMatrix) }

// TestVerdictsAreStable repeats the load scenarios, which measure time on a shared machine,
// against the reference (pass every time) and the variants they catch (fail every time).
func TestVerdictsAreStable(t *testing.T) {
	scenariotest.Stable(t, challenge(t), []scenariotest.Repeat{
		{Dir: "reference", Scenario: "claim_is_honest", Runs: 2, Pass: true},
		{Dir: "reference", Scenario: "overload_at_2x", Runs: 2, Pass: true},
		{Dir: "reference", Scenario: "provider_fault_under_load", Runs: 1, Pass: true},
		{Dir: "broken-unbounded-queue", Scenario: "overload_at_2x", Runs: 2, Pass: false},
		{Dir: "broken-no-pool-limit", Scenario: "overload_at_2x", Runs: 1, Pass: false},
		{Dir: "broken-retry-no-budget", Scenario: "provider_fault_under_load", Runs: 1, Pass: false},
	})
}

// TestStartersBuildAndServe: each starter a learner can pick builds, starts, and answers 501 on
// the route left to implement.
func TestStartersBuildAndServe(t *testing.T) {
	scenariotest.StartersServe(t, challenge(t), "../../templates/capacity-checkout/starter",
		scenarios.Request{Method: "POST", Path: "/checkout", Body: scenarios.JSON(map[string]any{"sku": "sku_load", "quantity": 1})})
}
