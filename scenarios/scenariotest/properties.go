package scenariotest

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"testing"

	"github.com/holdfast-ci/holdfast/scenarios"
)

// propertyTag is how a brief numbers a property it states: **P1**, **P2**, … — each MUST, each
// row of a status-code or error table, each time bound. The number is the property's id.
var propertyTag = regexp.MustCompile(`\*\*P(\d+)\*\*`)

// Properties holds a brief to its scenario table: props maps each property id the brief
// states ("P1") to the scenarios (public or hidden) that check it. It fails on a property the
// brief states that no scenario checks, on an id the brief does not state, on a scenario that
// checks no property, on a slug the table does not have, and on ids that are not numbered
// 1, 2, 3, … in the brief without gaps (a property deleted by accident shows as a gap).
func Properties(t *testing.T, brief string, table []scenarios.Scenario, props map[string][]string) {
	t.Helper()
	check(t, brief, table, props)
}

// reporter is the part of testing.T that check uses.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
	Fatal(args ...any)
}

func check(t reporter, brief string, table []scenarios.Scenario, props map[string][]string) {
	t.Helper()
	stated := map[string]bool{}
	var numbers []int
	for _, m := range propertyTag.FindAllStringSubmatch(brief, -1) {
		id := "P" + m[1]
		if !stated[id] {
			n, _ := strconv.Atoi(m[1])
			numbers = append(numbers, n)
		}
		stated[id] = true
	}
	if len(stated) == 0 {
		t.Fatal("the brief numbers no property (**P1**, **P2**, …)")
	}
	sort.Ints(numbers)
	for i, n := range numbers {
		if n != i+1 {
			t.Errorf("the brief's properties are numbered %v: want P1 to P%d without gaps", numbers, len(numbers))
			break
		}
	}
	slugs := map[string]bool{}
	for _, s := range table {
		slugs[s.Slug] = true
	}
	checked := map[string]bool{}
	ids := make([]string, 0, len(props))
	for id := range props {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if !stated[id] {
			t.Errorf("%s is mapped to scenarios but the brief does not state it", id)
		}
		for _, slug := range props[id] {
			if !slugs[slug] {
				t.Errorf("%s names scenario %q, which is not in the table", id, slug)
			}
			checked[slug] = true
		}
	}
	for _, n := range numbers {
		if id := fmt.Sprintf("P%d", n); len(props[id]) == 0 {
			t.Errorf("the brief states %s but no scenario checks it", id)
		}
	}
	for _, s := range table {
		if !checked[s.Slug] {
			t.Errorf("scenario %s checks no property the brief states", s.Slug)
		}
	}
}
