package gracefulshutdown_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/scenarios"
	gracefulshutdown "github.com/holdfast-ci/holdfast/scenarios/graceful-shutdown"
	"github.com/holdfast-ci/holdfast/scenarios/scenariotest"
)

// killMatrix says which scenarios each submission in testdata/ must fail; every other scenario
// must pass. The references fail none.
var killMatrix = []scenariotest.Row{
	{Dir: "reference"},
	{Dir: "reference-ts"},
}

func challenge(t *testing.T) grading.Challenge {
	return scenariotest.Challenge(t, gracefulshutdown.Slug, gracefulshutdown.Scenarios())
}

func TestEveryScenarioHasAKiller(t *testing.T) {
	scenariotest.EveryScenarioHasAKiller(t, gracefulshutdown.Scenarios(), killMatrix)
}

func TestKillMatrix(t *testing.T) { scenariotest.KillMatrix(t, challenge(t), killMatrix) }

// TestBriefStatesTheNumbers holds the brief to the numbers the scenarios hold the app to.
func TestBriefStatesTheNumbers(t *testing.T) {
	brief := scenariotest.ReadBrief(t, gracefulshutdown.Slug)
	for _, want := range []string{
		fmt.Sprintf("%d s", int(gracefulshutdown.Grace.Seconds())),
		fmt.Sprintf("%d s", int(gracefulshutdown.DrainLimit.Seconds())),
		fmt.Sprintf("%d ms", gracefulshutdown.ReadyWithin.Milliseconds()),
		fmt.Sprintf("%d ms", gracefulshutdown.LateAfter.Milliseconds()),
		fmt.Sprintf("0 to %d", gracefulshutdown.MaxWorkMS),
		fmt.Sprintf("%d transfers", gracefulshutdown.MaxInFlight),
		"PID 1",
	} {
		if !strings.Contains(brief, want) {
			t.Errorf("the brief does not state %q", want)
		}
	}
	for _, s := range gracefulshutdown.Scenarios() {
		if s.Visibility == scenarios.Public && !strings.Contains(brief, s.Title) {
			t.Errorf("the brief does not list public scenario %q", s.Title)
		}
	}
}
