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
// count in the score but lose their name, title, outcome and failure (HiddenFailed says how many
// failed, not which), and reviewer-only scenarios are left out.
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
			outcome := OutcomeWithheld
			switch r.Outcome {
			case OutcomeNotRun:
				outcome = OutcomeNotRun // that it never had its turn says nothing of what it checks
			case OutcomeFailed:
				out.HiddenFailed++
			}
			out.Scenarios = append(out.Scenarios, ScenarioResult{Slug: "hidden", Title: "Hidden scenario",
				Visibility: scenarios.Hidden, Weight: r.Weight, Outcome: outcome, Duration: r.Duration})
		default:
			r.Error = ""
			out.Scenarios = append(out.Scenarios, r)
		}
	}
	return out
}

// WriteText writes the report a learner reads in a terminal. v must already be ForView'd. Each
// scenario is listed once, in the table; hidden ones as one line; failures that are the same
// (a starter's "501 not implemented" everywhere) are told once below the table.
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
		b.WriteString("GRADER ERROR  " + graderErrorTerminal + "\n")
	}
	var passed, failed, notRun int
	width := 0
	for _, r := range v.Scenarios {
		if !isWithheld(r) {
			width = max(width, len(r.Slug))
		}
	}
	ran := false
	for _, r := range v.Scenarios {
		ran = ran || r.Outcome != OutcomeNotRun
	}
	for _, r := range v.Scenarios {
		if isWithheld(r) {
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
		case OutcomeError:
			fmt.Fprintf(&b, "ERR  %-*s %6s  Holdfast could not judge this one (not your code); run it again\n", width, r.Slug, d)
			if r.Error != "" {
				fmt.Fprintf(&b, "     grader error: %s\n", r.Error)
			}
		case OutcomeNotRun:
			notRun++
			if ran { // after a failed build or a crash, every row would say so
				fmt.Fprintf(&b, "---- %-*s  not run\n", width, r.Slug)
			}
		}
	}
	hidden := tallyHidden(v)
	if hidden.total > 0 {
		word := "PASS"
		if hidden.failed > 0 {
			word = "FAIL"
		} else if hidden.passed() == 0 {
			word = "----"
		}
		fmt.Fprintf(&b, "%s %s (details withheld)\n", word, hidden)
	}
	for _, g := range failureGroups(v.Scenarios) {
		b.WriteString("\n")
		fmt.Fprintf(&b, "FAIL %s\n", g.headline(func(s string) string { return s }))
		if f := g.Failure; f != nil {
			fmt.Fprintf(&b, "     expected: %s\n     actual:   %s\n", f.Expected, f.Actual)
			if hint := g.hint(func(s string) string { return s }); hint != "" {
				fmt.Fprintf(&b, "     hint:     %s\n", hint)
			}
		}
		if len(g.Also) > 0 {
			fmt.Fprintf(&b, "     also:     %s\n", strings.Join(g.Also, ", "))
		}
		writeTail(&b, "app output during "+g.Slug, g.LogTail)
		writeTimelineText(&b, g.ScenarioResult)
	}
	if hidden.failed > 0 {
		lead, advice := hiddenFailedText(hidden.failed, failed > 0)
		fmt.Fprintf(&b, "\n%s %s\n", lead, advice)
	}
	if v.Status == Failed && strings.TrimSpace(PlainText(v.LogTail)) != "" {
		b.WriteString("\n")
		writeTail(&b, "app output, whole run (last lines)", v.LogTail)
	}
	failed += hidden.failed
	summary := fmt.Sprintf("%d passed, %d failed", passed+hidden.passed(), failed)
	if hidden.failed > 0 {
		summary += fmt.Sprintf(" (%d hidden)", hidden.failed)
	}
	if notRun += hidden.notRun; notRun > 0 {
		summary += fmt.Sprintf(", %d not run", notRun)
	}
	fmt.Fprintf(&b, "\n%s · score %d/100 · %s\n", summary, v.Score, v.Status)
	_, err := io.WriteString(w, PlainText(b.String()))
	return err
}

// graderErrorText is what a learner reads when Holdfast failed.
const graderErrorText = "Holdfast could not finish grading this commit. This is not your code's fault; use Re-run or push again in a few minutes."

// graderErrorTerminal is graderErrorText for the text report, which a learner reads on the App's
// run page and also after `holdfast test` or `runner grade` on their own machine, where there is
// no commit and no Re-run.
const graderErrorTerminal = "Holdfast could not finish grading. This is not your code's fault; in a few minutes, run the same command again (on GitHub: Re-run, or push again)."

func writeAnnotations(b *strings.Builder, as []Annotation) {
	for _, a := range as {
		if a.Column > 0 {
			fmt.Fprintf(b, "  %s:%d:%d: %s\n", a.Path, a.Line, a.Column, a.Message)
		} else {
			fmt.Fprintf(b, "  %s:%d: %s\n", a.Path, a.Line, a.Message)
		}
	}
}

// writeTail writes the last 30 lines of a log, if it has any but blank ones.
func writeTail(b *strings.Builder, title, tail string) {
	lines := tailLines(tail, 30)
	if len(lines) == 0 {
		return
	}
	fmt.Fprintf(b, "--- %s\n", title)
	for _, l := range lines {
		fmt.Fprintf(b, "  | %s\n", l)
	}
	b.WriteString("---\n")
}

