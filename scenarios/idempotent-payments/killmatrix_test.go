package idempotentpayments_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/docker/dockertest"
	"github.com/holdfast-ci/holdfast/scenarios"
	idempotentpayments "github.com/holdfast-ci/holdfast/scenarios/idempotent-payments"
)

// killMatrix says which scenarios each submission in testdata/ must fail; every other scenario
// must pass. The reference fails none.
var killMatrix = []struct {
	dir   string
	fails []string
}{
	{"reference", nil},
	{"reference-ts", nil},
	{"broken-check-then-insert", []string{"concurrent_duplicate_requests"}},
	{"broken-no-provider-key", []string{"partial_failure_recovery", "timeout_handling"}},
	{"broken-commit-before-charge", []string{"partial_failure_recovery"}},
	{"broken-memory-idempotency", []string{"restart_persistence"}},
	{"broken-no-reconnect", []string{"database_connection_recovery"}},
	{"broken-lenient-currency", []string{"missing_key"}},
	{"broken-replay-200", []string{"duplicate_submission_handling", "key_reuse_different_payload", "database_connection_recovery", "restart_persistence"}},
	{"broken-ignore-payload", []string{"key_reuse_different_payload"}},
	{"broken-get-unknown-200", []string{"basic_request_handling"}},
}

// TestEveryScenarioHasAKiller holds the matrix to the rule: every scenario catches at least one
// deliberately broken submission, and the matrix names only real scenarios and directories.
func TestEveryScenarioHasAKiller(t *testing.T) {
	killed := map[string]bool{}
	for _, c := range killMatrix {
		if _, err := os.Stat(filepath.Join("testdata", c.dir, "Dockerfile")); err != nil {
			t.Errorf("kill matrix row %s: %v", c.dir, err)
		}
		for _, s := range c.fails {
			killed[s] = true
		}
	}
	table := map[string]bool{}
	for _, s := range idempotentpayments.Scenarios() {
		table[s.Slug] = true
		if !killed[s.Slug] {
			t.Errorf("scenario %s catches no broken variant in testdata/: add one that it must fail", s.Slug)
		}
	}
	for s := range killed {
		if !table[s] {
			t.Errorf("the kill matrix names %s, which is not a scenario", s)
		}
	}
}

func challenge() grading.Challenge {
	return grading.Challenge{Slug: idempotentpayments.Slug, Scenarios: idempotentpayments.Scenarios()}
}

// TestKillMatrix grades the reference solution and every broken variant for real, in Docker,
// and checks each fails exactly the scenarios it should. Gradings run one at a time: the
// scenarios measure time, and two cores shared with an image build would blur them.
func TestKillMatrix(t *testing.T) {
	eng := dockertest.Engine(t)
	g := &grading.Grader{Engine: eng, HardCap: 300 * time.Second} // a cold build downloads modules
	for _, c := range killMatrix {
		t.Run(c.dir, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
			defer cancel()
			v, err := g.Grade(ctx, challenge(), filepath.Join("testdata", c.dir), nil)
			if err != nil {
				t.Fatalf("grader error: %v", err)
			}
			var failed []string
			for _, r := range v.Scenarios {
				switch r.Outcome {
				case grading.OutcomeFailed:
					failed = append(failed, r.Slug)
				case grading.OutcomePassed:
				default:
					t.Errorf("scenario %s: outcome %s (%s)", r.Slug, r.Outcome, r.Error)
				}
			}
			sort.Strings(failed)
			want := slices.Clone(c.fails)
			sort.Strings(want)
			if !slices.Equal(failed, want) {
				for _, r := range v.Scenarios {
					if r.Failure != nil {
						t.Logf("%s: expected %s; actual %s", r.Slug, r.Failure.Expected, r.Failure.Actual)
					}
				}
				t.Fatalf("status %s, failed %v; want exactly %v to fail\napp log:\n%s", v.Status, failed, want, v.LogTail)
			}
			wantStatus := grading.Failed
			if len(want) == 0 {
				wantStatus = grading.Passed
			}
			if v.Status != wantStatus || (wantStatus == grading.Passed) != (v.Score == 100) {
				t.Fatalf("status %s score %d; want %s", v.Status, v.Score, wantStatus)
			}
		})
	}
}

// TestVerdictsAreStable runs the timing- and concurrency-sensitive scenarios several times in
// one sandbox against the reference (must pass every time) and against the variant each should
// catch (must fail every time), so that a verdict never flips between runs.
func TestVerdictsAreStable(t *testing.T) {
	eng := dockertest.Engine(t)
	byslug := map[string]scenarios.Scenario{}
	for _, s := range idempotentpayments.Scenarios() {
		byslug[s.Slug] = s
	}
	cases := []struct {
		dir      string
		scenario string
		runs     int
		pass     bool
	}{
		{"reference", "concurrent_duplicate_requests", 6, true},
		{"reference", "timeout_handling", 3, true},
		{"reference", "database_connection_recovery", 2, true},
		{"broken-check-then-insert", "concurrent_duplicate_requests", 6, false},
		{"broken-no-provider-key", "timeout_handling", 3, false},
		{"reference-ts", "concurrent_duplicate_requests", 4, true},
		{"reference-ts", "timeout_handling", 4, true},
	}
	for _, dir := range []string{"reference", "reference-ts", "broken-check-then-insert", "broken-no-provider-key"} {
		t.Run(dir, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
			defer cancel()
			b, err := eng.Build(ctx, filepath.Join("testdata", dir))
			if err != nil || b.Failed {
				t.Fatalf("build: %v %s\n%s", err, b.Reason, b.LogTail)
			}
			sb, err := eng.Provision(ctx, b.Image, grading.Limits{})
			if sb != nil {
				defer sb.Teardown(context.WithoutCancel(ctx))
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := sb.Start(ctx, scenarios.App); err != nil {
				t.Fatal(err)
			}
			h := sb.Harness()
			for _, c := range cases {
				if c.dir != dir {
					continue
				}
				s := byslug[c.scenario]
				for i := 1; i <= c.runs; i++ {
					if err := h.Agent.Reset(ctx); err != nil {
						t.Fatal(err)
					}
					sctx, scancel := context.WithTimeout(ctx, 60*time.Second)
					err := s.Run(sctx, h)
					scancel()
					_, isFailure := scenarios.AsFailure(err)
					if err != nil && !isFailure {
						t.Fatalf("%s run %d: grader error: %v", c.scenario, i, err)
					}
					if (err == nil) != c.pass {
						t.Fatalf("%s run %d of %d: passed=%v, want passed=%v every time (%v)", c.scenario, i, c.runs, err == nil, c.pass, err)
					}
				}
			}
		})
	}
}
