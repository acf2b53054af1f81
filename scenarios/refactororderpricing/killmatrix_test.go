package refactororderpricing_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/compare"
	"github.com/holdfast-ci/holdfast/grading/docker/dockertest"
	refactor "github.com/holdfast-ci/holdfast/scenarios/refactororderpricing"
	"github.com/holdfast-ci/holdfast/scenarios/scenariotest"
)

// For a refactor challenge the kill matrix is over heads: each testdata/<Dir> is compared with
// the starter of its language as the base, and must show a behaviour change in exactly Fails.
// The faithful refactors change nothing.
var killMatrix = []scenariotest.Row{
	{Dir: "faithful-go"},
	{Dir: "faithful-py"},
	// Each row before issue 12 is kept as it was; boundary_carts, added then, catches every one too.
	{Dir: "changed-rounding", Fails: []string{"rounding", "coupons", "seeded_carts", "boundary_carts"}},
	{Dir: "changed-error-status", Fails: []string{"validation_errors", "boundary_carts"}},
	{Dir: "changed-line-order", Fails: []string{"line_order", "coupons", "boundary_carts"}},
	{Dir: "changed-volume-threshold", Fails: []string{"line_pricing", "seeded_carts", "boundary_carts"}},
	{Dir: "changed-coupon-trim", Fails: []string{"coupons", "validation_errors", "boundary_carts"}},
	{Dir: "changed-free-shipping-boundary", Fails: []string{"shipping_and_tax", "boundary_carts"}},
	// Issue 12: behaviour changes the fixed tables could not see, and a head that adds a field.
	{Dir: "changed-vat-per-component", Fails: []string{"boundary_carts"}},
	{Dir: "changed-merged-line-position", Fails: []string{"boundary_carts"}},
	{Dir: "changed-merge-range-check", Fails: []string{"boundary_carts"}},
	{Dir: "changed-added-field", Fails: []string{"line_pricing", "rounding", "coupons", "shipping_and_tax", "line_order", "seeded_carts", "boundary_carts"}},
	// Written blind, from the brief and the Python starter only (never scenarios/): a refactor
	// in an unusual style (data tables, Fractions, one shipping function) and three honest
	// behaviour changes, rebased on the starter's later 405 fix. Two passed until
	// boundary_carts generated what they change: a wrong type after a quantity out of range
	// (checks merged into one pass) and a coupon sent as null (a crash).
	{Dir: "faithful-py-blind"},
	{Dir: "changed-py-one-pass-checks", Fails: []string{"boundary_carts"}},
	{Dir: "changed-py-null-coupon", Fails: []string{"boundary_carts"}},
	{Dir: "changed-py-welcome10-after-gold", Fails: []string{"boundary_carts"}},
	// Issue 17, TypeScript: a refactor into modules, and what JavaScript makes easy to change.
	{Dir: "faithful-ts"},
	{Dir: "changed-ts-math-round", Fails: []string{"rounding", "coupons", "seeded_carts", "boundary_carts"}},
	{Dir: "changed-ts-sort-comparator", Fails: []string{"line_order", "coupons", "boundary_carts"}},
	{Dir: "changed-ts-plain-json-parse", Fails: []string{"boundary_carts"}},
	// These two passed every scenario until boundary_carts sent an optional field as "" and a
	// product named "constructor" (found by the blind check below).
	{Dir: "changed-ts-nullish-region", Fails: []string{"boundary_carts"}},
	{Dir: "changed-ts-object-catalog", Fails: []string{"boundary_carts"}},
	// Lines merged in an Object.create(null): integer-like keys come first, so the first
	// unknown product reported is one named by digits. It passed until boundary_carts sent two.
	{Dir: "changed-ts-object-merge", Fails: []string{"boundary_carts"}},
	// Written blind, from the brief and the TypeScript starter only, before generate.go was
	// read: a class-based pipeline with a rule table, its own JSON reader and BigInt rounding.
	{Dir: "faithful-ts-blind"},
}

