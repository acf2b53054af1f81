package compare

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/holdfast-ci/holdfast/grading"
)

// Title is the one-line headline of a comparison, e.g. "Behaviour changed in 2 scenarios · 77/100".
func Title(r Result) string {
	switch r.Status {
	case grading.Passed:
		return fmt.Sprintf("No behaviour changed · %d/100", r.Score)
	case grading.Failed:
		changed, _ := changedCount(r)
		if changed == 0 {
			return fmt.Sprintf("Behaviour changed in a hidden scenario · %d/100", r.Score)
		}
		return fmt.Sprintf("Behaviour changed in %d %s · %d/100", changed, plural(changed, "scenario", "scenarios"), r.Score)
	case grading.BuildFailed:
		return "Head build failed"
	case grading.Crashed:
		return "Head crashed"
	case grading.TimedOut:
		return "Head timed out"
	}
	return "Grader error"
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// WriteText writes the comparison a learner reads in a terminal. r must already be ForView'd.
func WriteText(w io.Writer, r Result) error {
	var b strings.Builder
	switch r.Status {
	case grading.BuildFailed, grading.Crashed, grading.TimedOut:
		b.WriteString("The pull request's head could not be compared; its own report:\n")
		if err := grading.WriteText(&b, r.Head); err != nil {
			return err
		}
	case grading.GraderError:
		b.WriteString("GRADER ERROR  Holdfast could not finish grading both sides. This is not your fault; try again later.\n")
	default:
		fmt.Fprintf(&b, "%s\n", r.Message)
		writeDiffs(&b, r)
	}
	writeQualityText(&b, r.Quality)
	changed, withheld := changedCount(r)
	summary := fmt.Sprintf("%d changed, %d unchanged", changed, len(r.Scenarios)-changed-withheld)
	if withheld > 0 {
		summary += fmt.Sprintf(", %d hidden", withheld)
	}
	fmt.Fprintf(&b, "%s · score %d/100 · %s\n", summary, r.Score, r.Status)
	_, err := io.WriteString(w, grading.PlainText(b.String()))
	return err
}

func writeDiffs(b *strings.Builder, r Result) {
	width := 0
	for _, d := range r.Scenarios {
		width = max(width, len(d.Slug))
	}
	for _, d := range r.Scenarios {
		if d.Withheld {
			b.WriteString("SKIP hidden scenario (it runs and counts; its details are withheld)\n")
			continue
		}
		times := fmt.Sprintf("%s → %s", ms(d.Base.Duration), ms(d.Head.Duration))
		if !d.Changed {
			fmt.Fprintf(b, "SAME %-*s  %s on both  %s\n", width, d.Slug, outcomeWord(d.Head), times)
			continue
		}
		fmt.Fprintf(b, "DIFF %-*s  behaviour changed  %s\n", width, d.Slug, times)
		fmt.Fprintf(b, "     before: %s\n     after:  %s\n", d.Before(), d.After())
		if f := d.Head.Failure; f != nil && f.Hint != "" {
			fmt.Fprintf(b, "     hint:   %s\n", f.Hint)
		}
		writeTail(b, "head's output during "+d.Slug, d.Head.LogTail)
	}
}

func outcomeWord(r grading.ScenarioResult) string {
	switch r.Outcome {
	case grading.OutcomePassed:
		return "passed"
	case grading.OutcomeFailed:
		return "failed the same way"
	case grading.OutcomeNotRun:
		return "not run"
	}
	return string(r.Outcome)
}

func ms(d grading.Millis) string { return time.Duration(d).Round(time.Millisecond).String() }

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

// qualityRow is one measurement on both sides.
type qualityRow struct {
	name       string
	base, head int
	baseNote   string
	headNote   string
}

func qualityRows(q *Quality) []qualityRow {
	fn := func(f Func) string {
		if f.Name == "" {
			return ""
		}
		return f.Name
	}
	return []qualityRow{
		{name: "lines of code", base: q.Base.Lines, head: q.Head.Lines},
		{name: "functions", base: q.Base.Functions, head: q.Head.Functions},
		{name: "longest function (lines)", base: q.Base.Longest.Lines, head: q.Head.Longest.Lines, baseNote: fn(q.Base.Longest), headNote: fn(q.Head.Longest)},
		{name: "highest complexity", base: q.Base.MostComplex.Complexity, head: q.Head.MostComplex.Complexity, baseNote: fn(q.Base.MostComplex), headNote: fn(q.Head.MostComplex)},
		{name: "total complexity", base: q.Base.Complexity, head: q.Head.Complexity},
		{name: "duplicated lines", base: q.Base.DuplicatedLines, head: q.Head.DuplicatedLines},
		{name: "tests", base: q.Base.Tests, head: q.Head.Tests},
	}
}

func delta(base, head int) string {
	switch d := head - base; {
	case d == 0:
		return "="
	case d > 0:
		return fmt.Sprintf("+%d", d)
	default:
		return fmt.Sprintf("−%d", -d)
	}
}

func writeQualityText(b *strings.Builder, q *Quality) {
	if q == nil {
		return
	}
	b.WriteString("--- quality of the code (information, not part of the score)\n")
	fmt.Fprintf(b, "  %-26s %8s %8s %8s\n", "", "base", "head", "change")
	for _, r := range qualityRows(q) {
		fmt.Fprintf(b, "  %-26s %8d %8d %8s", r.name, r.base, r.head, delta(r.base, r.head))
		if r.baseNote != "" || r.headNote != "" {
			fmt.Fprintf(b, "  (%s → %s)", or(r.baseNote, "none"), or(r.headNote, "none"))
		}
		b.WriteString("\n")
	}
	b.WriteString("---\n")
}

func or(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

// Markdown renders a comparison with its headline, for the pull request's comment. r must
// already be ForView'd. The result fits GitHub's limit; what is cut says so.
func Markdown(r Result) string {
	emoji := "❌"
	switch r.Status {
	case grading.Passed:
		emoji = "✅"
	case grading.GraderError:
		emoji = "⚠️"
	}
	return grading.CapMarkdown(fmt.Sprintf("### %s Refactor · %s\n\n", emoji, Title(r))+markdownBody(r), "compare")
}

// MarkdownBody is Markdown without its headline, for the check run's summary: GitHub shows the
// check run's title (Title) right above it, so the verdict is said once.
func MarkdownBody(r Result) string {
	return grading.CapMarkdown(markdownBody(r), "compare")
}

func markdownBody(r Result) string {
	var b strings.Builder
	if r.Message != "" {
		fmt.Fprintf(&b, "%s\n\n", grading.EscapeMarkdown(r.Message))
	}
	switch r.Status {
	case grading.GraderError:
		b.WriteString("Holdfast could not finish grading this pull request. This is not your code's fault; use **Re-run** or push again later.\n")
		return b.String()
	case grading.BuildFailed, grading.Crashed, grading.TimedOut:
		b.WriteString("<details open><summary>The head's own report</summary>\n\n")
		b.WriteString(strings.Replace(grading.Markdown(r.Head), "### ", "#### ", 1))
		b.WriteString("\n</details>\n\n")
	default:
		writeDiffMarkdown(&b, r)
	}
	if q := r.Quality; q != nil {
		b.WriteString("#### Code quality (information, not part of the score)\n\n| | base | head | change |\n|---|---:|---:|---:|\n")
		for _, row := range qualityRows(q) {
			base, head := fmt.Sprint(row.base), fmt.Sprint(row.head)
			if row.baseNote != "" {
				base += " `" + row.baseNote + "`"
			}
			if row.headNote != "" {
				head += " `" + row.headNote + "`"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", row.name, base, head, delta(row.base, row.head))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func writeDiffMarkdown(b *strings.Builder, r Result) {
	var details strings.Builder
	b.WriteString("| | scenario | base | head |\n|---|---|---|---|\n")
	for _, d := range r.Scenarios {
		if d.Withheld {
			b.WriteString("| ➖ | hidden scenario (details withheld) | | |\n")
			continue
		}
		mark := "✅"
		if d.Changed {
			mark = "❌"
		}
		fmt.Fprintf(b, "| %s | `%s` | %s | %s |\n", mark, d.Slug, d.Base.Outcome, d.Head.Outcome)
		if !d.Changed {
			continue
		}
		fmt.Fprintf(&details, "<details open><summary><code>%s</code>: behaviour changed</summary>\n\n- **before:** %s\n- **after:** %s\n",
			d.Slug, grading.EscapeMarkdown(d.Before()), grading.EscapeMarkdown(d.After()))
		if f := d.Head.Failure; f != nil && f.Hint != "" {
			fmt.Fprintf(&details, "- **hint:** %s\n", grading.EscapeMarkdown(f.Hint))
		}
		if tail := strings.TrimRight(grading.PlainText(d.Head.LogTail), "\n"); tail != "" {
			fmt.Fprintf(&details, "\n```text\n%s\n```\n", strings.ReplaceAll(tail, "```", "'''"))
		}
		details.WriteString("\n</details>\n\n")
	}
	b.WriteString("\n")
	b.WriteString(details.String())
}
