package grading

import (
	"strings"
	"unicode"
)

// What a learner controls reaches the reports: the app's output, Docker's build messages, file
// names, the messages of its failures. Rendered as markdown on GitHub it could close the report's
// <details>, draw a fake "✅ Passed" headline, load images (tracking pixels), link away, and
// @mention people, who are notified; printed on a terminal, a carriage return or an escape
// sequence could overwrite a FAIL line. These functions make such text inert. Code blocks (the
// log tails) need only their fence kept closed, which Markdown does.

var markdownEscaper = strings.NewReplacer(
	`\`, `\\`, "`", "\\`", "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`, "(", `\(`, ")", `\)`, "!", `\!`, "#", `\#`, "~", `\~`,
	"|", `\|`, "<", "&lt;", ">", "&gt;", "&", "&amp;",
	"@", "@\u2060", // a word joiner after @: shown as is, never a mention
	"://", ":\u2060//", "www.", "www\u2060.", // no autolinks
	"\n", " ",
)

// EscapeMarkdown makes learner text inert inside a markdown paragraph or table cell: no markup,
// HTML, images, links, mentions or line breaks of its own, and no control characters.
func EscapeMarkdown(s string) string {
	return markdownEscaper.Replace(PlainText(s))
}

// CodeSpan is s for use between backticks (a file name in `…`): backticks and control
// characters removed.
func CodeSpan(s string) string {
	return strings.ReplaceAll(PlainText(strings.ReplaceAll(s, "\n", " ")), "`", "'")
}

// PlainText removes what a terminal would act on: ANSI escape sequences and control characters
// other than newline and tab (a carriage return could redraw a line).
func PlainText(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return r != '\n' && r != '\t' && unicode.IsControl(r) }) < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == 0x1b { // ESC: skip a CSI sequence (ESC [ … final byte) or the one character after it
			if i+1 < len(s) && s[i+1] == '[' {
				j := i + 2
				for j < len(s) && (s[j] < 0x40 || s[j] > 0x7e) {
					j++
				}
				i = j
			} else {
				i++
			}
			continue
		}
		if c < 0x20 && c != '\n' && c != '\t' || c == 0x7f {
			continue
		}
		b.WriteByte(c)
	}
	return strings.Map(func(r rune) rune {
		if r != '\n' && r != '\t' && unicode.IsControl(r) {
			return -1 // C1 controls
		}
		return r
	}, b.String())
}