// base is the starter each head is compared with: the one in the head's language, told by the
// file its build starts from.
func base(t *testing.T, row string) string {
	t.Helper()
	for _, s := range []struct{ file, lang string }{{"go.mod", "go"}, {"app.py", "python"}, {"package.json", "ts"}} {
		if _, err := os.Stat(filepath.Join("testdata", row, s.file)); err == nil {
			return filepath.Join("..", "..", "templates", refactor.Slug, "starter", s.lang)
		}
	}
	t.Fatalf("testdata/%s has no go.mod, app.py or package.json: add the head's language to base", row)
	return ""
}

func challenge(t *testing.T) grading.Challenge {
	return scenariotest.Challenge(t, refactor.Slug, refactor.Scenarios())
}

func TestEveryScenarioHasAKiller(t *testing.T) {
	scenariotest.EveryScenarioHasAKiller(t, refactor.Scenarios(), killMatrix)
}

// TestKillMatrix grades each starter once (it must pass every scenario: a refactor challenge's
// base works by construction), then every head, and judges each head against its starter as
// grading/compare does for a pull request. Gradings run GradingsEnv at a time, as every
// challenge's kill matrix does (scenariotest.KillMatrix): the starters side by side first, then
// the heads.
func TestKillMatrix(t *testing.T) {
	ch := challenge(t)
	g := &grading.Grader{Engine: dockertest.Engine(t), HardCap: 300 * time.Second}
	grade := func(dir string) (grading.Verdict, error) {
		release, err := scenariotest.Acquire()
		if err != nil {
			return grading.Verdict{}, err
		}
		defer release()
		ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
		defer cancel()
		v, err := g.Grade(ctx, ch, dir, nil)
		if err != nil {
			return v, fmt.Errorf("grader error on %s: %w", dir, err)
		}
		return v, nil
	}
	var dirs []string
	for _, row := range killMatrix {
		if dir := base(t, row.Dir); !slices.Contains(dirs, dir) {
			dirs = append(dirs, dir)
		}
	}
	bases := make([]grading.Verdict, len(dirs))
	var wg sync.WaitGroup
	for i, dir := range dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := grade(dir)
			if err != nil {
				t.Error(err)
				return
			}
			if v.Status != grading.Passed || v.Score != 100 {
				for _, r := range v.Scenarios {
					if r.Failure != nil {
						t.Logf("%s: %s: expected %s; actual %s", dir, r.Slug, r.Failure.Expected, r.Failure.Actual)
					}
				}
				t.Errorf("starter %s: %s %d/100 (%s); a refactor challenge's starter must pass every scenario", dir, v.Status, v.Score, v.Message)
				return
			}
			bases[i] = v
			for _, r := range v.Scenarios {
				if r.Slug == "boundary_carts" {
					n := len(refactor.Generate(refactor.GeneratorSeed))
					d := time.Duration(r.Duration)
					t.Logf("%s: boundary_carts sent %d requests in %s (%.0f a second)", dir, n, d, float64(n)/d.Seconds())
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for _, row := range killMatrix {
		t.Run(row.Dir, func(t *testing.T) {
			t.Parallel()
			head, err := grade(filepath.Join("testdata", row.Dir))
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range head.Scenarios {
				if r.Slug == "boundary_carts" {
					t.Logf("boundary_carts took %s (%s)", time.Duration(r.Duration).Round(time.Millisecond), r.Outcome)
				}
			}
			r := compare.Judge(bases[slices.Index(dirs, base(t, row.Dir))], head)
			var changed []string
			for _, d := range r.Scenarios {
				if d.Changed {
					changed = append(changed, d.Slug)
				}
				if d.Head.Outcome == grading.OutcomeError {
					t.Errorf("%s: grader error %s", d.Slug, d.Head.Error)
				}
			}
			sort.Strings(changed)
			want := slices.Clone(row.Fails)
			sort.Strings(want)
			if !slices.Equal(changed, want) {
				for _, d := range r.Scenarios {
					if d.Changed {
						t.Logf("%s: behaviour changed: before %s; after %s", d.Slug, d.Before(), d.After())
					}
				}
				t.Fatalf("%s, changed %v; want exactly %v", r.Status, changed, want)
			}
			// A changed answer among the generated requests is shown by the smallest one, for the
			// learner to send to their base and head.
			for _, d := range r.Scenarios {
				if d.Slug == "boundary_carts" && d.Changed {
					t.Logf("boundary_carts: %s", d.After())
					if d.Head.Failure == nil || !strings.Contains(d.Head.Failure.Actual, "POST /api/quote {") {
						t.Errorf("boundary_carts changed without naming the request that shows it: %s", d.After())
					}
				}
			}
			if wantStatus := map[bool]grading.Status{true: grading.Passed, false: grading.Failed}[len(want) == 0]; r.Status != wantStatus {
				t.Fatalf("status %s; want %s", r.Status, wantStatus)
			}
			// What the learner reads on the pull request's check (runner compare's report).
			var report strings.Builder
			if err := compare.WriteText(&report, compare.ForView(r, grading.LearnerView)); err != nil {
				t.Fatal(err)
			}
			scenariotest.MatchTranscript(t, row.Dir, report.String())
		})
	}
}

// TestFaithfulRefactorsReadBetter: the starters are tangled and the faithful refactors are not,
// as the quality report measures it (no Docker needed).
func TestFaithfulRefactorsReadBetter(t *testing.T) {
	for _, dir := range []string{"faithful-go", "faithful-py", "faithful-ts"} {
		q, err := compare.MeasureBoth(base(t, dir), filepath.Join("testdata", dir))
		if err != nil {
			t.Fatal(err)
		}
		b, h := q.Base, q.Head
		if h.Longest.Lines*3 > b.Longest.Lines || h.MostComplex.Complexity*3 > b.MostComplex.Complexity ||
			h.DuplicatedLines >= b.DuplicatedLines || h.Tests == 0 || b.Tests != 0 {
			t.Errorf("%s: base %+v\nhead %+v\nwant the longest function and the highest complexity cut by 3, fewer duplicated lines, tests added", dir, b, h)
		}
	}
}

// TestInputsAreFixed: base and head must see the same requests, so every scenario's inputs are
// the same on every call.
func TestInputsAreFixed(t *testing.T) {
	a, b := refactor.SeededCartsForTest(), refactor.SeededCartsForTest()
	if len(a) != refactor.SeededCarts || !slices.EqualFunc(a, b, func(x, y refactor.Cart) bool {
		xj, _ := json.Marshal(x)
		yj, _ := json.Marshal(y)
		return string(xj) == string(yj)
	}) {
		t.Fatal("the seeded carts differ between two calls")
	}
}

// TestBriefExampleIsTheContract: the quote shown in the brief is what the oracle computes.
func TestBriefExampleIsTheContract(t *testing.T) {
	brief := scenariotest.ReadBrief(t, refactor.Slug)
	blocks := regexp.MustCompile("(?s)```json\n(.*?)```").FindAllStringSubmatch(brief, -1)
	if len(blocks) < 2 {
		t.Fatalf("the brief has %d JSON examples; want the request and its quote", len(blocks))
	}
	var cart refactor.Cart
	var shown, computed any
	if err := json.Unmarshal([]byte(blocks[0][1]), &cart); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(blocks[1][1]), &shown); err != nil {
		t.Fatal(err)
	}
	q, refusal := refactor.Price(cart)
	if refusal != nil {
		t.Fatal(refusal.Message)
	}
	b, _ := json.Marshal(q)
	_ = json.Unmarshal(b, &computed)
	if mb, _ := json.Marshal(shown); string(mb) != func() string { c, _ := json.Marshal(computed); return string(c) }() {
		t.Fatalf("the brief shows\n%s\nthe oracle computes\n%s", mb, b)
	}
	for _, s := range []string{"half to even", "from 10", "from 50", "3 %", "at least 2000", "at least 3 tea", "500 off",
		"per started 500 g above the first 1000 g", "8.1 %", "inclusive", "unknown sku: <SKU>", "first appear"} {
		if !strings.Contains(brief, s) {
			t.Errorf("the brief does not say %q", s)
		}
	}
}
