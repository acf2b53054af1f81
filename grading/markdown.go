package grading

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxMarkdown is GitHub's limit on a check run's summary and on a comment's body.
const MaxMarkdown = 65535

// Title is the one-line headline of a verdict, e.g. "Failed · 76/100".
func Title(v Verdict) string {
	word := map[Status]string{Passed: "Passed", Failed: "Failed", BuildFailed: "Build failed", Crashed: "Crashed",
		TimedOut: "Timed out", GraderError: "Grader error"}[v.Status]
	if v.Status == GraderError {
		return word
	}
	return fmt.Sprintf("%s · %d/100", word, v.Score)
}

// Markdown renders a verdict as GitHub-flavoured markdown: a headline, a table of scenarios,
// the failures with expected / actual / hint, and the relevant log tail. v must already be
// ForView'd. The result fits GitHub's limit; what is cut says so.
func Markdown(v Verdict) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### %s %s\n\n", statusEmoji(v.Status), Title(v))
	if v.Message != "" {
		fmt.Fprintf(&b, "%s\n\n", EscapeMarkdown(v.Message))
	}
	if v.Status == GraderError {
		b.WriteString("Holdfast could not finish grading this commit. This is not your code's fault; use **Re-run** or push again later.\n")
		return b.String()
	}
	var failures strings.Builder
	if len(v.Scenarios) > 0 && v.Status != BuildFailed && v.Status != Crashed {
		b.WriteString("| | scenario | time |\n|---|---|---:|\n")
		for _, r := range v.Scenarios {
			name := "`" + r.Slug + "`"
			if r.Slug == "hidden" {
				name = "hidden scenario (details withheld)"
			}
			fmt.Fprintf(&b, "| %s | %s | %s |\n", outcomeEmoji(r.Outcome), name, time.Duration(r.Duration).Round(time.Millisecond))
			if r.Failure != nil {
				fmt.Fprintf(&failures, "<details open><summary><code>%s</code></summary>\n\n- **expected:** %s\n- **actual:** %s\n",
					r.Slug, EscapeMarkdown(r.Failure.Expected), EscapeMarkdown(r.Failure.Actual))
				if r.Failure.Hint != "" {
					fmt.Fprintf(&failures, "- **hint:** %s\n", EscapeMarkdown(r.Failure.Hint))
				}
				if tail := strings.TrimRight(PlainText(r.LogTail), "\n"); tail != "" {
					fmt.Fprintf(&failures, "\n```text\n%s\n```\n", strings.ReplaceAll(tail, "```", "'''"))
				}
				failures.WriteString("\n</details>\n\n")
			}
		}
		b.WriteString("\n")
	}
	b.WriteString(failures.String())
	if len(v.Annotations) > 0 {
		b.WriteString("**Where:**\n\n")
		for _, a := range v.Annotations {
			fmt.Fprintf(&b, "- `%s:%d` %s\n", CodeSpan(a.Path), a.Line, EscapeMarkdown(a.Message))
		}
		b.WriteString("\n")
	}
	tail := strings.TrimRight(PlainText(v.LogTail), "\n")
	if tail != "" {
		title := "App output (last lines)"
		if v.Status == BuildFailed {
			title = "Build log (last lines)"
		}
		fmt.Fprintf(&b, "<details><summary>%s</summary>\n\n```text\n%s\n```\n\n</details>\n", title, strings.ReplaceAll(tail, "```", "'''"))
	}
	return CapMarkdown(b.String(), "grade")
}

// CapMarkdown cuts a report to GitHub's limit (MaxMarkdown) if it is longer, never inside a
// character, closing a code fence left open, and ends it with a note that `runner <command>`
// run locally shows all of it. Markdown and the compare package's report share it.
func CapMarkdown(s, command string) string {
	if len(s) <= MaxMarkdown {
		return s
	}
	note := "\n\n…the report was cut here to fit GitHub's limit of 65535 characters; run `runner " + command + "` locally for all of it.\n"
	end := MaxMarkdown - len(note) - len("\n```")
	for end > 0 && !utf8.RuneStart(s[end]) { // never split a character
		end--
	}
	cut := s[:end]
	if strings.Count(cut, "```")%2 == 1 {
		cut += "\n```" // close the log's code fence
	}
	return cut + note
}

func statusEmoji(s Status) string {
	switch s {
	case Passed:
		return "✅"
	case GraderError:
		return "⚠️"
	}
	return "❌"
}

func outcomeEmoji(o Outcome) string {
	switch o {
	case OutcomePassed:
		return "✅"
	case OutcomeFailed:
		return "❌"
	case OutcomeError:
		return "⚠️"
	}
	return "➖"
}
