package grading_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/scenarios"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func sampleVerdict() grading.Verdict {
	ms := func(n int) grading.Millis { return grading.Millis(time.Duration(n) * time.Millisecond) }
	return grading.Verdict{
		Challenge: "idempotent-payments", Status: grading.Failed, Score: 71,
		Scenarios: []grading.ScenarioResult{
			{Slug: "basic_request_handling", Title: "basic", Visibility: scenarios.Public, Weight: 10, Outcome: grading.OutcomePassed, Duration: ms(12)},
			{Slug: "partial_failure_recovery", Title: "partial", Visibility: scenarios.Public, Weight: 15, Outcome: grading.OutcomeFailed, Duration: ms(340),
				Failure: &scenarios.Failure{Expected: "exactly 1 provider charge(s) for a retried payment", Actual: "2 charge(s) at the provider", Hint: "Send the provider an Idempotency-Key."},
				LogTail: "charge pay_1: provider answered 500\n"},
			{Slug: "database_connection_recovery", Title: "db", Visibility: scenarios.Hidden, Weight: 10, Outcome: grading.OutcomeFailed, Duration: ms(3050),
				Failure: &scenarios.Failure{Expected: "secret expectation", Actual: "secret actual"}, LogTail: "secret output: database unreachable\n"},
			{Slug: "reviewer_check", Title: "rev", Visibility: scenarios.ReviewerOnly, Weight: 5, Outcome: grading.OutcomePassed, Duration: ms(1)},
		},
		LogTail: "listening on :3000\nprovider error: 500\nsecret output: database unreachable\n",
		Timings: grading.Timings{Build: ms(20000), Provision: ms(2000), Scenarios: ms(3400), Total: ms(25400)},
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs (go test ./grading -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestReportGolden(t *testing.T) {
	for _, c := range []struct {
		name string
		view grading.View
	}{{"report-learner.txt", grading.LearnerView}, {"report-reviewer.txt", grading.ReviewerView}} {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := grading.WriteText(&b, grading.ForView(sampleVerdict(), c.view)); err != nil {
				t.Fatal(err)
			}
			golden(t, c.name, b.Bytes())
		})
	}
	build := grading.Verdict{Challenge: "idempotent-payments", Status: grading.BuildFailed, Message: "The image did not build: exit 1",
		LogTail: "./main.go:12:5: undefined: handler\n", Annotations: []grading.Annotation{{Path: "main.go", Line: 12, Column: 5, Message: "undefined: handler"}},
		Scenarios: []grading.ScenarioResult{{Slug: "basic_request_handling", Visibility: scenarios.Public, Weight: 10, Outcome: grading.OutcomeNotRun}}}
	var b bytes.Buffer
	if err := grading.WriteText(&b, grading.ForView(build, grading.LearnerView)); err != nil {
		t.Fatal(err)
	}
	golden(t, "report-build-failed.txt", b.Bytes())
}

// TestLearnerViewWithholdsHidden checks the permission boundary on the data itself, not only on
// the rendered text: nothing of a hidden or reviewer-only scenario but its weight and outcome
// reaches the learner's JSON.
func TestLearnerViewWithholdsHidden(t *testing.T) {
	t.Parallel()
	v := grading.ForView(sampleVerdict(), grading.LearnerView)
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	grading.WriteText(&text, v)
	md := grading.Markdown(v)
	for _, secret := range []string{"database_connection_recovery", "secret expectation", "secret actual", "reviewer_check", "secret output"} {
		for what, out := range map[string]string{"JSON": string(b), "text": text.String(), "markdown": md} {
			if strings.Contains(out, secret) {
				t.Errorf("learner %s leaks %q:\n%s", what, secret, out)
			}
		}
	}
	if !strings.Contains(text.String(), "provider answered 500") {
		t.Errorf("a failed public scenario shows its own output to the learner:\n%s", text.String())
	}
	if v.Scenarios[2].Outcome != grading.OutcomeWithheld {
		t.Errorf("a hidden scenario's outcome reaches the learner: %s", v.Scenarios[2].Outcome)
	}
	if v.Score != 71 || len(v.Scenarios) != 3 {
		t.Fatalf("learner view: score %d with %d scenarios; want 71 and 3", v.Score, len(v.Scenarios))
	}
	full, _ := json.Marshal(grading.ForView(sampleVerdict(), grading.ReviewerView))
	if !strings.Contains(string(full), "secret expectation") || !strings.Contains(string(full), "reviewer_check") {
		t.Fatalf("reviewer JSON must show everything: %s", full)
	}
}

func TestMarkdownGolden(t *testing.T) {
	golden(t, "report-learner.md", []byte(grading.Markdown(grading.ForView(sampleVerdict(), grading.LearnerView))))
}

func TestMarkdownFitsGitHub(t *testing.T) {
	t.Parallel()
	v := sampleVerdict()
	v.Scenarios[1].LogTail = strings.Repeat("a very long line of output that goes on ", 5000) + "\n"
	md := grading.Markdown(grading.ForView(v, grading.LearnerView))
	if len(md) > grading.MaxMarkdown || !strings.Contains(md, "cut here to fit GitHub's limit") {
		t.Fatalf("markdown of %d bytes (limit %d); want it cut with a note", len(md), grading.MaxMarkdown)
	}
	if strings.Count(md, "```")%2 != 0 {
		t.Fatal("the cut left a code fence open")
	}
	// Two-byte characters, after a byte that is no UTF-8 at all (an app's raw output): the cut
	// falls between characters, and the stray byte does not shorten the report.
	v.Scenarios[1].LogTail = "\xff" + strings.Repeat("é", 40000)
	md = grading.Markdown(grading.ForView(v, grading.LearnerView))
	if len(md) > grading.MaxMarkdown || len(md) < grading.MaxMarkdown-1000 || !utf8.ValidString(strings.ReplaceAll(md, "\xff", "")) {
		t.Fatalf("markdown of %d bytes (limit %d), valid UTF-8 but for the stray byte: %v; want it cut just under the limit, between characters",
			len(md), grading.MaxMarkdown, utf8.ValidString(strings.ReplaceAll(md, "\xff", "")))
	}
}

// TestGraderErrorTextSaysWhatToTry: the text report is read after `holdfast test` and `runner
// grade` as well as on the App's run page, so its grader error says how to grade again in both.
func TestGraderErrorTextSaysWhatToTry(t *testing.T) {
	var b strings.Builder
	if err := grading.WriteText(&b, grading.Verdict{Status: grading.GraderError}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"not your code's fault", "run the same command again", "Re-run"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the text report of a grader error does not say %q:\n%s", want, b.String())
		}
	}
}
