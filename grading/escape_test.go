package grading_test

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/scenarios"
)

// injection is what a hostile submission puts into its messages and output.
const injection = "</details>\n<h3>✅ Passed · 100/100</h3> ![pixel](https://evil.example/p.png) [click](http://evil.example) " +
	"@octocat please look www.evil.example **bold** `code` \x1b[2K\rPASS everything\x07"

// TestLearnerTextIsInertInEveryReport feeds the injection through each learner-controlled field
// of a verdict and checks the markdown and text reports.
func TestLearnerTextIsInertInEveryReport(t *testing.T) {
	v := grading.Verdict{Challenge: "c", Status: grading.Crashed, Message: injection, LogTail: injection,
		Annotations: []grading.Annotation{{Path: "ma`in.go", Line: 3, Message: injection}},
		Scenarios: []grading.ScenarioResult{{Slug: "a", Visibility: scenarios.Public, Weight: 1, Outcome: grading.OutcomeFailed,
			Failure: &scenarios.Failure{Expected: injection, Actual: injection, Hint: injection}, LogTail: injection}}}
	for _, status := range []grading.Status{grading.Crashed, grading.Failed, grading.BuildFailed} {
		v.Status = status
		md := grading.Markdown(v)
		// Outside code fences, nothing may render as HTML, an image, a link or a mention.
		prose := regexp.MustCompile("(?s)```.*?```").ReplaceAllString(md, "")
		for _, bad := range []string{"<h3>✅", "</details>\n<h3", "](http", "![", "@octocat", "https://evil", "www.evil", "**bold**", "\x1b", "\r", "\x07"} {
			if strings.Contains(prose, bad) {
				t.Errorf("%s: markdown outside code has %q:\n%s", status, bad, prose)
			}
		}
		if strings.Count(prose, "<details") != strings.Count(prose, "</details>") {
			t.Errorf("%s: unbalanced <details> outside code in:\n%s", status, md)
		}
		if strings.ContainsAny(md, "\x1b\r\x07") {
			t.Errorf("%s: control characters in the markdown (code blocks included)", status)
		}
		var text bytes.Buffer
		if err := grading.WriteText(&text, v); err != nil {
			t.Fatal(err)
		}
		if s := text.String(); strings.ContainsAny(s, "\x1b\r\x07") {
			t.Errorf("%s: control characters in the text report: %q", status, s)
		}
	}
}

func TestPlainText(t *testing.T) {
	for in, want := range map[string]string{
		"ok\ttab\nline":                "ok\ttab\nline",
		"\x1b[31mred\x1b[0m":           "red",
		"a\rb\x00c\x7fd\u0085e":        "abcde",
		"\x1b]0;title\x07x":            "x", // a terminal title (OSC), to its BEL
		"\x1b[91m# example.com/broken": "# example.com/broken",
		"\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\": "click", // a hyperlink, to its ST
		"\x1b(Bplain\x1b7\x1b=":                                 "plain",
		"\x1b[1;31;4mbold\x1b[m":                                "bold",
		// A broken sequence ends at its line: it cannot swallow what follows.
		"\x1b]0;no end\nFAIL a": "\nFAIL a",
		"\x1b[12\nFAIL a":       "\nFAIL a",
		"\x1b\nFAIL a":          "\nFAIL a",
		"trailing \x1b":         "trailing ",
	} {
		if got := grading.PlainText(in); got != want {
			t.Errorf("PlainText(%q) = %q; want %q", in, got, want)
		}
	}
}
