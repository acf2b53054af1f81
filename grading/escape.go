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

// PlainText removes what a terminal would act on: ANSI escape sequences (colours, cursor moves,
// titles, hyperlinks) and control characters other than newline and tab (a carriage return could
// redraw a line). A sequence is never taken to run past the end of its line, so a broken one
// cannot swallow the report after it.
func PlainText(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return r != '\n' && r != '\t' && unicode.IsControl(r) }) < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == 0x1b {
			i = escapeEnd(s, i)
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

// escapeEnd returns the index of the last byte of the escape sequence whose ESC is s[i] (ECMA-48).
func escapeEnd(s string, i int) int {
	if i+1 >= len(s) {
		return i
	}
	switch s[i+1] {
	case '[': // CSI: parameter and intermediate bytes, then a final byte
		j := i + 2
		for j < len(s) && s[j] >= 0x20 && s[j] <= 0x3f {
			j++
		}
		if j < len(s) && s[j] >= 0x40 && s[j] <= 0x7e {
			return j
		}
		return j - 1
	case ']', 'P', 'X', '^', '_': // OSC (titles, hyperlinks), DCS, SOS, PM, APC: a string up to BEL or ESC \
		for j := i + 2; j < len(s); j++ {
			switch {
			case s[j] == 0x07:
				return j
			case s[j] == 0x1b && j+1 < len(s) && s[j+1] == '\\':
				return j + 1
			case s[j] == '\n':
				return j - 1
			}
		}
		return len(s) - 1
	}
	j := i + 1 // ESC, intermediate bytes, a final byte: ESC ( B, ESC 7, ESC =
	for j < len(s) && s[j] >= 0x20 && s[j] <= 0x2f {
		j++
	}
	if j < len(s) && s[j] >= 0x30 && s[j] <= 0x7e {
		return j
	}
	return j - 1
}
