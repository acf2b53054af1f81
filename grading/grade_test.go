package grading_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/gradingtest"
	"github.com/holdfast-ci/holdfast/scenarios"
)

// appLog is every scripted app's output: a Go panic at /src/main.go:42 and a compiler line.
const appLog = "panic: boom\n\ngoroutine 1 [running]:\nmain.main()\n\t/src/main.go:42 +0x1d\n./main.go:42:7: this line is an annotation\n"

// engine is gradingtest's scripted engine following s, its app printing appLog.
func engine(s gradingtest.Script) *gradingtest.Engine {
	s.AppLog = appLog
	return &gradingtest.Engine{Script: s}
}

// gradeErr grades a submission that holds main.go (what annotations point at) and no script
// file, so it follows the engine's Script, and checks that the grading left no sandbox.
func gradeErr(t *testing.T, g *grading.Grader, ch grading.Challenge) (grading.Verdict, error) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	v, err := g.Grade(context.Background(), ch, dir, nil)
	if _, left := g.Engine.(interface{ Sandboxes() (int, int) }).Sandboxes(); left != 0 {
		t.Errorf("%d sandboxes were not torn down", left)
	}
	return v, err
}

func scenario(slug string, vis scenarios.Visibility, weight int, run func(context.Context, *scenarios.Harness) error) scenarios.Scenario {
	return scenarios.Scenario{Slug: slug, Title: slug, Weight: weight, Visibility: vis, Timeout: 2 * time.Second, Run: run}
}

func pass(context.Context, *scenarios.Harness) error { return nil }
func fail(context.Context, *scenarios.Harness) error {
	return scenarios.Failf("201", "Try again.", "%d", 500)
}

func grade(t *testing.T, e grading.Engine, hardCap time.Duration, table ...scenarios.Scenario) grading.Verdict {
	t.Helper()
	v, err := gradeErr(t, &grading.Grader{Engine: e, HardCap: hardCap}, grading.Challenge{Slug: "c", Scenarios: table})
	if err != nil {
		t.Fatalf("Grade: unexpected error %v", err)
	}
	return v
}

func outcomes(v grading.Verdict) string {
	var parts []string
	for _, r := range v.Scenarios {
		parts = append(parts, r.Slug+"="+string(r.Outcome))
	}
	return strings.Join(parts, " ")
}

func TestGradeScoresByWeight(t *testing.T) {
	t.Parallel()
	e := engine(gradingtest.Script{})
	v := grade(t, e, 0,
		scenario("a", scenarios.Public, 30, pass),
		scenario("b", scenarios.Public, 50, fail),
		scenario("c", scenarios.Hidden, 20, pass))
	if v.Status != grading.Failed || v.Score != 50 {
		t.Fatalf("got status %s score %d (%s); want failed, 50", v.Status, v.Score, outcomes(v))
	}
	if f := v.Scenarios[1].Failure; f == nil || f.Expected != "201" || f.Actual != "500" {
		t.Fatalf("failure of b: got %+v", f)
	}
	if !strings.Contains(v.LogTail, "panic: boom") || !strings.Contains(v.Scenarios[1].LogTail, "panic: boom") || v.Scenarios[0].LogTail != "" {
		t.Fatalf("a failed verdict carries the app's log tail, and so does each failed scenario (only those); got %q and %+v", v.LogTail, v.Scenarios)
	}
}

func TestGradeAllPassIs100(t *testing.T) {
	t.Parallel()
	v := grade(t, engine(gradingtest.Script{}), 0, scenario("a", scenarios.Public, 1, pass), scenario("b", scenarios.Public, 2, pass))
	if v.Status != grading.Passed || v.Score != 100 || v.LogTail != "" {
		t.Fatalf("got %s %d log %q", v.Status, v.Score, v.LogTail)
	}
}

