package scenariotest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/holdfast-ci/holdfast/scenarios"
)

// spyT records what Properties reports.
type spyT struct {
	*testing.T
	errs []string
}

func (s *spyT) Errorf(format string, args ...any) {
	s.errs = append(s.errs, fmt.Sprintf(format, args...))
}
func (s *spyT) Helper() {}

func TestPropertiesCatchesEveryGap(t *testing.T) {
	table := []scenarios.Scenario{{Slug: "a"}, {Slug: "b"}, {Slug: "c"}}
	brief := "- **P1** answers 200.\n- **P2** never charges twice.\n- **P4** within 1 s.\n- **P6** logs.\n"
	spy := &spyT{T: t}
	// P6 is mapped to an empty list: as unchecked as P4, which the map leaves out.
	check(spy, brief, table, map[string][]string{"P1": {"a"}, "P2": {"zzz"}, "P5": {"b"}, "P6": {}})
	want := []string{"numbered [1 2 4 6]", "P5 is mapped to scenarios but the brief does not state it", `P2 names scenario "zzz"`,
		"the brief states P6 but no scenario checks it", "the brief states P4 but no scenario checks it", "scenario c checks no property"}
	got := strings.Join(spy.errs, "\n")
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("missing %q in:\n%s", w, got)
		}
	}
	ok := &spyT{T: t}
	check(ok, "**P1** x **P2** y **P1** again", table, map[string][]string{"P1": {"a", "b"}, "P2": {"c"}})
	if len(ok.errs) != 0 {
		t.Errorf("a complete map reported: %v", ok.errs)
	}
}
