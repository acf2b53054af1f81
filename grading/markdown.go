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

// Markdown renders a verdict as GitHub-flavoured markdown: its headline, then MarkdownBody. It
// is for where nothing else states the verdict (a pull request's comment). v must already be
// ForView'd. The result fits GitHub's limit; what is cut says so.
func Markdown(v Verdict) string {
	return CapMarkdown(fmt.Sprintf("### %s %s\n\n", statusEmoji(v.Status), Title(v))+markdownBody(v, timelineDiagram), "grade")
}

// MarkdownBody is the report without its headline, for a check run's summary: GitHub shows the
// check run's title (Title) right above it, so the verdict is said once. v must already be
// ForView'd. The result fits GitHub's limit; what is cut says so.
func MarkdownBody(v Verdict) string {
	return CapMarkdown(markdownBody(v, timelineText), "grade")
}

// markdownBody writes a report's sections in order; each writes nothing when it has nothing to
// say, so that no empty block is ever drawn. A new section (a scenario's timeline) is one more
// function in the list, or a part of writeFailureMarkdown for what belongs to one failure.
func markdownBody(v Verdict, style timelineStyle) string {
	var b strings.Builder
	if v.Message != "" {
		fmt.Fprintf(&b, "%s\n\n", EscapeMarkdown(v.Message))
	}
	if v.Status == GraderError {
		b.WriteString(EscapeMarkdown(graderErrorText) + "\n")
		return b.String()
	}
	for _, section := range []func(*strings.Builder, Verdict){
		writeHiddenMarkdown,
		writeTableMarkdown,
		func(b *strings.Builder, v Verdict) { writeFailuresMarkdown(b, v, style) },
		writeHiddenAfterMarkdown,
		writeAnnotationsMarkdown,
		writeLogMarkdown,
		writeReproduceMarkdown, // last: the summary ends with the command that reproduces it
	} {
		section(&b, v)
	}
	return strings.TrimRight(b.String(), "\n") + "\n"
}

// writeHiddenMarkdown says how many hidden scenarios failed when no public one did, before the
// table: otherwise such a grade shows a red headline over green rows and no word why.
func writeHiddenMarkdown(b *strings.Builder, v Verdict) {
	if v.HiddenFailed == 0 || len(failureGroups(v.Scenarios)) > 0 {
		return
	}
	lead, advice := hiddenFailedText(v.HiddenFailed, false)
	fmt.Fprintf(b, "**%s** %s\n\n", lead, EscapeMarkdown(advice))
}

// writeHiddenAfterMarkdown says how many hidden scenarios failed besides public ones, after
// those: they are where to start.
func writeHiddenAfterMarkdown(b *strings.Builder, v Verdict) {
	if v.HiddenFailed == 0 || len(failureGroups(v.Scenarios)) == 0 {
		return
	}
	lead, advice := hiddenFailedText(v.HiddenFailed, true)
	fmt.Fprintf(b, "**%s** %s\n\n", lead, EscapeMarkdown(advice))
}

// writeTableMarkdown lists the scenarios (hidden ones as one row) once they had their turn: after
// a failed build or a crash, none did.
func writeTableMarkdown(b *strings.Builder, v Verdict) {
	if len(v.Scenarios) == 0 || v.Status == BuildFailed || v.Status == Crashed {
		return
	}
	b.WriteString("| | scenario | time |\n|---|---|---:|\n")
	var hiddenTime time.Duration
	for _, r := range v.Scenarios {
		if isWithheld(r) {
			hiddenTime += time.Duration(r.Duration)
			continue
		}
		fmt.Fprintf(b, "| %s | `%s` | %s |\n", outcomeEmoji(r.Outcome), r.Slug, time.Duration(r.Duration).Round(time.Millisecond))
	}
	if h := tallyHidden(v); h.total > 0 {
		emoji := outcomeEmoji(OutcomePassed)
		switch {
		case h.failed > 0:
			emoji = outcomeEmoji(OutcomeFailed)
		case h.passed() == 0:
			emoji = outcomeEmoji(OutcomeNotRun)
		}
		fmt.Fprintf(b, "| %s | %s (details withheld) | %s |\n", emoji, h, hiddenTime.Round(time.Millisecond))
	}
	b.WriteString("\n")
}

