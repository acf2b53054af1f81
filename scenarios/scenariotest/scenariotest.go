// Package scenariotest holds what every challenge's tests do the same way: grade the reference
// and the broken variants in testdata/ for real (the kill matrix), check every scenario catches a
// variant, repeat flaky-prone scenarios until a verdict cannot flip, and check the starters build
// and serve. Each needs Docker (dockertest).
package scenariotest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/docker/dockertest"
	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/templates"
)

// Challenge joins a scenario table with its templates/<slug>/challenge.yaml (limits, replicas,
// start timeout) by templates.Challenge, as the catalog does.
func Challenge(t testing.TB, slug string, table []scenarios.Scenario) grading.Challenge {
	t.Helper()
	ch, err := templates.Challenge(templates.Files, slug, table)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// Row is one submission of the kill matrix: testdata/<Dir> must fail exactly Fails (every other
// scenario passes). A reference has no Fails.
type Row struct {
	Dir   string
	Fails []string
	// GVisorFails, when set, replaces Fails while the app runs under gVisor (runsc, the
	// default runtime), for a submission whose failure depends on a difference between the
	// runtimes: gVisor's PID 1 dies of a SIGTERM it has no handler for, where Linux's ignores
	// it. Only for that; the scenarios of a correct app pass alike under both.
	GVisorFails []string
	// MayAlsoFail are scenarios a broken row may fail besides Fails when the machine is slow,
	// because its own defect shows there too (a limiter that fails open admits extra requests
	// when Redis times out under load): a true verdict, not a flip. Never for a reference, and
	// never a scenario that must catch the row. When one of them failed, the transcript (which
	// records the row's usual outcome) is not compared.
	MayAlsoFail []string
}

// EveryScenarioHasAKiller holds a matrix to the rule: every scenario catches at least one
// broken submission, at least one row is a reference, and the matrix names only real scenarios
// and directories. It needs no Docker.
func EveryScenarioHasAKiller(t *testing.T, table []scenarios.Scenario, rows []Row) {
	t.Helper()
	if err := scenarios.Validate(table); err != nil {
		t.Fatal(err)
	}
	slugs := map[string]bool{}
	for _, s := range table {
		slugs[s.Slug] = true
	}
	killed := map[string]bool{}
	references := 0
	for _, r := range rows {
		if _, err := os.Stat(filepath.Join("testdata", r.Dir, "Dockerfile")); err != nil {
			t.Errorf("kill matrix row %s: %v", r.Dir, err)
		}
		if len(r.Fails) == 0 {
			references++
		}
		for _, s := range r.Fails {
			killed[s] = true
		}
		for _, s := range r.GVisorFails {
			if !slugs[s] {
				t.Errorf("kill matrix row %s names %s under gVisor, which is not a scenario", r.Dir, s)
			}
		}
		if len(r.MayAlsoFail) > 0 && len(r.Fails) == 0 {
			t.Errorf("kill matrix row %s is a reference: it may not fail anything (MayAlsoFail %v)", r.Dir, r.MayAlsoFail)
		}
		for _, s := range r.MayAlsoFail {
			if !slugs[s] || slices.Contains(r.Fails, s) {
				t.Errorf("kill matrix row %s may also fail %s, which is not a scenario or is in its Fails", r.Dir, s)
			}
		}
	}
	if references == 0 {
		t.Error("the kill matrix has no reference (a row that fails nothing)")
	}
	for _, s := range table {
		if !killed[s.Slug] {
			t.Errorf("scenario %s catches no broken variant in testdata/: add one that it must fail", s.Slug)
		}
	}
	for s := range killed {
		if !slugs[s] {
			t.Errorf("the kill matrix names %s, which is not a scenario", s)
		}
	}
}

// KillMatrix grades every row for real, in Docker, and checks each fails exactly what it
// should with the status and score that go with it, and that the learner reads what was
// recorded in testdata/transcripts/<row>.txt (Transcript; -update records it).
//
// Rows are graded side by side, GradingsEnv at a time: a grading mostly waits
// on purpose (windows, leases, cooldowns), so a package's rows share its waits instead of
// queueing behind them, and the scenarios' margins hold at the load the test command makes (the
// stability tests repeat the timing-sensitive ones at that load). Not beside a build: the
// images are built before (deploy/test.sh) or by the first grading that needs them. The test
// itself runs in parallel (t.Parallel) with the package's Stable and StartersServe, which
// take their sandboxes from the same GradingsEnv.
func KillMatrix(t *testing.T, ch grading.Challenge, rows []Row) {
	t.Helper()
	t.Parallel()
	eng := dockertest.Engine(t)
	g := &grading.Grader{Engine: eng, HardCap: 300 * time.Second} // a cold build downloads modules
	for _, row := range rows {
		t.Run(row.Dir, func(t *testing.T) {
			t.Parallel()
			defer hold(t)()
			var v grading.Verdict
			for regrade := 0; ; regrade++ {
				ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
				var err error
				v, err = g.Grade(ctx, ch, filepath.Join("testdata", row.Dir), nil)
				cancel()
				if err != nil {
					t.Fatalf("grader error: %v", err)
				}
				logTimings(t, v)
				if regrade == LoadedRegrades || !v.TooLoaded() {
					break
				}
				noteRegrade(t, fmt.Sprintf("graded again: the machine was too loaded to judge %s, and the runner would grade again too", strings.Join(tooLoaded(v), "; ")))
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
			want := slices.Clone(row.Fails)
			if eng.Runtime() == "runsc" && row.GVisorFails != nil {
				want = slices.Clone(row.GVisorFails)
			}
			sort.Strings(want)
			var also []string // of row.MayAlsoFail, those that failed
			failed = slices.DeleteFunc(failed, func(slug string) bool {
				if slices.Contains(row.MayAlsoFail, slug) && !slices.Contains(want, slug) {
					also = append(also, slug)
					return true
				}
				return false
			})
			if !slices.Equal(failed, want) {
				for _, r := range v.Scenarios {
					if r.Failure != nil {
						t.Logf("%s: expected %s; actual %s", r.Slug, r.Failure.Expected, r.Failure.Actual)
					}
				}
				t.Fatalf("status %s (%s), failed %v; want exactly %v to fail\napp log:\n%s", v.Status, v.Message, failed, want, v.LogTail)
			}
			wantStatus := grading.Failed
			if len(want) == 0 {
				wantStatus = grading.Passed
			}
			if v.Status != wantStatus || (wantStatus == grading.Passed) != (v.Score == 100) {
				t.Fatalf("status %s score %d; want %s", v.Status, v.Score, wantStatus)
			}
			checkTimelines(t, ch, row, v)
			var report strings.Builder
			if err := grading.WriteText(&report, grading.ForView(v, grading.LearnerView)); err != nil {
				t.Fatal(err)
			}
			if len(also) > 0 {
				t.Logf("also failed %v, which the row allows (MayAlsoFail): its transcript is not compared", also)
				return
			}
			MatchTranscript(t, transcriptName(row, eng.Runtime()), report.String())
		})
	}
}

// LoadedRegrades is how many more times KillMatrix grades a row, and Stable runs a repeat again,
// when it ended in a grader error only because the machine was too loaded for a scenario to
// judge (grading.Verdict.TooLoaded): the grader says "grade again when it is less busy" and the
// runner does (jobs.GradeAttempts). The regrade must then give the row's verdict; a grader error
// of any other kind, or one the regrade repeats, fails the test. CI's run of d817f1f failed on
// one such row (rate-limiter broken-ready-before-redis: the CPU probe got 14 % of a CPU).
const LoadedRegrades = 1

// RegradesEnv names a file to which each regrade (LoadedRegrades) adds a line, besides the test's
// log: go test shows a passing test's log only with -v, and the test command (deploy/test.sh)
// prints the file at its end, so a row that needed a second grading is never silent.
const RegradesEnv = "HOLDFAST_REGRADES_LOG"

var regradesMu sync.Mutex

// noteRegrade logs a regrade and appends it to RegradesEnv's file when it is set.
func noteRegrade(t *testing.T, line string) {
	t.Helper()
	t.Log(line)
	path := os.Getenv(RegradesEnv)
	if path == "" {
		return
	}
	regradesMu.Lock()
	defer regradesMu.Unlock()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Errorf("note the regrade in %s: %v", path, err)
		return
	}
	defer f.Close()
	if _, err := fmt.Fprintf(f, "%s: %s\n", t.Name(), line); err != nil {
		t.Errorf("note the regrade in %s: %v", path, err)
	}
}

// tooLoaded says which scenarios of v were too loaded to judge, and why.
func tooLoaded(v grading.Verdict) []string {
	var each []string
	for _, r := range v.Scenarios {
		if r.TooLoaded() {
			each = append(each, r.Slug+": "+r.Error)
		}
	}
	return each
}

// Repeat is one flaky-prone scenario run Runs times against testdata/<Dir>; it must pass every
// time when Pass, fail every time otherwise.
type Repeat struct {
	Dir      string
	Scenario string
	Runs     int
	Pass     bool
}

// Stable runs each Repeat in one sandbox per directory (all replicas started), each run as a
// grading runs the scenario and recovering the app between runs (grading.Grader's RunScenario
// and Recover), so a verdict cannot flip between gradings. The directories run side by side,
// as KillMatrix's rows do: the repeats prove the verdicts at that load. It runs in parallel
// with KillMatrix (t.Parallel).
func Stable(t *testing.T, ch grading.Challenge, repeats []Repeat) {
	t.Helper()
	t.Parallel()
	eng := dockertest.Engine(t)
	g := &grading.Grader{Engine: eng}
	byslug := map[string]scenarios.Scenario{}
	for _, s := range ch.Scenarios {
		byslug[s.Slug] = s
	}
	var dirs []string
	for _, r := range repeats {
		if _, ok := byslug[r.Scenario]; !ok {
			t.Fatalf("no scenario %s", r.Scenario)
		}
		if !slices.Contains(dirs, r.Dir) {
			dirs = append(dirs, r.Dir)
		}
	}
	for _, dir := range dirs {
		t.Run(dir, func(t *testing.T) {
			t.Parallel()
			defer hold(t)()
			ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
			defer cancel()
			sb := start(ctx, t, eng, ch, filepath.Join("testdata", dir))
			h, err := grading.NewHarness(sb)
			if err != nil {
				t.Fatal(err)
			}
			h.SourceDir = filepath.Join("testdata", dir)
			regrades := 0 // runs too loaded to judge, run again: at most LoadedRegrades a directory
			for _, r := range repeats {
				if r.Dir != dir {
					continue
				}
				s := byslug[r.Scenario]
				for i := 1; i <= r.Runs; i++ {
					res := g.RunScenario(ctx, sb, h, s)
					switch {
					case res.TooLoaded() && regrades < LoadedRegrades:
						regrades++
						noteRegrade(t, fmt.Sprintf("%s run %d judged nothing, so it runs again: %s", r.Scenario, i, res.Error))
						i--
					case res.Outcome == grading.OutcomeError || res.Outcome == grading.OutcomeNotRun:
						t.Fatalf("%s run %d: grader error (%s): %s", r.Scenario, i, res.Outcome, res.Error)
					case (res.Outcome == grading.OutcomePassed) != r.Pass:
						t.Fatalf("%s run %d of %d: %s, want passed=%v every time (%+v)", r.Scenario, i, r.Runs, res.Outcome, r.Pass, res.Failure)
					}
					if err := g.Recover(ctx, sb, s); err != nil {
						t.Fatalf("after %s run %d: %v", r.Scenario, i, err)
					}
				}
			}
		})
	}
}

// start builds dir, provisions a sandbox for ch and starts every replica, side by side as a
// grading does.
func start(ctx context.Context, t *testing.T, eng grading.Engine, ch grading.Challenge, dir string) grading.Sandbox {
	t.Helper()
	b, err := eng.Build(ctx, dir)
	if err != nil || b.Failed() {
		t.Fatalf("build %s: %v %s\n%s", dir, err, b.Failure, b.LogTail)
	}
	sb, err := eng.Provision(ctx, b.Image, ch.Limits)
	if sb != nil {
		t.Cleanup(func() { _ = sb.Teardown(context.Background()) })
	}
	if err != nil {
		t.Fatal(err)
	}
	errs := make([]error, max(ch.Limits.Replicas, 1))
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() { errs[i] = sb.Start(ctx, scenarios.Replica(i+1)) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			logs, _ := sb.Logs(context.Background(), scenarios.Replica(i+1), time.Time{}, 40)
			t.Fatalf("start replica %d of %s: %v\n%s", i+1, dir, err, logs)
		}
	}
	return sb
}

