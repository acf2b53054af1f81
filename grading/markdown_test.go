package grading_test

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/scenarios"
)

// starterVerdict is what the Go starter of idempotent-payments got on its first grading
// (`runner grade --show-hidden --json`, recorded): every scenario answered 501.
func starterVerdict(t *testing.T) grading.Verdict {
	return recorded(t, "testdata/verdict-starter.json")
}

// recorded reads a verdict recorded with `runner grade --json`.
func recorded(t *testing.T, path string) grading.Verdict {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v grading.Verdict
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

func text(t *testing.T, v grading.Verdict) string {
	t.Helper()
	var b bytes.Buffer
	if err := grading.WriteText(&b, v); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// outsideCode is markdown without its fenced code blocks: what GitHub renders as prose.
func outsideCode(md string) string {
	return regexp.MustCompile("(?s)```.*?```").ReplaceAllString(md, "")
}

// outsideDetails is markdown without its <details> that are not open: what a reader sees
// without clicking.
func outsideDetails(md string) string {
	return regexp.MustCompile(`(?s)<details>.*?</details>`).ReplaceAllString(md, "")
}

// TestStarterFailuresFoldIntoOne: the first push of a starter fails seven public scenarios with
// the same 501; the report says so once, with where to start, instead of seven sections.
func TestStarterFailuresFoldIntoOne(t *testing.T) {
	v := grading.ForView(starterVerdict(t), grading.LearnerView)
	md := grading.Markdown(v)
	golden(t, "report-starter.md", []byte(md))
	txt := text(t, v)
	golden(t, "report-starter.txt", []byte(txt))
	const fold = "7 scenarios: 501 not implemented yet — start with"
	for what, out := range map[string]string{"markdown": md, "text": txt} {
		if n := strings.Count(out, fold); n != 1 {
			t.Errorf("%s says %q %d times; want once:\n%s", what, fold, n, out)
		}
		if n := strings.Count(out, `actual`); n != 1 {
			t.Errorf("%s shows %d expected/actual pairs; want the one of the fold:\n%s", what, n, out)
		}
		if strings.Contains(out, "its log usually says why") {
			t.Errorf("%s keeps the server-error hint, which does not fit a 501 placeholder:\n%s", what, out)
		}
	}
	if n := strings.Count(md, "<details"); n != 1 {
		t.Errorf("markdown has %d <details> sections; want 1:\n%s", n, md)
	}
	// Every public scenario is still named: in the table, and in the fold's list.
	for _, slug := range []string{"missing_key", "duplicate_submission_handling", "key_reuse_different_payload", "concurrent_duplicate_requests",
		"timeout_handling", "restart_persistence"} {
		if strings.Count(md, "`"+slug+"`") != 2 {
			t.Errorf("markdown names %s %d times; want twice (its row and the fold):\n%s", slug, strings.Count(md, "`"+slug+"`"), md)
		}
	}
}

// TestDifferentFailuresAreNotFolded: only failures with the same outcome and hint fold.
func TestDifferentFailuresAreNotFolded(t *testing.T) {
	t.Parallel()
	f := func(actual, hint string) *scenarios.Failure {
		return &scenarios.Failure{Expected: "201", Actual: actual, Hint: hint}
	}
	v := grading.Verdict{Status: grading.Failed, Scenarios: []grading.ScenarioResult{
		{Slug: "a", Visibility: scenarios.Public, Weight: 1, Outcome: grading.OutcomeFailed, Failure: f("500 boom", "Look at the log.")},
		{Slug: "b", Visibility: scenarios.Public, Weight: 1, Outcome: grading.OutcomeFailed, Failure: f("500 boom", "Look at the log.")},
		{Slug: "c", Visibility: scenarios.Public, Weight: 1, Outcome: grading.OutcomeFailed, Failure: f("500 boom", "Another hint.")},
		{Slug: "d", Visibility: scenarios.Public, Weight: 1, Outcome: grading.OutcomeFailed, Failure: f("2 charges", "Look at the log.")},
	}}
	md := grading.Markdown(v)
	if n := strings.Count(md, "<details open>"); n != 3 {
		t.Fatalf("%d sections; want 3 (a with b, c, d):\n%s", n, md)
	}
	if !strings.Contains(md, "<code>a</code> and 1 more scenario, failing the same way") || !strings.Contains(md, "- **also:** `b`") {
		t.Fatalf("a and b fold into one section naming b:\n%s", md)
	}
}

// TestHiddenOnlyFailureSaysHowMany: a grade lost to hidden scenarios alone must not read as a red
// headline over green rows; it says how many failed, and nothing else of them.
func TestHiddenOnlyFailureSaysHowMany(t *testing.T) {
	t.Parallel()
	ms := grading.Millis(time.Millisecond)
	v := grading.Verdict{Challenge: "c", Status: grading.Failed, Score: 80, Scenarios: []grading.ScenarioResult{
		{Slug: "public_one", Visibility: scenarios.Public, Weight: 40, Outcome: grading.OutcomePassed, Duration: ms},
		{Slug: "secret_one", Visibility: scenarios.Hidden, Weight: 10, Outcome: grading.OutcomeFailed, Duration: ms,
			Failure: &scenarios.Failure{Expected: "secret expected", Actual: "secret actual", Hint: "secret hint"}, LogTail: "secret log\n"},
		{Slug: "public_two", Visibility: scenarios.Public, Weight: 40, Outcome: grading.OutcomePassed, Duration: ms},
		{Slug: "secret_two", Visibility: scenarios.Hidden, Weight: 10, Outcome: grading.OutcomePassed, Duration: ms},
	}}
	learner := grading.ForView(v, grading.LearnerView)
	if learner.HiddenFailed != 1 {
		t.Fatalf("learner view: HiddenFailed %d; want 1", learner.HiddenFailed)
	}
	md, txt := grading.Markdown(learner), text(t, learner)
	body := grading.MarkdownBody(learner)
	golden(t, "report-hidden-only.md", []byte(md))
	golden(t, "report-hidden-only.txt", []byte(txt))
	for what, out := range map[string]string{"markdown": md, "check-run summary": body, "text": txt} {
		if !strings.Contains(strings.ReplaceAll(out, "**", ""), "1 hidden scenario failed. Hidden scenarios check the brief") {
			t.Errorf("%s does not say a hidden scenario failed:\n%s", what, out)
		}
		if !strings.Contains(out, "2 hidden scenarios: 1 failed, 1 passed (details withheld)") {
			t.Errorf("%s lacks the hidden scenarios' line:\n%s", what, out)
		}
		for _, secret := range []string{"secret", "SKIP"} {
			if strings.Contains(out, secret) {
				t.Errorf("%s has %q:\n%s", what, secret, out)
			}
		}
	}
	if strings.Count(md, "✅") != 2 || strings.Count(md, "❌") != 2 { // the headline's and the hidden row's
		t.Errorf("markdown: want two green rows, and red for the headline and the hidden row:\n%s", md)
	}
	if !strings.Contains(txt, "3 passed, 1 failed (1 hidden) · score 80/100 · failed") {
		t.Errorf("text summary:\n%s", txt)
	}
	// Passing hidden scenarios are one line too, and say nothing failed.
	v.Scenarios[1].Outcome, v.Scenarios[1].Failure, v.Status, v.Score = grading.OutcomePassed, nil, grading.Passed, 100
	learner = grading.ForView(v, grading.LearnerView)
	if md := grading.Markdown(learner); strings.Contains(md, "failed") || !strings.Contains(md, "2 hidden scenarios: 2 passed") {
		t.Errorf("all passed:\n%s", md)
	}
}

// TestCrashOutputIsShownOpen: "its last output is below" must be true without a click.
func TestCrashOutputIsShownOpen(t *testing.T) {
	t.Parallel()
	for _, v := range []grading.Verdict{
		{Status: grading.Crashed, Message: "Expected the app to answer /healthz, but it exited with code 1. Its last output is below.",
			LogTail: "connecting to postgres\npanic: DATABASE_URL is not set\n"},
		{Status: grading.BuildFailed, Message: "The image did not build: exit 1. Fix the error the build log ends with (below).",
			LogTail: "Step 5/6 : RUN go build\npanic: DATABASE_URL is not set\n"},
	} {
		md := grading.Markdown(v)
		golden(t, "report-"+strings.ReplaceAll(string(v.Status), "_", "-")+".md", []byte(md))
		if !strings.Contains(outsideDetails(md), "panic: DATABASE_URL is not set") {
			t.Errorf("%s: the output is collapsed:\n%s", v.Status, md)
		}
	}
}

// TestNoEmptyBlocks: output that is blank once made plain draws no empty code block or section.
func TestNoEmptyBlocks(t *testing.T) {
	t.Parallel()
	blank := "\x1b[0m \n\t\n\x1b[91m\x1b[0m\n"
	v := grading.Verdict{Status: grading.Failed, LogTail: blank, Scenarios: []grading.ScenarioResult{
		{Slug: "a", Visibility: scenarios.Public, Weight: 1, Outcome: grading.OutcomeFailed,
			Failure: &scenarios.Failure{Expected: "x", Actual: "y", Hint: "z"}, LogTail: blank}}}
	for _, s := range []grading.Status{grading.Failed, grading.Crashed, grading.BuildFailed} {
		v.Status = s
		if md := grading.Markdown(v); strings.Contains(md, "```") || strings.Contains(md, "output") {
			t.Errorf("%s: an empty log block:\n%s", s, md)
		}
		if txt := text(t, v); strings.Contains(txt, "  | ") {
			t.Errorf("%s: an empty log block in the text:\n%s", s, txt)
		}
	}
}

// TestCheckRunSummarySaysTheVerdictOnce: the check run's title is the verdict; its summary does
// not repeat it, while the pull request's comment (no title) starts with it.
func TestCheckRunSummarySaysTheVerdictOnce(t *testing.T) {
	t.Parallel()
	v := grading.ForView(sampleVerdict(), grading.LearnerView)
	title := grading.Title(v)
	if body := grading.MarkdownBody(v); strings.Contains(body, title) || strings.Contains(body, "71/100") {
		t.Errorf("the summary repeats the title %q:\n%s", title, body)
	}
	if md := grading.Markdown(v); strings.Count(md, title) != 1 || !strings.HasPrefix(md, "### ❌ "+title) {
		t.Errorf("the comment must say %q once, first:\n%s", title, md)
	}
}

// TestReportsStripANSI: colour codes from a build or an app never reach a report, in prose or in
// code blocks.
func TestReportsStripANSI(t *testing.T) {
	t.Parallel()
	red := "\x1b[91m# example.com/broken\n./main.go:6:30: undefined: healthz\n\x1b[0m"
	link := "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\ \x1b]0;title\x07\x1b(Bdone\n"
	v := grading.Verdict{Status: grading.Failed, Message: red, LogTail: red + link,
		Annotations: []grading.Annotation{{Path: "main.go", Line: 6, Message: "\x1b[1mundefined\x1b[0m"}},
		Scenarios: []grading.ScenarioResult{{Slug: "a", Visibility: scenarios.Public, Weight: 1, Outcome: grading.OutcomeFailed,
			Failure: &scenarios.Failure{Expected: red, Actual: link, Hint: red}, LogTail: red + link}}}
	for _, s := range []grading.Status{grading.Failed, grading.Crashed, grading.BuildFailed} {
		v.Status = s
		for what, out := range map[string]string{"markdown": grading.Markdown(v), "text": text(t, v)} {
			for _, bad := range []string{"\x1b", "[91m", "[0m", "]8;;", "evil", "0;title", "(B"} {
				if strings.Contains(out, bad) {
					t.Errorf("%s %s has %q:\n%s", s, what, bad, out)
				}
			}
			if !strings.Contains(out, "clickdone") && !strings.Contains(out, "click done") {
				t.Errorf("%s %s lost the text around the escapes:\n%s", s, what, out)
			}
		}
	}
}
