package cli

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/docker/dockertest"
	"github.com/holdfast-ci/holdfast/scenarios"
)

// gradingEvents are the events of a grading of three public scenarios and a hidden one.
func gradingEvents() []grading.Event {
	evs := []grading.Event{{Stage: "build"}, {Stage: "build", Done: true, Note: "cached"}, {Stage: "provision"}, {Stage: "provision", Done: true},
		{Stage: "start"}, {Stage: "start", Done: true}}
	for _, r := range []grading.ScenarioResult{
		{Slug: "first_public", Visibility: scenarios.Public, Outcome: grading.OutcomePassed},
		{Slug: "secret_hidden", Visibility: scenarios.Hidden, Outcome: grading.OutcomeFailed},
		{Slug: "second_public", Visibility: scenarios.Public, Outcome: grading.OutcomeFailed},
		{Slug: "last_public", Visibility: scenarios.Public, Outcome: grading.OutcomePassed},
	} {
		evs = append(evs, grading.Event{Stage: "scenario", Note: r.Slug}, grading.Event{Stage: "scenario", Done: true, Duration: time.Millisecond, Result: &r})
	}
	return evs
}

// TestProgressDoesNotListScenarios: the report lists each scenario; progress only says the
// scenarios started and finished, so that `runner grade` shows each scenario once.
func TestProgressDoesNotListScenarios(t *testing.T) {
	var b bytes.Buffer
	p := newProgress(&b, grading.LearnerView, 4, false)
	for _, e := range gradingEvents() {
		p(e)
	}
	out := b.String()
	for _, slug := range []string{"first_public", "secret_hidden", "second_public", "last_public", "hidden scenario"} {
		if strings.Contains(out, slug) {
			t.Errorf("progress names %q:\n%s", slug, out)
		}
	}
	if !regexp.MustCompile(`(?m)^  scenarios … 4 to run\n  scenarios done in \S+$`).MatchString(out) {
		t.Errorf("progress: want the scenarios' start and end:\n%s", out)
	}
}

// TestLiveProgressRedrawsOneLine: on a terminal each finished scenario replaces the line
// before, never a hidden one's name in the learner's view, and the last line left is the end.
func TestLiveProgressRedrawsOneLine(t *testing.T) {
	var b bytes.Buffer
	p := newProgress(&b, grading.LearnerView, 4, true)
	for _, e := range gradingEvents() {
		p(e)
	}
	out := b.String()
	if strings.Contains(out, "secret_hidden") {
		t.Errorf("live progress names a hidden scenario:\n%q", out)
	}
	const up = "\x1b[1A\x1b[2K"
	if n := strings.Count(out, up); n != 4 {
		t.Errorf("%d redraws; want one per scenario:\n%q", n, out)
	}
	if !strings.Contains(out, up+"  scenarios [3/4] second_public failed 1ms\n") || !strings.HasSuffix(out, "\n") ||
		!regexp.MustCompile(`\x1b\[2K  scenarios done in \S+\n$`).MatchString(out) {
		t.Errorf("live progress:\n%q", out)
	}
}

// TestGradeShowsEachScenarioOnce grades the Go starter of idempotent-payments for real (every
// route answers 501): stderr's progress names no scenario, stdout's report names each public one
// in one row, folds the seven identical failures into one, and shows the hidden ones as one line.
func TestGradeShowsEachScenarioOnce(t *testing.T) {
	ns := dockertest.Engine(t).Namespace()
	t.Setenv("HOLDFAST_NAMESPACE", ns)
	code, stdout, stderr := runCLI(t, "grade", "--challenge", "idempotent-payments", "../../templates/idempotent-payments/starter/go")
	if code != exitFail {
		t.Fatalf("exit %d; want %d\nstdout:\n%s\nstderr:\n%s", code, exitFail, stdout, stderr)
	}
	public := []string{"basic_request_handling", "missing_key", "duplicate_submission_handling", "key_reuse_different_payload",
		"concurrent_duplicate_requests", "timeout_handling", "restart_persistence"}
	var progress strings.Builder // stderr has operators' log lines too ("time=… level=WARN …")
	for _, line := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(line, "  ") {
			progress.WriteString(line + "\n")
		}
	}
	if !strings.Contains(progress.String(), "  scenarios done in ") {
		t.Errorf("progress does not say the scenarios finished:\n%s", stderr)
	}
	for _, slug := range public {
		if strings.Contains(progress.String(), slug) {
			t.Errorf("progress names %s:\n%s", slug, progress.String())
		}
		if rows := regexp.MustCompile(`(?m)^(PASS|FAIL) `+slug+` `).FindAllString(stdout, -1); len(rows) != 1 {
			t.Errorf("%d rows for %s; want 1:\n%s", len(rows), slug, stdout)
		}
	}
	for _, want := range []string{"FAIL 7 scenarios: 501 not implemented yet — start with basic_request_handling\n",
		"FAIL 3 hidden scenarios: 3 failed (details withheld)\n", "0 passed, 10 failed (3 hidden) · score 0/100 · failed\n"} {
		if strings.Count(stdout, want) != 1 {
			t.Errorf("the report does not say once %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "SKIP") || strings.Count(stdout, "expected:") != 1 {
		t.Errorf("want no SKIP and one expected/actual pair:\n%s", stdout)
	}
	if left := sandboxes(t, ns); left != "" {
		t.Fatalf("left behind after grading: %s", left)
	}
}