// StartersServe builds each starter in starterRoot/<lang> (e.g. ../../templates/<slug>/starter),
// starts it as the challenge would, and checks it answers GET /healthz with 200 and each probe
// with 501: a learner's first push must reach the scenarios, not stop at build_failed or crashed.
// The starters run side by side, in parallel with KillMatrix (t.Parallel).
func StartersServe(t *testing.T, ch grading.Challenge, starterRoot string, probes ...scenarios.Request) {
	t.Helper()
	t.Parallel()
	if len(probes) == 0 {
		t.Fatal("give at least one route the starter leaves unimplemented")
	}
	eng := dockertest.Engine(t)
	entries, err := os.ReadDir(starterRoot)
	if err != nil {
		t.Fatal(err)
	}
	langs := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		langs++
		t.Run(e.Name(), func(t *testing.T) {
			t.Parallel()
			defer hold(t)()
			ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
			defer cancel()
			sb := start(ctx, t, eng, ch, filepath.Join(starterRoot, e.Name()))
			h, err := grading.NewHarness(sb)
			if err != nil {
				t.Fatal(err)
			}
			for i := range h.Replicas() {
				if err := expectStatus(ctx, h, scenarios.Request{Path: "/healthz", Replica: i + 1}, http.StatusOK); err != nil {
					t.Error(err)
				}
			}
			for _, p := range probes {
				if err := expectStatus(ctx, h, p, http.StatusNotImplemented); err != nil {
					t.Error(err)
				}
			}
		})
	}
	if langs == 0 {
		t.Fatalf("no starters in %s", starterRoot)
	}
}