// writeFailuresMarkdown writes one section per group of failures (failureGroups).
func writeFailuresMarkdown(b *strings.Builder, v Verdict, style timelineStyle) {
	for _, g := range failureGroups(v.Scenarios) {
		writeFailureMarkdown(b, g, style)
	}
}

// writeFailureMarkdown writes one group of failed scenarios, open: what was expected, what
// happened, what to try, the others that failed the same way, and the app's output meanwhile.
func writeFailureMarkdown(b *strings.Builder, g failureGroup, style timelineStyle) {
	html := func(s string) string { return "<code>" + s + "</code>" } // slugs are the challenge's: [a-z0-9_]
	md := func(s string) string { return "`" + CodeSpan(s) + "`" }
	fmt.Fprintf(b, "<details open><summary>%s</summary>\n\n", g.headline(html))
	if f := g.Failure; f != nil {
		fmt.Fprintf(b, "- **expected:** %s\n- **actual:** %s\n", EscapeMarkdown(f.Expected), EscapeMarkdown(f.Actual))
		hint := g.hint(md)
		if !g.NotImplemented {
			hint = EscapeMarkdown(hint) // the challenge's words, which may quote the app's
		}
		if hint != "" {
			fmt.Fprintf(b, "- **hint:** %s\n", hint)
		}
	}
	if len(g.Also) > 0 {
		also := make([]string, len(g.Also))
		for i, s := range g.Also {
			also[i] = md(s)
		}
		fmt.Fprintf(b, "- **also:** %s\n", strings.Join(also, ", "))
	}
	if lines := tailLines(g.LogTail, 30); len(lines) > 0 {
		fmt.Fprintf(b, "\nApp output during %s:\n\n%s", md(g.Slug), codeBlock(lines))
	}
	writeTimelineMarkdown(b, g.ScenarioResult, style)
	b.WriteString("\n</details>\n\n")
}

func writeAnnotationsMarkdown(b *strings.Builder, v Verdict) {
	if len(v.Annotations) == 0 {
		return
	}
	b.WriteString("**Where:**\n\n")
	for _, a := range v.Annotations {
		fmt.Fprintf(b, "- `%s:%d` %s\n", CodeSpan(a.Path), a.Line, EscapeMarkdown(a.Message))
	}
	b.WriteString("\n")
}

// writeLogMarkdown shows the build log or the app's output. After a failed build or a crash it
// is the evidence the message points to ("below"), so it is shown open; after failed scenarios
// (the reviewer's view: learners see each failure's own output) it is collapsed.
func writeLogMarkdown(b *strings.Builder, v Verdict) {
	switch v.Status {
	case BuildFailed, Crashed:
		lines := tailLines(v.LogTail, 60)
		if len(lines) == 0 {
			return
		}
		title := "App output (last lines)"
		if v.Status == BuildFailed {
			title = "Build log (last lines)"
		}
		fmt.Fprintf(b, "**%s:**\n\n%s", title, codeBlock(lines))
	default:
		lines := tailLines(v.LogTail, 60)
		if len(lines) == 0 {
			return
		}
		fmt.Fprintf(b, "<details><summary>App output, whole run (last lines)</summary>\n\n%s\n</details>\n", codeBlock(lines))
	}
}

// codeBlock fences lines of a log. Inside the fence nothing renders, so only the fence itself
// must stay closed: a line of the log cannot end it early.
func codeBlock(lines []string) string {
	return "```text\n" + strings.ReplaceAll(strings.Join(lines, "\n"), "```", "'''") + "\n```\n"
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