// tailLines is the last n lines of a log, as a learner may see them (PlainText), without the
// blank lines at either end; none when nothing but blanks is left.
func tailLines(log string, n int) []string {
	log = strings.Trim(PlainText(log), "\n")
	if strings.TrimSpace(log) == "" {
		return nil
	}
	lines := strings.Split(log, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}

// isWithheld reports a hidden scenario's row in the learner's view.
func isWithheld(r ScenarioResult) bool {
	return r.Visibility == scenarios.Hidden && r.Slug == "hidden"
}

// hiddenTally counts the hidden scenarios of a learner's view, which the reports show as one
// line ("3 hidden scenarios: 1 failed, 2 passed"), never one row each.
type hiddenTally struct{ total, failed, notRun int }

func tallyHidden(v Verdict) hiddenTally {
	t := hiddenTally{failed: v.HiddenFailed}
	for _, r := range v.Scenarios {
		if isWithheld(r) {
			t.total++
			if r.Outcome == OutcomeNotRun {
				t.notRun++
			}
		}
	}
	return t
}

func (t hiddenTally) passed() int { return max(t.total-t.failed-t.notRun, 0) }

func (t hiddenTally) String() string {
	var parts []string
	if t.failed > 0 {
		parts = append(parts, fmt.Sprintf("%d failed", t.failed))
	}
	if p := t.passed(); p > 0 {
		parts = append(parts, fmt.Sprintf("%d passed", p))
	}
	if t.notRun > 0 {
		parts = append(parts, fmt.Sprintf("%d not run", t.notRun))
	}
	if t.total == 1 { // "1 hidden scenario: failed"
		parts[0] = strings.TrimPrefix(parts[0], "1 ")
	}
	return plural(t.total, "hidden scenario") + ": " + strings.Join(parts, ", ")
}

// hiddenFailedText tells a learner that hidden scenarios failed, and what to do without their
// details: the lead sentence, then the advice. alongPublic: public scenarios failed too, and are
// where to start.
func hiddenFailedText(n int, alongPublic bool) (lead, advice string) {
	if alongPublic {
		return plural(n, "hidden scenario") + " failed too.", "Their details are withheld; fix the failures above first, as hidden scenarios often fail for the same reason."
	}
	return plural(n, "hidden scenario") + " failed.", "Hidden scenarios check the brief under conditions the public ones do not show, " +
		"so their details are withheld: reread the brief for each failure, limit and guarantee it names that no public scenario checks yet, " +
		"and try your app against it."
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// failureGroup is the failed scenarios that failed the same way: the first is shown in full,
// the others only named, so that a starter's first push reads as one thing to do, not seven
// identical sections.
type failureGroup struct {
	ScenarioResult          // the first of them
	Also           []string // the others' slugs, in the table's order
	// NotImplemented: they were answered 501 Not Implemented, the starters' placeholder.
	NotImplemented bool
}

// failureGroups folds the failed scenarios a report shows in detail (not hidden ones in the
// learner's view): those with the same actual outcome and hint are one group, and so are all
// that got 501 Not Implemented, whatever each expected.
func failureGroups(rs []ScenarioResult) []failureGroup {
	var out []failureGroup
	at := map[string]int{}
	for _, r := range rs {
		if r.Outcome != OutcomeFailed || isWithheld(r) {
			continue
		}
		if r.Failure == nil {
			out = append(out, failureGroup{ScenarioResult: r})
			continue
		}
		key, ni := r.Failure.Actual+"\x00"+r.Failure.Hint, notImplemented(r.Failure.Actual)
		if ni {
			key = "501"
		}
		if i, ok := at[key]; ok {
			out[i].Also = append(out[i].Also, r.Slug)
			continue
		}
		at[key] = len(out)
		out = append(out, failureGroup{ScenarioResult: r, NotImplemented: ni})
	}
	return out
}

// notImplemented reports an actual outcome that is a 501 answer (Response.Describe's "501 …").
func notImplemented(actual string) bool {
	return actual == "501" || strings.HasPrefix(actual, "501 ")
}

// headline names a group: code renders a scenario's slug (backticks in markdown).
func (g failureGroup) headline(code func(string) string) string {
	n := 1 + len(g.Also)
	switch {
	case g.NotImplemented && n > 1:
		return fmt.Sprintf("%d scenarios: 501 not implemented yet — start with %s", n, code(g.Slug))
	case g.NotImplemented:
		return code(g.Slug) + ": 501 not implemented yet"
	case n > 1:
		return fmt.Sprintf("%s and %s, failing the same way", code(g.Slug), plural(n-1, "more scenario"))
	}
	return code(g.Slug)
}

// hint is what to try: the scenario's own, but for a 501, where the scenario's hint (often "a
// server error; its log says why") does not fit the starter's placeholder.
func (g failureGroup) hint(code func(string) string) string {
	if !g.NotImplemented {
		if g.Failure == nil {
			return ""
		}
		return g.Failure.Hint
	}
	if len(g.Also) == 0 {
		return "The route still answers 501 like the starter's placeholder: implement it as the brief describes, then push again."
	}
	return fmt.Sprintf("These routes still answer 501 like the starter's placeholder. Start with %s: implement the route it calls as the brief describes, "+
		"then push again; the next report says what comes after.", code(g.Slug))
}
