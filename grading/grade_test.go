package grading_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/agent"
)

// scriptedEngine is a fake grading.Engine: a scripted build result, and sandboxes whose "app" is
// an httptest server and whose agent is a real agent on loopback.
type scriptedEngine struct {
	t          *testing.T
	build      grading.BuildResult
	buildErr   error
	buildDelay time.Duration
	// crashOnStart makes the app fail to start on the given start number (1 = first).
	crashOnStart int
	// broken is what Intact reports (nil: the sandbox survived).
	broken error

	mu        sync.Mutex
	sandboxes []*scriptedSandbox
}

func (e *scriptedEngine) Build(ctx context.Context, dir string) (grading.BuildResult, error) {
	select {
	case <-time.After(e.buildDelay):
	case <-ctx.Done():
		return grading.BuildResult{}, ctx.Err()
	}
	return e.build, e.buildErr
}

func (e *scriptedEngine) Provision(ctx context.Context, image string, limits grading.Limits) (grading.Sandbox, error) {
	sb := &scriptedSandbox{e: e}
	sb.app = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sb.mu.Lock()
		defer sb.mu.Unlock()
		if !sb.running {
			panic(http.ErrAbortHandler) // a stopped app drops the connection
		}
		if r.URL.Path == "/generation" {
			fmt.Fprint(w, sb.generation)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	ctl, prov, down := freeAddr(e.t), freeAddr(e.t), freeAddr(e.t)
	srv, err := agent.NewServer(agent.Config{Token: agentToken, ControlAddr: ctl, ProviderAddr: prov, DownstreamAddr: down}, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	actx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = srv.Run(actx); close(done) }()
	sb.stopAgent = func() { cancel(); <-done }
	sb.provider, sb.downstream = "http://"+prov, "http://"+down
	sb.agentURL = "http://" + ctl
	for i := 0; i < 100 && agent.NewClient(sb.agentURL, agentToken).Healthy(ctx) != nil; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	e.mu.Lock()
	e.sandboxes = append(e.sandboxes, sb)
	e.mu.Unlock()
	return sb, nil
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type scriptedSandbox struct {
	e          *scriptedEngine
	app        *httptest.Server
	agentURL   string // the agent's control API
	stopAgent  func()
	provider   string // the agent's provider fake, as the app would reach it
	downstream string // the agent's downstream fake, likewise

	mu         sync.Mutex
	running    bool
	starts     int
	generation int
	tornDown   bool
}

func (s *scriptedSandbox) AppURL() string    { return s.app.URL }
func (s *scriptedSandbox) AppURLs() []string { return []string{s.app.URL} }

func (s *scriptedSandbox) Pause(context.Context, scenarios.Service) error       { return nil }
func (s *scriptedSandbox) Unpause(context.Context, scenarios.Service) error     { return nil }
func (s *scriptedSandbox) Wait(context.Context, scenarios.Service) (int, error) { return 0, nil }

func (s *scriptedSandbox) Kill(ctx context.Context, svc scenarios.Service, signal string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.running = false
	return nil
}

func (s *scriptedSandbox) Start(ctx context.Context, svc scenarios.Service) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.starts++
	if s.starts == s.e.crashOnStart {
		return &grading.StartError{Service: svc, Kind: grading.StartExited, ExitCode: 2, After: time.Second}
	}
	s.running = true
	s.generation++
	return nil
}

func (s *scriptedSandbox) Logs(ctx context.Context, svc scenarios.Service, since time.Time, lines int) (string, error) {
	return "panic: boom\n\ngoroutine 1 [running]:\nmain.main()\n\t/src/main.go:42 +0x1d\n./main.go:42:7: this line is an annotation\n", nil
}

// agentToken is every scripted sandbox's agent token.
var agentToken = strings.Repeat("x", 32)

func (s *scriptedSandbox) Endpoints() grading.Endpoints {
	return grading.Endpoints{Apps: s.AppURLs(), Agent: s.agentURL, AgentToken: agentToken}
}

func (s *scriptedSandbox) Intact(context.Context) error { return s.e.broken }

func (s *scriptedSandbox) Teardown(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.tornDown {
		s.tornDown = true
		s.app.Close()
		s.stopAgent()
	}
	return nil
}

func (e *scriptedEngine) allTornDown(t *testing.T) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, sb := range e.sandboxes {
		if !sb.tornDown {
			t.Errorf("sandbox %d was not torn down", i)
		}
	}
}

func scenario(slug string, vis scenarios.Visibility, weight int, run func(context.Context, *scenarios.Harness) error) scenarios.Scenario {
	return scenarios.Scenario{Slug: slug, Title: slug, Weight: weight, Visibility: vis, Timeout: 2 * time.Second, Run: run}
}

func pass(context.Context, *scenarios.Harness) error { return nil }
func fail(context.Context, *scenarios.Harness) error {
	return scenarios.Failf("201", "Try again.", "%d", 500)
}

