package grading

import (
	"fmt"
	"strings"

	"github.com/holdfast-ci/holdfast/scenarios"
)

// ReproduceCommand is the one command that runs a graded verdict's scenarios again on the
// learner's machine, in their repository (which carries the starter's .holdfast.yaml):
// `holdfast test --run SLUG` when exactly one public scenario failed, else `holdfast test`.
// Hidden scenarios run only on the grader, so they are never named. "" for a grader error:
// there is nothing of the learner's to reproduce.
func ReproduceCommand(v Verdict) string {
	if v.Status == GraderError {
		return ""
	}
	var failed []string
	for _, r := range v.Scenarios {
		if r.Visibility == scenarios.Public && (r.Outcome == OutcomeFailed || r.Outcome == OutcomeError) {
			failed = append(failed, r.Slug)
		}
	}
	if len(failed) == 1 && v.Status == Failed {
		return "holdfast test --run " + failed[0]
	}
	return "holdfast test"
}

// writeReproduceMarkdown ends a report with ReproduceCommand, so that the learner can run the
// check's failure on their own machine in seconds instead of pushing again.
func writeReproduceMarkdown(b *strings.Builder, v Verdict) {
	cmd := ReproduceCommand(v)
	if cmd == "" {
		return
	}
	if b.Len() > 0 && !strings.HasSuffix(b.String(), "\n\n") {
		b.WriteString("\n") // a blank line ends the block before (a </details> swallows the next line)
	}
	switch {
	case v.Status == Passed:
		fmt.Fprintf(b, "Run it locally: `%s`\n", cmd)
	case v.Status == Failed && v.HiddenFailed > 0 && !strings.Contains(cmd, "--run"):
		fmt.Fprintf(b, "Reproduce locally: `%s` (the public scenarios; hidden ones run only here)\n", cmd)
	default:
		fmt.Fprintf(b, "Reproduce locally: `%s`\n", cmd)
	}
}
