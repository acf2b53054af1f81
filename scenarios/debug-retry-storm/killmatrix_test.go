package debugretrystorm_test

import (
	"strings"
	"testing"

	"github.com/holdfast-ci/holdfast/grading"
	debugretrystorm "github.com/holdfast-ci/holdfast/scenarios/debug-retry-storm"
	"github.com/holdfast-ci/holdfast/scenarios/scenariotest"
)

// starter is the shipped service: the planted bug is a row of the matrix like any variant.
const starter = "../../../templates/debug-retry-storm/starter/go"

// killMatrix says which scenarios each submission must fail. The starter (the planted bug)
// fails the incident scenarios; the reference fix passes everything; symptom-only fixes (a longer
// timeout, more retries) and wrong fixes are each caught.
var killMatrix = []scenariotest.Row{
	{Dir: "reference"},
	{Dir: starter, Fails: []string{"update_refetches_only_that_product", "slow_catalog_price_import"}},
	{Dir: "fix-raise-timeout", Fails: []string{"update_refetches_only_that_product", "slow_catalog_price_import", "catalog_hang_budget"}},
	{Dir: "fix-retry-harder", Fails: []string{"update_refetches_only_that_product", "slow_catalog_price_import", "catalog_hang_budget", "catalog_errors_backoff"}},
	{Dir: "fix-coalesce-only", Fails: []string{"update_refetches_only_that_product", "slow_catalog_price_import"}},
	{Dir: "fix-no-cache", Fails: []string{"cached_reads", "update_refetches_only_that_product", "slow_catalog_price_import"}},
	{Dir: "fix-no-invalidation", Fails: []string{"fresh_after_update"}},
	{Dir: "fix-default-currency-only", Fails: []string{"fresh_after_update"}},
}

func challenge(t *testing.T) grading.Challenge {
	return scenariotest.Challenge(t, debugretrystorm.Slug, debugretrystorm.Scenarios())
}

func TestEveryScenarioHasAKiller(t *testing.T) {
	scenariotest.EveryScenarioHasAKiller(t, debugretrystorm.Scenarios(), killMatrix)
}

func TestKillMatrix(t *testing.T) { scenariotest.KillMatrix(t, challenge(t), killMatrix) }

// TestVerdictsAreStable repeats the load- and time-sensitive scenarios: the reference passes
// every time; the planted bug and the timeout fix fail every time.
func TestVerdictsAreStable(t *testing.T) {
	scenariotest.Stable(t, challenge(t), []scenariotest.Repeat{
		{Dir: "reference", Scenario: "slow_catalog_price_import", Runs: 4, Pass: true},
		{Dir: "reference", Scenario: "update_refetches_only_that_product", Runs: 3, Pass: true},
		{Dir: "reference", Scenario: "catalog_hang_budget", Runs: 3, Pass: true},
		{Dir: "reference", Scenario: "catalog_errors_backoff", Runs: 3, Pass: true},
		{Dir: starter, Scenario: "slow_catalog_price_import", Runs: 3, Pass: false},
		{Dir: "fix-raise-timeout", Scenario: "slow_catalog_price_import", Runs: 3, Pass: false},
	})
}

// TestBriefStatesTheNumbers: every number the scenarios hold the app to is in the brief.
func TestBriefStatesTheNumbers(t *testing.T) {
	brief := scenariotest.ReadBrief(t, debugretrystorm.Slug)
	for _, s := range []string{"**300 ms**", "**3 times**", "**50 ms**", "**100 ms**", "**1.5 s**", "for 60 s**",
		"20 hot products", "5 price updates", "400 ms", "within 1 s", "`504`", "`502`", "in every currency",
		"### Timeline", "### Metrics snapshot", "### Log excerpts", "### Symptoms"} {
		if !strings.Contains(brief, s) {
			t.Errorf("the brief does not say %q", s)
		}
	}
}