func grade(t *testing.T, e *scriptedEngine, hardCap time.Duration, table ...scenarios.Scenario) grading.Verdict {
	t.Helper()
	if e.build.Image == "" && !e.build.Failed {
		e.build.Image = "img"
	}
	g := &grading.Grader{Engine: e, HardCap: hardCap}
	v, err := g.Grade(context.Background(), grading.Challenge{Slug: "c", Scenarios: table}, "dir", nil)
	if err != nil {
		t.Fatalf("Grade: unexpected error %v", err)
	}
	e.allTornDown(t)
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
	e := &scriptedEngine{t: t}
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
	v := grade(t, &scriptedEngine{t: t}, 0, scenario("a", scenarios.Public, 1, pass), scenario("b", scenarios.Public, 2, pass))
	if v.Status != grading.Passed || v.Score != 100 || v.LogTail != "" {
		t.Fatalf("got %s %d log %q", v.Status, v.Score, v.LogTail)
	}
}

func TestGradeBuildFailure(t *testing.T) {
	t.Parallel()
	e := &scriptedEngine{t: t, build: grading.BuildResult{Failed: true, Reason: "The image did not build: exit 1",
		LogTail: "Step 6/9 : RUN go build\n ---> Running in 1\n./main.go:12:5: undefined: handler\n", Files: []string{"main.go", "go.mod"}}}
	v := grade(t, e, 0, scenario("a", scenarios.Public, 1, pass))
	if v.Status != grading.BuildFailed || v.Score != 0 || len(e.sandboxes) != 0 {
		t.Fatalf("got %s %d with %d sandboxes; want build_failed, 0, none", v.Status, v.Score, len(e.sandboxes))
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
	e := &scriptedEngine{t: t, crashOnStart: 1}
	v := grade(t, e, 0, scenario("a", scenarios.Public, 1, pass))
	if v.Status != grading.Crashed || !strings.Contains(v.Message, "exited with code 2") || !strings.Contains(v.LogTail, "panic: boom") {
		t.Fatalf("got %s %q log %q", v.Status, v.Message, v.LogTail)
	}
}

// TestGradeFailureFromABrokenSandboxIsAnError: a failure is the learner's only if the sandbox
// survived; a pass needs no such check.
func TestGradeFailureFromABrokenSandboxIsAnError(t *testing.T) {
	t.Parallel()
	broken := errors.New("the agent container stopped (exit 255) without the harness stopping it")
	for _, tc := range []struct {
		name    string
		e       *scriptedEngine
		verdict grading.Status
	}{
		{"failed scenario", &scriptedEngine{t: t, broken: broken}, ""},
		{"crash on start", &scriptedEngine{t: t, broken: broken, crashOnStart: 1}, ""},
		{"failed scenario, sandbox intact", &scriptedEngine{t: t}, grading.Failed},
	} {
		ch := grading.Challenge{Slug: "x", Scenarios: []scenarios.Scenario{scenario("a", scenarios.Public, 1, fail)}}
		v, err := (&grading.Grader{Engine: tc.e}).Grade(context.Background(), ch, t.TempDir(), nil)
		switch {
		case tc.verdict == "" && (err == nil || !strings.Contains(err.Error(), broken.Error())):
			t.Errorf("%s: verdict %s, error %v; want an error naming why the sandbox is not intact", tc.name, v.Status, err)
		case tc.verdict != "" && (err != nil || v.Status != tc.verdict):
			t.Errorf("%s: verdict %s, error %v; want %s", tc.name, v.Status, err, tc.verdict)
		}
	}
	e := &scriptedEngine{t: t, broken: broken}
	if v := grade(t, e, 0, scenario("a", scenarios.Public, 1, pass)); v.Status != grading.Passed {
		t.Fatalf("a pass from a sandbox that broke afterwards: %s", v.Status)
	}
}

func TestGradeRestartsAfterDisruptiveScenario(t *testing.T) {
	t.Parallel()
	e := &scriptedEngine{t: t}
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

func TestGradeAppThatDoesNotComeBack(t *testing.T) {
	t.Parallel()
	e := &scriptedEngine{t: t, crashOnStart: 2}
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
	v := grade(t, &scriptedEngine{t: t}, 0, scenario("a", scenarios.Public, 1, pass), broken, panicky)
	if v.Status != grading.GraderError || outcomes(v) != "a=passed ours=error panics=error" {
		t.Fatalf("got %s (%s)", v.Status, outcomes(v))
	}
	if v.Scenarios[1].Failure != nil || !strings.Contains(v.Scenarios[2].Error, "nil map") {
		t.Fatalf("grader errors must not read as learner failures: %+v", v.Scenarios[1:])
	}
}

func TestGradeScenarioTimeoutIsAFailure(t *testing.T) {
	t.Parallel()
	hang := scenario("hang", scenarios.Public, 1, func(ctx context.Context, h *scenarios.Harness) error {
		<-ctx.Done()
		return ctx.Err()
	})
	hang.Timeout = 200 * time.Millisecond
	v := grade(t, &scriptedEngine{t: t}, 0, hang, scenario("b", scenarios.Public, 1, pass))
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
	v := grade(t, &scriptedEngine{t: t}, 500*time.Millisecond, scenario("a", scenarios.Public, 1, pass), slow, scenario("c", scenarios.Public, 1, pass))
	if v.Status != grading.TimedOut || outcomes(v) != "a=passed slow=not_run c=not_run" {
		t.Fatalf("got %s (%s)", v.Status, outcomes(v))
	}

	// The cap can also strike during the last scenario.
	v = grade(t, &scriptedEngine{t: t}, 500*time.Millisecond, scenario("a", scenarios.Public, 1, pass), slow)
	if v.Status != grading.TimedOut || outcomes(v) != "a=passed slow=not_run" {
		t.Fatalf("cap in the last scenario: got %s (%s)", v.Status, outcomes(v))
	}

	e := &scriptedEngine{t: t, buildDelay: 5 * time.Second}
	v = grade(t, e, 300*time.Millisecond, scenario("a", scenarios.Public, 1, pass))
	if v.Status != grading.TimedOut || !strings.Contains(v.Message, "image build") {
		t.Fatalf("slow build: got %s %q", v.Status, v.Message)
	}
}

func TestGradeEngineErrorIsAnError(t *testing.T) {
	t.Parallel()
	e := &scriptedEngine{t: t, buildErr: errors.New("daemon went away")}
	g := &grading.Grader{Engine: e}
	_, err := g.Grade(context.Background(), grading.Challenge{Slug: "c", Scenarios: []scenarios.Scenario{scenario("a", scenarios.Public, 1, pass)}}, "dir", nil)
	if err == nil || !strings.Contains(err.Error(), "daemon went away") {
		t.Fatalf("got %v; want the engine's error", err)
	}
}

func TestGradeRejectsBadTables(t *testing.T) {
	t.Parallel()
	g := &grading.Grader{Engine: &scriptedEngine{t: t}}
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
type oomEngine struct{ *scriptedEngine }

type oomSandbox struct{ grading.Sandbox }

func (oomSandbox) OOMKilled(context.Context) []scenarios.Service {
	return []scenarios.Service{scenarios.App}
}

func (e oomEngine) Provision(ctx context.Context, image string, l grading.Limits) (grading.Sandbox, error) {
	sb, err := e.scriptedEngine.Provision(ctx, image, l)
	return oomSandbox{sb}, err
}

// TestGradeSaysTheAppRanOutOfMemory: a failure while the app was OOM-killed says so, with the
// limit, instead of only what the scenario saw.
func TestGradeSaysTheAppRanOutOfMemory(t *testing.T) {
	t.Parallel()
	ch := grading.Challenge{Slug: "x", Scenarios: []scenarios.Scenario{scenario("a", scenarios.Public, 1, fail)}, Limits: grading.Limits{MemoryMB: 128}}
	v, err := (&grading.Grader{Engine: oomEngine{&scriptedEngine{t: t}}}).Grade(context.Background(), ch, t.TempDir(), nil)
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
	for _, b := range []grading.BuildResult{
		{Failed: true, Reason: "The image did not build: failed to register layer: write /usr/lib/x.so: no space left on device", OutOfDisk: true},
		{Failed: true, Reason: "The image did not build: failed to copy files: copy file range failed: No space left on device", OutOfDisk: true},
	} {
		e := &scriptedEngine{t: t, build: b}
		g := &grading.Grader{Engine: e}
		v, err := g.Grade(context.Background(), grading.Challenge{Slug: "c", Scenarios: []scenarios.Scenario{scenario("a", scenarios.Public, 1, pass)}}, "dir", nil)
		if err == nil || !strings.Contains(err.Error(), "ran out of disk space") || !strings.Contains(err.Error(), "docker system prune") {
			t.Fatalf("build %q: got verdict %s (%q) and error %v; want an error naming the full disk and what to free", b.Reason, v.Status, v.Message, err)
		}
		if len(e.sandboxes) != 0 {
			t.Fatalf("a sandbox was provisioned after the failed build")
		}
	}
}

// The learner's own text saying "no space left on device" (in the build log, or in the step the
// daemon quotes) is a failed build like any other: it cannot turn into a neutral grader error.
// grading/docker's errors.go tells the daemon's ENOSPC from these (TestDaemonErrors).
func TestGradeBuildSayingNoSpaceIsStillTheLearners(t *testing.T) {
	t.Parallel()
	for _, b := range []grading.BuildResult{
		{Failed: true, Reason: "The image did not build: exit 1", LogTail: "Step 4/7 : RUN echo 'no space left on device' && exit 1\nno space left on device\n"},
		{Failed: true, Reason: "The image did not build: The command '/bin/sh -c echo no space left on device; exit 1' returned a non-zero code: 1"},
	} {
		v := grade(t, &scriptedEngine{t: t, build: b}, 0, scenario("a", scenarios.Public, 1, pass))
		if v.Status != grading.BuildFailed {
			t.Fatalf("build %q / log %q: got %s, want build_failed", b.Reason, b.LogTail, v.Status)
		}
	}
}