func TestGradeBuildFailure(t *testing.T) {
	t.Parallel()
	e := engine(gradingtest.Script{BuildFailed: "exit 1",
		BuildLog: "Step 6/9 : RUN go build\n ---> Running in 1\n./main.go:12:5: undefined: handler\n"})
	v := grade(t, e, 0, scenario("a", scenarios.Public, 1, pass))
	if n, _ := e.Sandboxes(); v.Status != grading.BuildFailed || v.Score != 0 || n != 0 {
		t.Fatalf("got %s %d with %d sandboxes; want build_failed, 0, none", v.Status, v.Score, n)
	}
	if want := "The image did not build: exit 1. Fix the error the build log ends with (below) and push again; `docker build .` reproduces it locally."; v.Message != want {
		t.Fatalf("message: got %q, want %q", v.Message, want)
	}
	want := grading.Annotation{Path: "main.go", Line: 12, Column: 5, Message: "undefined: handler"}
	if len(v.Annotations) != 1 || v.Annotations[0] != want {
		t.Fatalf("annotations: got %+v, want %+v", v.Annotations, want)
	}
	if v.Scenarios[0].Outcome != grading.OutcomeNotRun {
		t.Fatalf("scenarios after a failed build: %s", outcomes(v))
	}
}

func TestGradeCrashOnStart(t *testing.T) {
	t.Parallel()
	e := engine(gradingtest.Script{CrashOnStart: 1})
	v := grade(t, e, 0, scenario("a", scenarios.Public, 1, pass))
	if v.Status != grading.Crashed || !strings.Contains(v.Message, "exited with code 2") || !strings.Contains(v.LogTail, "panic: boom") {
		t.Fatalf("got %s %q log %q", v.Status, v.Message, v.LogTail)
	}
}

// TestGradeFailureFromABrokenSandboxIsAnError: a failure is the learner's only if the sandbox
// survived; a pass needs no such check.
func TestGradeFailureFromABrokenSandboxIsAnError(t *testing.T) {
	t.Parallel()
	const broken = "the agent container stopped (exit 255) without the harness stopping it"
	for _, tc := range []struct {
		name    string
		e       *gradingtest.Engine
		verdict grading.Status
	}{
		{"failed scenario", engine(gradingtest.Script{Broken: broken}), ""},
		{"crash on start", engine(gradingtest.Script{Broken: broken, CrashOnStart: 1}), ""},
		{"failed scenario, sandbox intact", engine(gradingtest.Script{}), grading.Failed},
	} {
		ch := grading.Challenge{Slug: "x", Scenarios: []scenarios.Scenario{scenario("a", scenarios.Public, 1, fail)}}
		v, err := gradeErr(t, &grading.Grader{Engine: tc.e}, ch)
		switch {
		case tc.verdict == "" && (err == nil || !strings.Contains(err.Error(), broken)):
			t.Errorf("%s: verdict %s, error %v; want an error naming why the sandbox is not intact", tc.name, v.Status, err)
		case tc.verdict != "" && (err != nil || v.Status != tc.verdict):
			t.Errorf("%s: verdict %s, error %v; want %s", tc.name, v.Status, err, tc.verdict)
		}
	}
	e := engine(gradingtest.Script{Broken: broken})
	if v := grade(t, e, 0, scenario("a", scenarios.Public, 1, pass)); v.Status != grading.Passed {
		t.Fatalf("a pass from a sandbox that broke afterwards: %s", v.Status)
	}
}

func TestGradeRestartsAfterDisruptiveScenario(t *testing.T) {
	t.Parallel()
	e := engine(gradingtest.Script{})
	generation := func(ctx context.Context, h *scenarios.Harness) string {
		return string(h.Do(ctx, scenarios.Request{Path: "/generation"}).Body)
	}
	var seen []string
	disrupt := scenario("disrupt", scenarios.Public, 1, func(ctx context.Context, h *scenarios.Harness) error {
		seen = append(seen, generation(ctx, h))
		return h.Target.Kill(ctx, scenarios.App, "SIGKILL") // and leaves it dead
	})
	disrupt.Disruptive = true
	after := scenario("after", scenarios.Public, 1, func(ctx context.Context, h *scenarios.Harness) error {
		seen = append(seen, generation(ctx, h))
		return nil
	})
	v := grade(t, e, 0, disrupt, after)
	if v.Status != grading.Passed || strings.Join(seen, ",") != "1,2" {
		t.Fatalf("got %s (%s); app generations seen %v, want 1 then 2 (restarted)", v.Status, outcomes(v), seen)
	}
}

