package grading

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
)

// View says whose eyes a report is for.
type View int

const (
	// LearnerView withholds hidden and reviewer-only scenarios' details.
	LearnerView View = iota
	// ReviewerView shows everything (authors, reviewers, `grade --show-hidden`).
	ReviewerView
)

// ForView returns the verdict as the given audience may see it: for learners, hidden scenarios
// count in the score but lose their name, title, outcome and failure, and
// reviewer-only scenarios are left out.
func ForView(v Verdict, view View) Verdict {
	if view == ReviewerView {
		return v
	}
	out := v
	out.Scenarios = nil
	if v.Status != BuildFailed && v.Status != Crashed {
		out.LogTail = "" // it may show hidden scenarios at work; public failures carry their own
	}
	for _, r := range v.Scenarios {
		switch r.Visibility {
		case scenarios.ReviewerOnly:
			continue
		case scenarios.Hidden:
			out.Scenarios = append(out.Scenarios, ScenarioResult{Slug: "hidden", Title: "Hidden scenario",
				Visibility: scenarios.Hidden, Weight: r.Weight, Outcome: OutcomeWithheld, Duration: r.Duration})
		default:
			r.Error = ""
			out.Scenarios = append(out.Scenarios, r)
		}
	}
	return out
}

// WriteText writes the report a learner reads in a terminal. v must already be ForView'd.
func WriteText(w io.Writer, v Verdict) error {
	var b strings.Builder
	switch v.Status {
	case BuildFailed:
		fmt.Fprintf(&b, "BUILD FAILED  %s\n", v.Message)
		writeAnnotations(&b, v.Annotations)
		writeTail(&b, "build log (last lines)", v.LogTail)
	case Crashed:
		fmt.Fprintf(&b, "CRASHED  %s\n", v.Message)
		writeAnnotations(&b, v.Annotations)
		writeTail(&b, "app output (last lines)", v.LogTail)
	case TimedOut:
		fmt.Fprintf(&b, "TIMED OUT  %s\n", v.Message)
	case GraderError:
		b.WriteString("GRADER ERROR  Holdfast could not finish grading this submission. This is not your fault; try again later.\n")
	}
	var passed, failed, hidden, notRun int
	width := 0
	for _, r := range v.Scenarios {
		width = max(width, len(r.Slug))
	}
	for _, r := range v.Scenarios {
		if r.Visibility == scenarios.Hidden && r.Slug == "hidden" {
			hidden++
			fmt.Fprintf(&b, "SKIP hidden scenario (it runs and counts; its details are withheld)\n")
			continue
		}
		d := time.Duration(r.Duration).Round(time.Millisecond)
		switch r.Outcome {
		case OutcomePassed:
			passed++
			fmt.Fprintf(&b, "PASS %-*s %6s\n", width, r.Slug, d)
		case OutcomeFailed:
			failed++
			fmt.Fprintf(&b, "FAIL %-*s %6s\n", width, r.Slug, d)
			if r.Failure != nil {
				fmt.Fprintf(&b, "     expected: %s\n     actual:   %s\n", r.Failure.Expected, r.Failure.Actual)
				if r.Failure.Hint != "" {
					fmt.Fprintf(&b, "     hint:     %s\n", r.Failure.Hint)
				}
			}
			writeTail(&b, "app output during "+r.Slug, r.LogTail)
		case OutcomeError:
			fmt.Fprintf(&b, "ERR  %-*s %6s  (the grader failed here, not your code)\n", width, r.Slug, d)
			if r.Error != "" {
				fmt.Fprintf(&b, "     grader error: %s\n", r.Error)
			}
		case OutcomeNotRun:
			notRun++
			fmt.Fprintf(&b, "---- %-*s  not run\n", width, r.Slug)
		}
	}
	if v.Status == Failed && v.LogTail != "" {
		writeTail(&b, "app output (last lines)", v.LogTail)
	}
	summary := fmt.Sprintf("%d passed, %d failed", passed, failed)
	if hidden > 0 {
		summary += fmt.Sprintf(", %d hidden", hidden)
	}
	if notRun > 0 {
		summary += fmt.Sprintf(", %d not run", notRun)
	}
	fmt.Fprintf(&b, "%s · score %d/100 · %s\n", summary, v.Score, v.Status)
	_, err := io.WriteString(w, PlainText(b.String()))
	return err
}

func writeAnnotations(b *strings.Builder, as []Annotation) {
	for _, a := range as {
		if a.Column > 0 {
			fmt.Fprintf(b, "  %s:%d:%d: %s\n", a.Path, a.Line, a.Column, a.Message)
		} else {
			fmt.Fprintf(b, "  %s:%d: %s\n", a.Path, a.Line, a.Message)
		}
	}
}

func writeTail(b *strings.Builder, title, tail string) {
	tail = strings.TrimRight(tail, "\n")
	if tail == "" {
		return
	}
	lines := strings.Split(tail, "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	fmt.Fprintf(b, "--- %s\n", title)
	for _, l := range lines {
		fmt.Fprintf(b, "  | %s\n", l)
	}
	b.WriteString("---\n")
}
