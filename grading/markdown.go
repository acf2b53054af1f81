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
					r.Slug, mdEscape(r.Failure.Expected), mdEscape(r.Failure.Actual))
				if r.Failure.Hint != "" {
					fmt.Fprintf(&failures, "- **hint:** %s\n", mdEscape(r.Failure.Hint))
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
			fmt.Fprintf(&b, "- `%s:%d` %s\n", CodeSpan(a.Path), a.Line, mdEscape(a.Message))
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
	return capMarkdown(b.String())
}

func capMarkdown(s string) string {
	if len(s) <= MaxMarkdown {
		return s
	}
	note := "\n\n…the report was cut here to fit GitHub's limit of 65535 characters; run `runner grade` locally for all of it.\n"
	cut := s[:MaxMarkdown-len(note)-len("\n```")]
	for !utf8.ValidString(cut) { // never split a character
		cut = cut[:len(cut)-1]
	}
	if strings.Count(cut, "```")%2 == 1 {
		cut += "\n```" // close the log's code fence
	}
	return cut + note
}

func mdEscape(s string) string { return EscapeMarkdown(s) }

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