func expectStatus(ctx context.Context, h *scenarios.Harness, r scenarios.Request, want int) error {
	resp := h.Do(ctx, r)
	if resp.Err != nil || resp.Status != want {
		method := r.Method
		if method == "" {
			method = http.MethodGet
		}
		return fmt.Errorf("%s %s: %s, want %d", method, r.Path, resp.Describe(), want)
	}
	return nil
}

// ReadBrief returns templates/<slug>/README.md, for tests that hold the brief to the numbers the
// scenarios use.
func ReadBrief(t testing.TB, slug string) string {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "templates", slug, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(b), "\r\n", "\n")
}

// logTimings says where a row's time went (go test -v): the pipeline's stages, then each
// scenario, longest first.
func logTimings(t *testing.T, v grading.Verdict) {
	t.Helper()
	ms := func(m grading.Millis) time.Duration { return time.Duration(m).Round(10 * time.Millisecond) }
	rs := slices.Clone(v.Scenarios)
	slices.SortStableFunc(rs, func(a, b grading.ScenarioResult) int { return int(b.Duration - a.Duration) })
	var each []string
	for _, r := range rs {
		each = append(each, fmt.Sprintf("%s %s", r.Slug, ms(r.Duration)))
	}
	t.Logf("timings: total %s, build %s, provision %s, scenarios %s: %s", ms(v.Timings.Total), ms(v.Timings.Build),
		ms(v.Timings.Provision), ms(v.Timings.Scenarios), strings.Join(each, ", "))
}
