package compare_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/compare"
	"github.com/holdfast-ci/holdfast/scenarios"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func ms(n int) grading.Millis { return grading.Millis(time.Duration(n) * time.Millisecond) }

func pass(slug string, vis scenarios.Visibility, w int) grading.ScenarioResult {
	return grading.ScenarioResult{Slug: slug, Title: slug, Visibility: vis, Weight: w, Outcome: grading.OutcomePassed, Duration: ms(10)}
}

func fail(slug string, vis scenarios.Visibility, w int, expected, actual string) grading.ScenarioResult {
	return grading.ScenarioResult{Slug: slug, Title: slug, Visibility: vis, Weight: w, Outcome: grading.OutcomeFailed, Duration: ms(20),
		Failure: &scenarios.Failure{Expected: expected, Actual: actual, Hint: "Keep the rounding rule."}}
}

func verdict(status grading.Status, rs ...grading.ScenarioResult) grading.Verdict {
	return grading.Verdict{Challenge: "refactor-order-pricing", Status: status, Score: grading.Score(rs), Scenarios: rs}
}

func TestJudge(t *testing.T) {
	pub := scenarios.Public
	cases := []struct {
		name       string
		base, head grading.Verdict
		status     grading.Status
		score      int
		changed    []string
	}{
		{"same passes", verdict(grading.Passed, pass("a", pub, 10), pass("b", pub, 30)),
			verdict(grading.Passed, pass("a", pub, 10), pass("b", pub, 30)), grading.Passed, 100, nil},
		{"a pass becomes a failure", verdict(grading.Passed, pass("a", pub, 10), pass("b", pub, 30)),
			verdict(grading.Failed, pass("a", pub, 10), fail("b", pub, 30, "total 1.05", "total 1.06")), grading.Failed, 25, []string{"b"}},
		{"a failure becomes a pass is a change too", verdict(grading.Failed, fail("a", pub, 10, "x", "y"), pass("b", pub, 30)),
			verdict(grading.Passed, pass("a", pub, 10), pass("b", pub, 30)), grading.Failed, 75, []string{"a"}},
		{"the same failure, ids and durations aside", verdict(grading.Failed, fail("a", pub, 10, "201", "no answer within 5.002s for ord_8f3a9b2c1d at 172.18.0.5:3000")),
			verdict(grading.Failed, fail("a", pub, 10, "201", "no answer within 5.013s for ord_77aa01bc9e at 172.18.0.9:3000")), grading.Passed, 100, nil},
		{"a different failure", verdict(grading.Failed, fail("a", pub, 10, "201", "400 bad request")),
			verdict(grading.Failed, fail("a", pub, 10, "201", "422 unknown sku")), grading.Failed, 0, []string{"a"}},
		{"a different expectation failing", verdict(grading.Failed, fail("a", pub, 10, "201 for the first cart", "400")),
			verdict(grading.Failed, fail("a", pub, 10, "201 for the second cart", "400")), grading.Failed, 0, []string{"a"}},
		{"head does not build", verdict(grading.Passed, pass("a", pub, 10)),
			grading.Verdict{Challenge: "refactor-order-pricing", Status: grading.BuildFailed, Message: "The image did not build.",
				Scenarios: []grading.ScenarioResult{{Slug: "a", Title: "a", Visibility: pub, Weight: 10, Outcome: grading.OutcomeNotRun}}},
			grading.BuildFailed, 0, []string{"a"}},
		{"grader error on either side", grading.Verdict{Status: grading.GraderError},
			verdict(grading.Passed, pass("a", pub, 10)), grading.GraderError, 0, []string{"a"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := compare.Judge(c.base, c.head)
			var changed []string
			for _, d := range r.Scenarios {
				if d.Changed {
					changed = append(changed, d.Slug)
				}
			}
			if r.Status != c.status || r.Score != c.score || !slices.Equal(changed, c.changed) {
				t.Fatalf("status %s, score %d, changed %v; want %s, %d, %v (%s)", r.Status, r.Score, changed, c.status, c.score, c.changed, r.Message)
			}
		})
	}
}

func TestMask(t *testing.T) {
	for in, want := range map[string]string{
		"no answer within 1.5s":                       "no answer within <duration>",
		"took 340ms":                                  "took <duration>",
		"order ord_8f3a9b2c1d created":                "order ord_<id> created",
		"id 123e4567-e89b-12d3-a456-426614174000 now": "id <id> now",
		"connect 172.18.0.5:3000 refused":             "connect <addr> refused",
		"500 Internal Server Error":                   "500 Internal Server Error",
		"total 1299 EUR, expected 1300":               "total 1299 EUR, expected 1300",
	} {
		if got := compare.Mask(in); got != want {
			t.Errorf("Mask(%q) = %q; want %q", in, got, want)
		}
	}
}