// TestGradeRepeatsAnInconclusiveRound: a round that could not judge runs again on a restarted
// app; scenarios.Rounds of them are Holdfast's error, never the learner's verdict.
func TestGradeRepeatsAnInconclusiveRound(t *testing.T) {
	t.Parallel()
	generation := func(ctx context.Context, h *scenarios.Harness) string {
		return string(h.Do(ctx, scenarios.Request{Path: "/generation"}).Body)
	}
	var seen []string
	late := func(judgeIn int) func(context.Context, *scenarios.Harness) error {
		round := 0
		return func(ctx context.Context, h *scenarios.Harness) error {
			seen = append(seen, generation(ctx, h))
			if round++; round < judgeIn {
				return scenarios.Inconclusivef("the signal came %d s late", round)
			}
			return nil
		}
	}
	v := grade(t, engine(gradingtest.Script{}), 0, scenario("late", scenarios.Public, 1, late(scenarios.Rounds)))
	if v.Status != grading.Passed || strings.Join(seen, ",") != "1,2,3" {
		t.Fatalf("got %s (%s); app generations seen %v, want 1, 2, 3 (restarted before each round)", v.Status, outcomes(v), seen)
	}
	seen = nil
	v = grade(t, engine(gradingtest.Script{}), 0, scenario("late", scenarios.Public, 1, late(scenarios.Rounds+1)), scenario("b", scenarios.Public, 1, pass))
	if v.Status != grading.GraderError || outcomes(v) != "late=error b=passed" || len(seen) != scenarios.Rounds {
		t.Fatalf("got %s (%s) after %d rounds; want late=error after %d", v.Status, outcomes(v), len(seen), scenarios.Rounds)
	}
	if r := v.Scenarios[0]; r.Failure != nil || !strings.Contains(r.Error, "the signal came 3 s late") {
		t.Fatalf("an inconclusive scenario must be Holdfast's error naming the last round's reason: %+v", r)
	}
	if !v.Scenarios[0].TooLoaded() || v.Scenarios[1].TooLoaded() || !v.TooLoaded() {
		t.Fatalf("a grading whose only error is a scenario no round could judge is too loaded, and only that scenario: %+v", v.Scenarios)
	}
	// Beside another kind of grader error it is not: grading again is for a busy machine only.
	ours := scenario("ours", scenarios.Public, 1, func(context.Context, *scenarios.Harness) error { return errors.New("read ledger: refused") })
	v = grade(t, engine(gradingtest.Script{}), 0, scenario("late", scenarios.Public, 1, late(scenarios.Rounds+1)), ours)
	if v.Status != grading.GraderError || !v.Scenarios[0].TooLoaded() || v.Scenarios[1].TooLoaded() || v.TooLoaded() {
		t.Fatalf("got %s (%s); want a grader error that is not only too loaded", v.Status, outcomes(v))
	}
}

func TestGradeAppThatDoesNotComeBack(t *testing.T) {
	t.Parallel()
	e := engine(gradingtest.Script{CrashOnStart: 2})
	d := scenario("disrupt", scenarios.Public, 1, pass)
	d.Disruptive = true
	v := grade(t, e, 0, d, scenario("b", scenarios.Public, 1, pass), scenario("c", scenarios.Public, 1, pass))
	if v.Status != grading.Failed || outcomes(v) != "disrupt=passed b=failed c=failed" {
		t.Fatalf("got %s (%s)", v.Status, outcomes(v))
	}
	if f := v.Scenarios[1].Failure; f == nil || !strings.Contains(f.Actual, "did not start again") {
		t.Fatalf("failure: %+v", f)
	}
}

