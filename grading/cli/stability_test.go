package cli

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/scenarios/catalog"
)

func TestStabilityTallyFindsFlips(t *testing.T) {
	tl := newTally()
	run := func(dir string, outcomes ...grading.Outcome) {
		v := grading.Verdict{Status: grading.Passed, Score: 100}
		for i, o := range outcomes {
			v.Scenarios = append(v.Scenarios, grading.ScenarioResult{Slug: []string{"steady", "flaky", "skipped"}[i], Outcome: o})
			if o == grading.OutcomeFailed {
				v.Status, v.Score = grading.Failed, 50
			}
		}
		tl.add(dir, v)
	}
	run("x/testdata/reference", grading.OutcomePassed, grading.OutcomePassed, grading.OutcomeNotRun)
	run("x/testdata/reference", grading.OutcomePassed, grading.OutcomeFailed, grading.OutcomeNotRun)
	run("x/testdata/broken", grading.OutcomeFailed, grading.OutcomeFailed)
	var out bytes.Buffer
	if flips := tl.write(&out); flips != 1 {
		t.Fatalf("%d flips; want 1 (reference's flaky):\n%s", flips, out.String())
	}
	table := out.String()
	for _, want := range []string{"reference   flaky     1       1       0      FLIPS", "broken      flaky     0       1       0      \n", "reference   skipped   0       0       2", "1 flipping scenario(s)"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
}

func TestStabilityRefusesBadInput(t *testing.T) {
	for _, args := range [][]string{
		{"--challenge", "idempotent-payments"},
		{"--challenge", "nope", "."},
		{"--challenge", "idempotent-payments", "--runs", "0", "."},
		{"--challenge", "idempotent-payments", "/no/such/dir"},
	} {
		var stderr bytes.Buffer
		if code := run(t.Context(), catalog.MustNew(catalog.Builtin()), append([]string{"stability"}, args...), os.Getenv, &bytes.Buffer{}, &stderr); code != exitUsage || stderr.Len() == 0 {
			t.Errorf("%v: exit %d, %q; want %d with a reason", args, code, stderr.String(), exitUsage)
		}
	}
}