func sample() compare.Result {
	pub, hid := scenarios.Public, scenarios.Hidden
	base := verdict(grading.Passed, pass("line_pricing", pub, 15), pass("rounding", pub, 15), pass("seeded_carts", hid, 20),
		grading.ScenarioResult{Slug: "reviewer_check", Title: "r", Visibility: scenarios.ReviewerOnly, Weight: 5, Outcome: grading.OutcomePassed})
	head := verdict(grading.Failed, pass("line_pricing", pub, 15),
		fail("rounding", pub, 15, `total 1063 for cart "half cents"`, "total 1064"),
		fail("seeded_carts", hid, 20, "secret expectation", "secret actual"),
		grading.ScenarioResult{Slug: "reviewer_check", Title: "r", Visibility: scenarios.ReviewerOnly, Weight: 5, Outcome: grading.OutcomePassed})
	head.Scenarios[1].LogTail = "quote: total=10.635 rounded=1064\n"
	r := compare.Judge(base, head)
	r.Quality = &compare.Quality{
		Base: compare.Metrics{Files: 1, Lines: 310, Functions: 4, Complexity: 71, DuplicatedLines: 36, DuplicateBlocks: 3,
			Longest:     compare.Func{Name: "quoteHandler", Path: "main.go", Lines: 182, Complexity: 58},
			MostComplex: compare.Func{Name: "quoteHandler", Path: "main.go", Lines: 182, Complexity: 58}},
		Head: compare.Metrics{Files: 4, Lines: 268, Functions: 19, Complexity: 49, Tests: 6,
			Longest:     compare.Func{Name: "priceLines", Path: "pricing.go", Lines: 38, Complexity: 9},
			MostComplex: compare.Func{Name: "validate", Path: "quote.go", Lines: 30, Complexity: 11}},
	}
	return r
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs (go test ./grading/compare -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestReportGolden(t *testing.T) {
	learner := compare.ForView(sample(), grading.LearnerView)
	var txt bytes.Buffer
	if err := compare.WriteText(&txt, learner); err != nil {
		t.Fatal(err)
	}
	golden(t, "compare-learner.txt", txt.Bytes())
	golden(t, "compare-learner.md", []byte(compare.Markdown(learner)))

	var rev bytes.Buffer
	if err := compare.WriteText(&rev, compare.ForView(sample(), grading.ReviewerView)); err != nil {
		t.Fatal(err)
	}
	golden(t, "compare-reviewer.txt", rev.Bytes())

	buildFailed := compare.Judge(verdict(grading.Passed, pass("line_pricing", scenarios.Public, 15)), grading.Verdict{
		Challenge: "refactor-order-pricing", Status: grading.BuildFailed, Message: "The image did not build: `go build` failed.",
		LogTail: "./pricing.go:12:2: undefined: roundHalfEven\n", Annotations: []grading.Annotation{{Path: "pricing.go", Line: 12, Column: 2, Message: "undefined: roundHalfEven"}},
		Scenarios: []grading.ScenarioResult{{Slug: "line_pricing", Title: "l", Visibility: scenarios.Public, Weight: 15, Outcome: grading.OutcomeNotRun}}})
	golden(t, "compare-build-failed.md", []byte(compare.Markdown(compare.ForView(buildFailed, grading.LearnerView))))
}

// TestLearnerViewWithholdsHiddenScenarios: whether a hidden scenario changed, and how, never
// reaches a learner, in any rendering.
func TestLearnerViewWithholdsHiddenScenarios(t *testing.T) {
	learner := compare.ForView(sample(), grading.LearnerView)
	js, _ := json.Marshal(learner)
	var txt bytes.Buffer
	_ = compare.WriteText(&txt, learner)
	for name, out := range map[string]string{"json": string(js), "text": txt.String(), "markdown": compare.Markdown(learner)} {
		for _, secret := range []string{"seeded_carts", "secret expectation", "secret actual", "reviewer_check"} {
			if strings.Contains(out, secret) {
				t.Errorf("the learner's %s shows %q", name, secret)
			}
		}
	}
	if got := compare.Title(learner); got != "Behaviour changed in 1 scenario · 36/100" {
		t.Errorf("learner title %q counts what the learner cannot see", got)
	}
	if learner.Score != sample().Score {
		t.Fatalf("score %d in the learner view, %d for reviewers: hidden scenarios still count", learner.Score, sample().Score)
	}
}