func TestGradeGraderErrorIsNotTheLearners(t *testing.T) {
	t.Parallel()
	broken := scenario("ours", scenarios.Public, 1, func(context.Context, *scenarios.Harness) error {
		return errors.New("read provider ledger: connection refused")
	})
	panicky := scenario("panics", scenarios.Public, 1, func(context.Context, *scenarios.Harness) error { panic("nil map") })
	v := grade(t, engine(gradingtest.Script{}), 0, scenario("a", scenarios.Public, 1, pass), broken, panicky)
	if v.Status != grading.GraderError || outcomes(v) != "a=passed ours=error panics=error" {
		t.Fatalf("got %s (%s)", v.Status, outcomes(v))
	}
	if v.Scenarios[1].Failure != nil || !strings.Contains(v.Scenarios[2].Error, "nil map") {
		t.Fatalf("grader errors must not read as learner failures: %+v", v.Scenarios[1:])
	}
	if v.TooLoaded() || v.Scenarios[1].TooLoaded() || v.Scenarios[2].TooLoaded() {
		t.Fatalf("a grader error of Holdfast's own is not the machine's load: %+v", v.Scenarios[1:])
	}
}

func TestGradeScenarioTimeoutIsAFailure(t *testing.T) {
	t.Parallel()
	hang := scenario("hang", scenarios.Public, 1, func(ctx context.Context, h *scenarios.Harness) error {
		<-ctx.Done()
		return ctx.Err()
	})
	hang.Timeout = 200 * time.Millisecond
	v := grade(t, engine(gradingtest.Script{}), 0, hang, scenario("b", scenarios.Public, 1, pass))
	if outcomes(v) != "hang=failed b=passed" || !strings.Contains(v.Scenarios[0].Failure.Expected, "200ms") {
		t.Fatalf("got %s (%s) %+v", v.Status, outcomes(v), v.Scenarios[0].Failure)
	}
}

func TestGradeHardCap(t *testing.T) {
	t.Parallel()
	slow := scenario("slow", scenarios.Public, 1, func(ctx context.Context, h *scenarios.Harness) error {
		<-ctx.Done()
		return ctx.Err()
	})
	slow.Timeout = 5 * time.Second
	v := grade(t, engine(gradingtest.Script{}), 500*time.Millisecond, scenario("a", scenarios.Public, 1, pass), slow, scenario("c", scenarios.Public, 1, pass))
	if v.Status != grading.TimedOut || outcomes(v) != "a=passed slow=not_run c=not_run" {
		t.Fatalf("got %s (%s)", v.Status, outcomes(v))
	}

	// The cap can also strike during the last scenario.
	v = grade(t, engine(gradingtest.Script{}), 500*time.Millisecond, scenario("a", scenarios.Public, 1, pass), slow)
	if v.Status != grading.TimedOut || outcomes(v) != "a=passed slow=not_run" {
		t.Fatalf("cap in the last scenario: got %s (%s)", v.Status, outcomes(v))
	}

	e := engine(gradingtest.Script{BuildDelay: gradingtest.Duration(5 * time.Second)})
	v = grade(t, e, 300*time.Millisecond, scenario("a", scenarios.Public, 1, pass))
	if v.Status != grading.TimedOut || !strings.Contains(v.Message, "image build") {
		t.Fatalf("slow build: got %s %q", v.Status, v.Message)
	}
}

func TestGradeEngineErrorIsAnError(t *testing.T) {
	t.Parallel()
	e := engine(gradingtest.Script{EngineError: "daemon went away"})
	_, err := gradeErr(t, &grading.Grader{Engine: e}, grading.Challenge{Slug: "c", Scenarios: []scenarios.Scenario{scenario("a", scenarios.Public, 1, pass)}})
	if err == nil || !strings.Contains(err.Error(), "daemon went away") {
		t.Fatalf("got %v; want the engine's error", err)
	}
}

