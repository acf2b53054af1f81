package grading_test

import (
	"strings"
	"testing"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/scenarios"
)

// TestReproduceCommand: the report's last line is the one command that runs the failure
// again locally; one public failure is run alone, hidden scenarios are never named.
func TestReproduceCommand(t *testing.T) {
	pub := func(slug string, o grading.Outcome) grading.ScenarioResult {
		return grading.ScenarioResult{Slug: slug, Visibility: scenarios.Public, Outcome: o}
	}
	hid := func(slug string, o grading.Outcome) grading.ScenarioResult {
		return grading.ScenarioResult{Slug: slug, Visibility: scenarios.Hidden, Outcome: o}
	}
	cases := []struct {
		name string
		v    grading.Verdict
		want string // the report's last line
	}{
		{"one public failure", grading.Verdict{Status: grading.Failed, Scenarios: []grading.ScenarioResult{
			pub("basic", grading.OutcomePassed), pub("timeout_handling", grading.OutcomeFailed), hid("hidden", grading.OutcomePassed)}},
			"Reproduce locally: `holdfast test --run timeout_handling`"},
		{"several public failures", grading.Verdict{Status: grading.Failed, Scenarios: []grading.ScenarioResult{
			pub("basic", grading.OutcomeFailed), pub("timeout_handling", grading.OutcomeFailed)}},
			"Reproduce locally: `holdfast test`"},
		{"one public failure beside a hidden one, reviewer's view", grading.Verdict{Status: grading.Failed, Scenarios: []grading.ScenarioResult{
			pub("basic", grading.OutcomeFailed), hid("partial_failure_recovery", grading.OutcomeFailed)}},
			"Reproduce locally: `holdfast test --run basic`"},
		{"hidden failures only", grading.Verdict{Status: grading.Failed, HiddenFailed: 2, Scenarios: []grading.ScenarioResult{
			pub("basic", grading.OutcomePassed), hid("hidden", grading.OutcomeFailed)}},
			"Reproduce locally: `holdfast test` (the public scenarios; hidden ones run only here)"},
		{"build failed", grading.Verdict{Status: grading.BuildFailed, Message: "The image did not build"},
			"Reproduce locally: `holdfast test`"},
		{"crashed", grading.Verdict{Status: grading.Crashed, Message: "The app exited"},
			"Reproduce locally: `holdfast test`"},
		{"passed", grading.Verdict{Status: grading.Passed, Score: 100, Scenarios: []grading.ScenarioResult{pub("basic", grading.OutcomePassed)}},
			"Run it locally: `holdfast test`"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, md := range []string{grading.Markdown(c.v), grading.MarkdownBody(c.v)} {
				lines := strings.Split(strings.TrimRight(md, "\n"), "\n")
				if last := lines[len(lines)-1]; last != c.want {
					t.Fatalf("last line %q, want %q\n%s", last, c.want, md)
				}
				if strings.Contains(md, "partial_failure_recovery") && !strings.Contains(c.name, "reviewer") {
					t.Fatalf("names a hidden scenario:\n%s", md)
				}
			}
		})
	}
	if got := grading.ReproduceCommand(grading.Verdict{Status: grading.GraderError}); got != "" {
		t.Errorf("grader error: %q, want no command (nothing of the learner's to reproduce)", got)
	}
	if md := grading.Markdown(grading.Verdict{Status: grading.GraderError}); strings.Contains(md, "holdfast test") {
		t.Errorf("a grader error's report offers a command:\n%s", md)
	}
}
