package scenariotest

import "testing"

// TestTranscriptNameStaysInTestdata: a row outside testdata/ (a starter, by a relative path)
// gets a transcript beside the others, not one written up the tree.
func TestTranscriptNameStaysInTestdata(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		row           Row
		runtime, want string
	}{
		{Row{Dir: "broken-no-ttl"}, "runsc", "broken-no-ttl"},
		{Row{Dir: "broken-sigint-only", GVisorFails: []string{"x"}}, "runsc", "broken-sigint-only.runsc"},
		{Row{Dir: "../../../templates/debug-retry-storm/starter/go"}, "runsc", "templates-debug-retry-storm-starter-go"},
	} {
		if got := transcriptName(c.row, c.runtime); got != c.want {
			t.Errorf("transcriptName(%q, %s) = %q, want %q", c.row.Dir, c.runtime, got, c.want)
		}
	}
}

// TestTranscriptListLengthIsTiming: a list of what each replica answered is as long as the
// replicas that answered before Holdfast stopped looking (flash-sale's broken-replica-cache
// named two in one grading, three in the next); its transcript reads the same.
func TestTranscriptListLengthIsTiming(t *testing.T) {
	t.Parallel()
	two := Normalise("     actual:   round 1 of 2 (x): GET /api/items/{sku} answered: replica 1: 5, replica 2: 3")
	three := Normalise("     actual:   round 2 of 2 (y): GET /api/items/{sku} answered: replica 1: 5, replica 2: 3, replica 1: 4")
	if two != three {
		t.Errorf("two and three replicas read differently:\n%s\n%s", two, three)
	}
	if got := Normalise("     actual:   all answers: 201, 409, 201"); got != "     actual:   all answers: 201, 409, 201" {
		t.Errorf("different items were collapsed: %q", got)
	}
}