func TestGradeRejectsBadTables(t *testing.T) {
	t.Parallel()
	g := &grading.Grader{Engine: engine(gradingtest.Script{})}
	for _, table := range [][]scenarios.Scenario{
		{scenario("a", scenarios.Public, 1, pass), scenario("a", scenarios.Public, 1, pass)},
		{scenario("a", "secret", 1, pass)},
		{scenario("a", scenarios.Public, 0, pass)},
	} {
		if _, err := g.Grade(context.Background(), grading.Challenge{Slug: "c", Scenarios: table}, "dir", nil); err == nil {
			t.Errorf("table %v: want an error", table)
		}
	}
}

// oomEngine provisions sandboxes that report the app killed for memory.
type oomEngine struct{ *gradingtest.Engine }

type oomSandbox struct{ grading.Sandbox }

func (oomSandbox) OOMKilled(context.Context) []scenarios.Service {
	return []scenarios.Service{scenarios.App}
}

func (e oomEngine) Provision(ctx context.Context, image string, l grading.Limits) (grading.Sandbox, error) {
	sb, err := e.Engine.Provision(ctx, image, l)
	return oomSandbox{sb}, err
}

// TestGradeSaysTheAppRanOutOfMemory: a failure while the app was OOM-killed says so, with the
// limit, instead of only what the scenario saw.
func TestGradeSaysTheAppRanOutOfMemory(t *testing.T) {
	t.Parallel()
	ch := grading.Challenge{Slug: "x", Scenarios: []scenarios.Scenario{scenario("a", scenarios.Public, 1, fail)}, Limits: grading.Limits{MemoryMB: 128}}
	v, err := gradeErr(t, &grading.Grader{Engine: oomEngine{engine(gradingtest.Script{})}}, ch)
	if err != nil {
		t.Fatal(err)
	}
	f := v.Scenarios[0].Failure
	if f == nil || !strings.Contains(f.Actual, "killed by the kernel for using more than its 128 MiB") || !strings.Contains(f.Hint, "ran out of memory") {
		t.Fatalf("failure %+v", f)
	}
}

// A build that failed because the engine's disk was full is Holdfast's failure, not a verdict on
// the code: the grading errs (the worker retries it, `runner grade` exits 3) and says what to free.
func TestGradeBuildOutOfDiskIsNoVerdict(t *testing.T) {
	t.Parallel()
	for _, b := range []gradingtest.Script{
		{BuildFailed: "failed to register layer: write /usr/lib/x.so: no space left on device", BuildKind: "out_of_disk"},
		{BuildFailed: "failed to copy files: copy file range failed: No space left on device", BuildKind: "out_of_disk"},
	} {
		e := engine(b)
		v, err := gradeErr(t, &grading.Grader{Engine: e}, grading.Challenge{Slug: "c", Scenarios: []scenarios.Scenario{scenario("a", scenarios.Public, 1, pass)}})
		if err == nil || !strings.Contains(err.Error(), "ran out of disk space") || !strings.Contains(err.Error(), "docker system prune") {
			t.Fatalf("build %q: got verdict %s (%q) and error %v; want an error naming the full disk and what to free", b.BuildFailed, v.Status, v.Message, err)
		}
		if n, _ := e.Sandboxes(); n != 0 {
			t.Fatalf("a sandbox was provisioned after the failed build")
		}
	}
}

// outOfDiskResult is an engine that reports a full disk as a build's Failure instead of its
// error, as an engine written without reading grading.Engine's comment might.
type outOfDiskResult struct{ *gradingtest.Engine }

func (e outOfDiskResult) Build(context.Context, string) (grading.BuildResult, error) {
	return grading.BuildResult{Failure: &grading.BuildError{Kind: grading.BuildOutOfDisk, Step: "no space left on device"}}, nil
}

