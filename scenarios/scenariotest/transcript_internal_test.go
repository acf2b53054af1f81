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
