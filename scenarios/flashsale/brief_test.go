package flashsale

import (
	"fmt"
	"strings"
	"testing"

	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/scenariotest"
)

// TestBriefStatesTheNumbers holds the brief to what the scenarios do: every public scenario by
// slug and title, no hidden one by name, and every number a scenario holds the app to.
func TestBriefStatesTheNumbers(t *testing.T) {
	t.Parallel()
	brief := scenariotest.ReadBrief(t, Slug)
	for _, s := range Scenarios() {
		named := strings.Contains(brief, "`"+s.Slug+"`")
		switch {
		case s.Visibility == scenarios.Public && (!named || !strings.Contains(brief, s.Title)):
			t.Errorf("the brief does not list public scenario %s with its title %q", s.Slug, s.Title)
		case s.Visibility != scenarios.Public && named:
			t.Errorf("the brief names hidden scenario %s", s.Slug)
		}
	}
	for _, want := range []string{
		fmt.Sprintf("%d buyers of 1 unit", Buyers),
		fmt.Sprintf("sales of %d units to %d buyers", oversellStock, Buyers),
		fmt.Sprintf("sales of %d units to %d buyers asking for 32 units", plentyStock, Buyers),
		fmt.Sprintf("sales of %d units to %d clients", historyStock, historyClients),
		fmt.Sprintf("alternating %d orders of 1 unit with %d stock reads", historySteps/2, historySteps/2),
		fmt.Sprintf("%d copies of one order sent at once", retryCopies),
		fmt.Sprintf("by %d ms each way", DBLatency.Milliseconds()),
		fmt.Sprintf("within %d seconds", int(RequestTimeout.Seconds())),
		"an integer from 1 to 100", "1 to 128 characters", "from 0 to 1000000", "1 to 64 characters",
		`{"error": "sold_out"}`,
	} {
		if !strings.Contains(brief, want) {
			t.Errorf("the brief does not say %q", want)
		}
	}
}