// TestGradeBuildFailureOfOursIsNoVerdict: a Failure that is not the learner's (a full disk) is
// never a verdict, whichever way the engine reports it.
func TestGradeBuildFailureOfOursIsNoVerdict(t *testing.T) {
	t.Parallel()
	e := outOfDiskResult{engine(gradingtest.Script{})}
	v, err := gradeErr(t, &grading.Grader{Engine: e}, grading.Challenge{Slug: "c", Scenarios: []scenarios.Scenario{scenario("a", scenarios.Public, 1, pass)}})
	if err == nil || !strings.Contains(err.Error(), "ran out of disk space") || v.Status == grading.BuildFailed {
		t.Fatalf("got verdict %s (%q) and error %v; want Holdfast's error naming the full disk", v.Status, v.Message, err)
	}
}

// The learner's own text saying "no space left on device" (in the build log, or in the step the
// daemon quotes) is a failed build like any other: it cannot turn into a neutral grader error.
// grading/docker tells the daemon's ENOSPC from these (TestDaemonErrors), and a step's words on
// a full disk by measuring the disk (TestBuildStepSayingNoSpace).
func TestGradeBuildSayingNoSpaceIsStillTheLearners(t *testing.T) {
	t.Parallel()
	for _, b := range []gradingtest.Script{
		{BuildFailed: "exit 1", BuildLog: "Step 4/7 : RUN echo 'no space left on device' && exit 1\nno space left on device\n"},
		{BuildFailed: "The command '/bin/sh -c echo no space left on device; exit 1' returned a non-zero code: 1"},
	} {
		v := grade(t, engine(b), 0, scenario("a", scenarios.Public, 1, pass))
		if v.Status != grading.BuildFailed {
			t.Fatalf("build %q / log %q: got %s, want build_failed", b.BuildFailed, b.BuildLog, v.Status)
		}
	}
}

// slowStarts is gradingtest's engine whose apps take d to start.
type slowStarts struct {
	*gradingtest.Engine
	d time.Duration
}

func (e slowStarts) Provision(ctx context.Context, image string, l grading.Limits) (grading.Sandbox, error) {
	sb, err := e.Engine.Provision(ctx, image, l)
	if sb != nil {
		sb = slowStart{sb, e.d}
	}
	return sb, err
}

type slowStart struct {
	grading.Sandbox
	d time.Duration
}

func (s slowStart) Start(ctx context.Context, svc scenarios.Service) error {
	time.Sleep(s.d)
	return s.Sandbox.Start(ctx, svc)
}

// TestGradeTimesTheAppsStart: the verdict says how long the app took to start, apart from the
// provision and the scenarios (the App's benchmark splits a push's time by them).
func TestGradeTimesTheAppsStart(t *testing.T) {
	t.Parallel()
	const d = 150 * time.Millisecond
	v := grade(t, slowStarts{engine(gradingtest.Script{}), d}, 0, scenario("a", scenarios.Public, 1, pass))
	tm := v.Timings
	if time.Duration(tm.Start) < d || tm.Start+tm.Provision+tm.Scenarios+tm.Build > tm.Total {
		t.Fatalf("timings %+v: want start ≥ %s, and build + provision + start + scenarios within the total", tm, d)
	}
}

// A failed read of the app's output is asked again; one that keeps failing says so in the log
// tail instead of leaving it empty, as if the app had said nothing.
func TestGradeLogTailSurvivesAFailedRead(t *testing.T) {
	t.Parallel()
	v := grade(t, engine(gradingtest.Script{AppLog: "panic: boom\n", LogErrors: 1}), 0, scenario("a", scenarios.Public, 1, fail))
	if !strings.Contains(v.Scenarios[0].LogTail, "panic: boom") || !strings.Contains(v.LogTail, "panic: boom") {
		t.Fatalf("one failed read: scenario log %q, verdict log %q; want the app's panic in both", v.Scenarios[0].LogTail, v.LogTail)
	}
	v = grade(t, engine(gradingtest.Script{AppLog: "panic: boom\n", LogErrors: 100}), 0, scenario("a", scenarios.Public, 1, fail))
	if !strings.Contains(v.LogTail, "could not read the app's output") || !strings.Contains(v.LogTail, "scripted 100 that fail") {
		t.Fatalf("every read failed: verdict log %q; want it to say the output could not be read, and why", v.LogTail)
	}
}
