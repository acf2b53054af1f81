package grading

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/holdfast-ci/holdfast/grading/metrics"
	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/agent"
)

// Engine builds learners' images and provisions sandboxes. grading/docker implements it on the
// Docker Engine API.
type Engine interface {
	// Build builds the image of the submission in dir. A build that fails because of the
	// learner's Dockerfile or code is a BuildResult whose Failure says how, not an error; a
	// build the host failed is an error (a full disk: a *BuildError of kind BuildOutOfDisk).
	Build(ctx context.Context, dir string) (BuildResult, error)
	// Provision starts the sandbox's infrastructure (networks, sidecars, agent) and creates, but
	// does not start, the app from image; what did not start is a *StartError. Teardown must
	// work after a failed Provision, so Provision returns a Sandbox whenever it created anything.
	Provision(ctx context.Context, image string, limits Limits) (Sandbox, error)
}

// Sandbox is one provisioned run: the scenarios' Target, where its services answer, and
// teardown. It reports what it started and how a start failed (*StartError); grading builds the
// harness (NewHarness) and words the failures (messages.go).
type Sandbox interface {
	// Target's Start returns a *StartError for a service that did not start (for an app
	// replica: that exited, or never answered GET /healthz with 200).
	scenarios.Target
	// Endpoints reports where the app's replicas, the agent and the sidecars answer now.
	Endpoints() Endpoints
	// Intact checks that the sandbox is as the harness left it: the engine answers, every
	// container it created still exists, none was restarted or stopped by anyone but the harness
	// (an engine restart stops them all), and the agent answers. A learner's failure is only
	// published from an intact sandbox; otherwise the grading is Holdfast's failure and is retried.
	Intact(ctx context.Context) error
	// Teardown removes everything the sandbox created. It is idempotent and safe after a
	// failed Provision.
	Teardown(ctx context.Context) error
}

// Limits are the resource limits of the learner's container.
type Limits struct {
	CPUs         float64       // default 1
	MemoryMB     int64         // default 512, no swap
	Pids         int64         // default 256
	StartTimeout time.Duration // how long /healthz may take to answer after start; default 30 s
	// Replicas is how many copies of the app run side by side, sharing the sidecars; default 1.
	Replicas int
}

// WithDefaults fills unset limits with the platform defaults.
func (l Limits) WithDefaults() Limits {
	if l.CPUs == 0 {
		l.CPUs = 1
	}
	if l.MemoryMB == 0 {
		l.MemoryMB = 512
	}
	if l.Pids == 0 {
		l.Pids = 256
	}
	if l.StartTimeout == 0 {
		l.StartTimeout = 30 * time.Second
	}
	if l.Replicas == 0 {
		l.Replicas = 1
	}
	return l
}

// Challenge is one challenge, the one type every layer uses: the grader reads its slug,
// scenario table and limits; `runner challenges`, `app challenges` and the App's challenges
// table read the rest. templates.Challenge builds it from <slug>/challenge.yaml and the
// scenario table, for the built-in challenges and for packs' (scenarios/catalog) alike.
type Challenge struct {
	Slug       string
	Title      string
	Difficulty string   // free text: "easy", "medium", …
	Languages  []string // the starters' languages: go, ts, python
	Formats    []string // practice, take-home, debug, refactor, capacity
	Scenarios  []scenarios.Scenario
	Limits     Limits
	// Pack names the challenge pack it came from (catalog.BuiltinName for Holdfast's own); empty
	// for a challenge built outside the catalog, as tests do.
	Pack string
}

// Event reports progress while grading; the CLI prints them as they come.
type Event struct {
	Stage    string          // "build", "provision", "start", "scenario"
	Done     bool            // false when the stage starts
	Duration time.Duration   // when Done
	Note     string          // e.g. "cached"
	Result   *ScenarioResult // for stage "scenario" when Done
}

// Grader runs the pipeline: build → provision → start → scenarios → verdict.
type Grader struct {
	Engine Engine
	// HardCap bounds build + run together; default 120 s.
	HardCap time.Duration
	Log     *slog.Logger
}

// Ready reports whether the engine answers now, when it can tell (grading/docker's can): a
// runner whose engine is down hands its jobs back instead of failing them.
func (g *Grader) Ready(ctx context.Context) error {
	p, ok := g.Engine.(interface{ Ping(context.Context) error })
	if !ok {
		return nil
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return p.Ping(pctx)
}

// Grade grades the submission in dir. It returns an error only when Holdfast failed; every
// learner failure, including a hard-cap timeout, is in the Verdict.
func (g *Grader) Grade(ctx context.Context, ch Challenge, dir string, progress func(Event)) (Verdict, error) {
	if progress == nil {
		progress = func(Event) {}
	}
	if err := scenarios.Validate(ch.Scenarios); err != nil {
		return Verdict{}, fmt.Errorf("challenge %s: %w", ch.Slug, err)
	}
	hardCap := g.HardCap
	if hardCap == 0 {
		hardCap = DefaultHardCap
	}
	limits := ch.Limits.WithDefaults()
	start := time.Now()
	capped, cancel := context.WithTimeoutCause(ctx, hardCap, errHardCap)
	defer cancel()

	v := Verdict{Challenge: ch.Slug}
	finish := func(v Verdict) (Verdict, error) {
		v.Timings.Total = Millis(time.Since(start))
		return v, nil
	}
	timedOut := func(stage string) Verdict {
		v.Status = TimedOut
		v.Message = timedOutMessage(stage, hardCap)
		v.Scenarios = notRun(ch.Scenarios, v.Scenarios)
		v.Score = Score(v.Scenarios)
		return v
	}

	progress(Event{Stage: "build"})
	t := time.Now()
	build, err := g.Engine.Build(capped, dir)
	v.Timings.Build = Millis(time.Since(t))
	if err != nil {
		if context.Cause(capped) == errHardCap && ctx.Err() == nil {
			return finish(timedOut(stageBuild))
		}
		return v, fmt.Errorf("build %s: %w", dir, err)
	}
	note := ""
	if build.Cached {
		note = "cached"
	}
	progress(Event{Stage: "build", Done: true, Duration: time.Since(t), Note: note})
	metrics.ObserveStage("build", time.Since(t))
	if build.Failed() && !build.Failure.Learners() {
		// The host's disk, not the learner's code: never a verdict. The worker retries (its disk
		// floor prunes first); `runner grade` says what to free.
		return v, fmt.Errorf("build %s: %w", dir, build.Failure)
	}
	if build.Failed() {
		v.Status = BuildFailed
		v.Message = buildMessage(build.Failure)
		v.LogTail = build.LogTail
		v.Annotations = Annotations(build.LogTail, build.Files)
		v.Scenarios = notRun(ch.Scenarios, nil)
		return finish(v)
	}

	progress(Event{Stage: "provision"})
	t = time.Now()
	sb, err := g.Engine.Provision(capped, build.Image, limits)
	if sb != nil {
		defer func() {
			tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 60*time.Second)
			defer cancel()
			if err := sb.Teardown(tctx); err != nil {
				g.log().Error("sandbox teardown failed; the janitor will retry", "err", err)
			}
		}()
	}
	v.Timings.Provision = Millis(time.Since(t))
	if err != nil {
		if context.Cause(capped) == errHardCap && ctx.Err() == nil {
			return finish(timedOut(stageProvision))
		}
		return v, fmt.Errorf("provision sandbox: %w", err)
	}
	progress(Event{Stage: "provision", Done: true, Duration: time.Since(t)})
	metrics.ObserveStage("provision", time.Since(t))
	// agentKilled is set when the app's traffic got the agent killed: the sandbox is not intact
	// then, and the learner's app is why.
	var agentKilled *AgentDeath
	// survived finishes a verdict from here on: anything but a pass is the learner's only if the
	// sandbox survived the grading (a Docker engine restarting mid-run looks like an app that
	// stopped answering).
	survived := func(v Verdict) (Verdict, error) {
		if v.Status == GraderError && agentKilled == nil {
			// The agent may have died after the scenario that could not judge asked about it.
			if d, ok := agentDied(ctx, sb); ok {
				agentKilled = &d
				v = blameFlood(v, d)
			}
		}
		if v.Status != Passed {
			ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
			defer cancel()
			if err := sb.Intact(ictx); err != nil {
				if agentKilled == nil {
					return v, fmt.Errorf("the sandbox did not survive the grading, so its %s verdict is not the learner's: %w", v.Status, err)
				}
				g.log().Warn("the app's traffic killed the agent; the verdict is the learner's", "err", err,
					"requests", agentKilled.Requests, "bytes", agentKilled.Bytes)
			}
		}
		if v.Status != Passed && v.Status != Crashed {
			// Panics and tracebacks while public scenarios failed point at the learner's lines.
			v.Annotations = RuntimeAnnotations(failedPublicOutput(v.Scenarios), repoOf(ctx, sb, dir, build.Files))
		}
		return finish(v)
	}

	progress(Event{Stage: "start"})
	t = time.Now()
	err = startApps(capped, sb)
	v.Timings.Start = Millis(time.Since(t))
	if err != nil {
		if f, ok := scenarios.AsFailure(err); ok {
			v.Status = Crashed
			v.Message = crashMessage(f)
			v.LogTail = g.logTail(ctx, sb, time.Time{}, 60)
			v.Annotations = RuntimeAnnotations(v.LogTail, repoOf(ctx, sb, dir, build.Files))
			v.Scenarios = notRun(ch.Scenarios, nil)
			return survived(v)
		}
		if context.Cause(capped) == errHardCap && ctx.Err() == nil {
			return survived(timedOut(stageStart))
		}
		return v, fmt.Errorf("start app: %w", err)
	}
	progress(Event{Stage: "start", Done: true, Duration: time.Since(t)})
	metrics.ObserveStage("start", time.Since(t))

	h, err := NewHarness(sb)
	if err != nil {
		return v, err
	}
	h.SourceDir = dir
	t = time.Now()
	for i, s := range ch.Scenarios {
		if context.Cause(capped) == errHardCap {
			v.Timings.Scenarios = Millis(time.Since(t))
			return survived(timedOut(stageScenarios))
		}
		if err := ctx.Err(); err != nil {
			return v, err
		}
		progress(Event{Stage: "scenario", Note: s.Slug})
		started := time.Now()
		r := g.RunScenario(capped, sb, h, s)
		if r.Outcome == OutcomeFailed {
			r.LogTail = g.logTail(ctx, sb, started, 30)
			explainOOM(ctx, sb, limits, r.Failure)
		}
		v.Scenarios = append(v.Scenarios, r)
		progress(Event{Stage: "scenario", Done: true, Duration: time.Duration(r.Duration), Result: &r})
		if r.Outcome != OutcomePassed {
			if d, ok := agentDied(ctx, sb); ok {
				// Nothing can judge the scenarios left: each fails with what the app did.
				agentKilled = &d
				v.Scenarios = notRun(ch.Scenarios, v.Scenarios)
				v = blameFlood(v, d)
				break
			}
		}
		if i == len(ch.Scenarios)-1 {
			break
		}
		if err := g.Recover(capped, sb, s); err != nil {
			if f, ok := scenarios.AsFailure(err); ok {
				// The app will not come back: the scenarios left cannot pass.
				for _, rest := range ch.Scenarios[i+1:] {
					v.Scenarios = append(v.Scenarios, ScenarioResult{Slug: rest.Slug, Title: rest.Title, Visibility: rest.Visibility,
						Weight: rest.Weight, Outcome: OutcomeFailed, Failure: notRestartedFailure(f)})
				}
				break
			}
			if context.Cause(capped) != errHardCap {
				return v, fmt.Errorf("after scenario %s: %w", s.Slug, err)
			}
		}
	}
	v.Timings.Scenarios = Millis(time.Since(t))
	if err := ctx.Err(); err != nil {
		return v, err // cancelled: no verdict, the job is handed back
	}
	metrics.ObserveStage("scenarios", time.Duration(v.Timings.Scenarios))
	if context.Cause(capped) == errHardCap {
		return survived(timedOut(stageScenarios))
	}
	v.Status = statusOf(v.Scenarios)
	v.Score = Score(v.Scenarios)
	if v.Status != Passed {
		v.LogTail = g.logTail(ctx, sb, time.Time{}, 60)
	}
	return survived(v)
}

var errHardCap = errors.New("hard cap on build and run reached")

// oomReporter is a sandbox that can tell which app replicas the kernel killed for memory since
// they last started (grading/docker's can).
type oomReporter interface {
	OOMKilled(ctx context.Context) []scenarios.Service
}

// explainOOM says so in a failure when the app was killed for its memory meanwhile: otherwise
// the learner reads only what the scenario saw ("EOF", "connection refused").
func explainOOM(ctx context.Context, sb Sandbox, limits Limits, f *scenarios.Failure) {
	o, ok := sb.(oomReporter)
	if !ok || f == nil {
		return
	}
	killed := o.OOMKilled(ctx)
	if len(killed) == 0 {
		return
	}
	explainOOMFailure(f, killed[0], limits.MemoryMB)
}

// AgentDeath is what a sandbox knows of an agent that stopped without the harness asking.
type AgentDeath struct {
	// OOMKilled: the kernel killed it for its memory. Only the learner's traffic makes the
	// agent grow (the fakes bound what they keep), so this is the learner's doing; an agent that
	// exited otherwise is Holdfast's bug.
	OOMKilled bool
	MemoryMB  int64 // the agent's own memory limit
	// Requests and Bytes are what the app had sent the fakes by the agent's last traffic line
	// (zero when it logged none).
	Requests, Bytes int64
}

// blameFlood turns the scenarios the agent's death kept from judging (errors, and those not run)
// into the learner's failures, and says so in the verdict.
func blameFlood(v Verdict, d AgentDeath) Verdict {
	for i := range v.Scenarios {
		if r := &v.Scenarios[i]; r.Outcome == OutcomeError || r.Outcome == OutcomeNotRun {
			r.Outcome, r.Failure, r.Error = OutcomeFailed, d.failure(), ""
		}
	}
	v.Message = agentKilledMessage(d)
	v.Status = statusOf(v.Scenarios)
	v.Score = Score(v.Scenarios)
	return v
}

// agentReporter is a sandbox that can tell whether its agent died (grading/docker's can).
type agentReporter interface {
	AgentDeath(ctx context.Context) (AgentDeath, bool)
}

// agentDied reports an agent the learner's traffic killed.
func agentDied(ctx context.Context, sb Sandbox) (AgentDeath, bool) {
	a, ok := sb.(agentReporter)
	if !ok {
		return AgentDeath{}, false
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	d, dead := a.AgentDeath(actx)
	return d, dead && d.OOMKilled
}

// learnersFault finds the learner's doing behind an error that would otherwise read as the
// grader's: an observation refused because the app went beyond the fakes' bounds, the agent
// killed by the app's traffic, or overflows recorded while the scenario ran.
func learnersFault(ctx context.Context, sb Sandbox, h *scenarios.Harness, err error) *scenarios.Failure {
	var oe *agent.OverflowError
	if errors.As(err, &oe) {
		return overflowFailure(oe)
	}
	if d, ok := agentDied(ctx, sb); ok {
		return d.failure()
	}
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if over, qerr := h.Agent.Overflows(qctx); qerr == nil && len(over) > 0 {
		return overflowFailure(&agent.OverflowError{Overflows: over})
	}
	return nil
}

// tooLoaded ends the error of a scenario none of whose rounds could judge (ScenarioResult.TooLoaded).
const tooLoaded = "the machine is too loaded for this scenario; grade again when it is less busy"

// TooLoaded reports whether the scenario ended in a grader error because none of its rounds
// could judge on a machine too busy for it: the runner grades again (worker.go, GradeAttempts),
// and so may a test.
func (r ScenarioResult) TooLoaded() bool {
	return r.Outcome == OutcomeError && strings.HasSuffix(r.Error, tooLoaded)
}

// TooLoaded reports whether the grading ended in a grader error only because some scenarios
// were too loaded to judge (ScenarioResult.TooLoaded) and no other scenario erred.
func (v Verdict) TooLoaded() bool {
	loaded := false
	for _, r := range v.Scenarios {
		switch {
		case r.TooLoaded():
			loaded = true
		case r.Outcome == OutcomeError || r.Outcome == OutcomeNotRun:
			return false
		}
	}
	return loaded && v.Status == GraderError
}

// DefaultHardCap bounds build and run together when Grader.HardCap is zero.
const DefaultHardCap = 120 * time.Second

// RunScenario runs one scenario of a grading with its own deadline, after clearing faults left
// by the last, and judges it. A round that could not judge (*scenarios.Inconclusive) is run
// again on a restarted app, up to scenarios.Rounds rounds. When ctx ends the outcome is
// OutcomeNotRun. Grade calls it for each scenario (and Recover between them); so do the
// stability tests (scenariotest.Stable), to repeat one as a grading runs it.
func (g *Grader) RunScenario(ctx context.Context, sb Sandbox, h *scenarios.Harness, s scenarios.Scenario) (r ScenarioResult) {
	r = ScenarioResult{Slug: s.Slug, Title: s.Title, Visibility: s.Visibility, Weight: s.Weight}
	timeout := s.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	start := time.Now()
	defer func() { r.Duration = Millis(time.Since(start)) }()
	for round := 1; ; round++ {
		if err := h.Agent.Reset(ctx); err != nil {
			if f := learnersFault(ctx, sb, h, err); f != nil {
				r.Outcome, r.Failure = OutcomeFailed, f
				return r
			}
			r.Outcome, r.Error = OutcomeError, "reset agent: "+err.Error()
			return r
		}
		h.BeginTimeline()
		runErr, timedOut := runRound(ctx, h, s, timeout)
		if scenarios.VerdictOf(runErr) != scenarios.VerdictInconclusive || ctx.Err() != nil {
			g.judge(ctx, sb, h, s, &r, runErr, timedOut, timeout)
			break
		}
		if round == scenarios.Rounds {
			inc, _ := scenarios.AsInconclusive(runErr)
			r.Outcome, r.Error = OutcomeError, fmt.Sprintf("none of %d rounds could judge (the last: %s): %s", round, inc.Reason, tooLoaded)
			g.log().Error("scenario could not judge", "scenario", s.Slug, "rounds", round, "err", runErr)
			break
		}
		g.log().Warn("scenario round could not judge; restarting the app for another", "scenario", s.Slug, "round", round, "err", runErr)
		again := s
		again.Disruptive = true // whatever the round left behind, the next starts on a fresh app
		if err := g.Recover(ctx, sb, again); err != nil {
			if f, ok := scenarios.AsFailure(err); ok {
				r.Outcome, r.Failure = OutcomeFailed, f
			} else {
				g.judge(ctx, sb, h, s, &r, fmt.Errorf("restart the app for round %d: %w", round+1, err), false, timeout)
			}
			break
		}
	}
	r.Timeline = g.timeline(ctx, h, s, r.Outcome)
	return r
}

// runRound runs one round of a scenario under its deadline; timedOut says the deadline ended it.
func runRound(ctx context.Context, h *scenarios.Harness, s scenarios.Scenario, timeout time.Duration) (err error, timedOut bool) {
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("scenario panicked: %v\n%s", p, debug.Stack())
		}
		timedOut = sctx.Err() != nil
	}()
	return s.Run(sctx, h), false
}

// judge sets a scenario's outcome from what its last round returned.
func (g *Grader) judge(ctx context.Context, sb Sandbox, h *scenarios.Harness, s scenarios.Scenario, r *ScenarioResult, runErr error, timedOut bool, timeout time.Duration) {
	f, _ := scenarios.AsFailure(runErr)
	switch verdict := scenarios.VerdictOf(runErr); {
	case verdict == scenarios.VerdictPass:
		r.Outcome = OutcomePassed
	case verdict == scenarios.VerdictFail:
		r.Outcome, r.Failure = OutcomeFailed, f
	case ctx.Err() != nil: // an Inconclusive round reaches here only when the grading ended
		r.Outcome = OutcomeNotRun
	case timedOut:
		r.Outcome, r.Failure = OutcomeFailed, scenarioTimeoutFailure(timeout)
	default:
		if f := learnersFault(ctx, sb, h, runErr); f != nil {
			r.Outcome, r.Failure = OutcomeFailed, f
			g.log().Info("scenario could not judge because of the app's traffic", "scenario", s.Slug, "err", runErr)
			return
		}
		r.Outcome, r.Error = OutcomeError, runErr.Error()
		g.log().Error("scenario could not judge", "scenario", s.Slug, "err", runErr)
	}
}

// startApps starts every replica of the app at once and waits until all answer /healthz. The
// first replica's failure wins: it is the one the learner reads about. An app that did not start
// is the learner's *scenarios.Failure.
func startApps(ctx context.Context, sb Sandbox) error {
	n := len(sb.AppURLs())
	errs := sideBySide(n, func(i int) error { return startFailure(sb.Start(ctx, scenarios.Replica(i+1))) })
	for i, err := range errs {
		if f, ok := scenarios.AsFailure(err); ok && n > 1 {
			onReplica(f, i+1)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// sideBySide runs do for each of n replicas (at least one) at once, and returns their errors in
// replica order. A replica's restart is mostly the engine's and the app's own start-up, which no
// other replica needs to wait for.
func sideBySide(n int, do func(i int) error) []error {
	errs := make([]error, max(n, 1))
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() { errs[i] = do(i) })
	}
	wg.Wait()
	return errs
}

// Recover puts every replica of the app back into a clean running state after a scenario that
// disturbed it (or paused it), or that left it unhealthy. The replicas recover side by side. An
// app that does not start again is the learner's *scenarios.Failure; the first replica's error
// wins.
func (g *Grader) Recover(ctx context.Context, sb Sandbox, s scenarios.Scenario) error {
	urls := sb.AppURLs()
	for _, err := range sideBySide(len(urls), func(i int) error { return recoverReplica(ctx, sb, s, urls, i) }) {
		if err != nil {
			return err
		}
	}
	return nil
}

// recoverReplica is Recover for the replica at index i: thawed, then, unless the scenario was
// not disruptive and it still answers /healthz, killed and started again.
func recoverReplica(ctx context.Context, sb Sandbox, s scenarios.Scenario, urls []string, i int) error {
	svc := scenarios.Replica(i + 1)
	if err := sb.Unpause(ctx, svc); err != nil {
		return fmt.Errorf("unpause %s: %w", svc, err)
	}
	if !s.Disruptive && i < len(urls) && healthy(ctx, urls[i]) {
		return nil
	}
	if err := sb.Kill(ctx, svc, "SIGKILL"); err != nil {
		return fmt.Errorf("stop %s: %w", svc, err)
	}
	if err := sb.Start(ctx, svc); err != nil {
		return startFailure(err)
	}
	return nil
}

func healthy(ctx context.Context, base string) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
	if err != nil {
		return false
	}
	req.Close = true // no idle connection left behind to hold up the app's own shutdown
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (g *Grader) logTail(ctx context.Context, sb Sandbox, since time.Time, lines int) string {
	n := len(sb.AppURLs())
	if n <= 1 {
		logs, err := g.readLogs(ctx, sb, scenarios.App, since, lines)
		if err != nil {
			return couldNotRead(err)
		}
		return PlainText(logs) // no colour codes: for the reports, and for annotations' parsing
	}
	// One section per replica that said something: a replica with no output gets no empty
	// "── replica 1 ──" heading.
	var b strings.Builder
	for i := range n {
		logs, err := g.readLogs(ctx, sb, scenarios.Replica(i+1), since, lines)
		if err != nil {
			logs = couldNotRead(err)
		}
		logs = strings.TrimRight(PlainText(logs), "\n")
		if strings.TrimSpace(logs) == "" {
			continue
		}
		fmt.Fprintf(&b, "── replica %d ──\n%s\n", i+1, logs)
	}
	return b.String()
}

// logReads is how many times readLogs asks the engine, each within logReadTimeout, logReadPause
// apart: a full test run at load 10-20 once got no app output at all for a grading whose app
// had logged a panic on every payment, and the annotation went with it.
const (
	logReads       = 3
	logReadTimeout = 10 * time.Second
	logReadPause   = time.Second
)

// readLogs reads a service's output, asking again after a failed read (logReads in all).
func (g *Grader) readLogs(ctx context.Context, sb Sandbox, svc scenarios.Service, since time.Time, lines int) (string, error) {
	var err error
	for attempt := 1; attempt <= logReads; attempt++ {
		if attempt > 1 {
			time.Sleep(logReadPause) // as the reads, not cut short by ctx: the verdict needs them
		}
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), logReadTimeout)
		var logs string
		logs, err = sb.Logs(tctx, svc, since, lines)
		cancel()
		if err == nil {
			return logs, nil
		}
		g.log().Warn("read app logs", "service", svc, "attempt", attempt, "err", err)
	}
	return "", err
}

// couldNotRead is what a log tail says when the app's output could not be read: the reader of
// the report learns the output is missing, not that the app said nothing.
func couldNotRead(err error) string {
	return fmt.Sprintf("(Holdfast could not read the app's output: %v)\n", err)
}

func (g *Grader) log() *slog.Logger {
	if g.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return g.Log
}

// notRun completes results with the scenarios that never had their turn.
func notRun(table []scenarios.Scenario, done []ScenarioResult) []ScenarioResult {
	out := append([]ScenarioResult(nil), done...)
	for _, s := range table[len(done):] {
		out = append(out, ScenarioResult{Slug: s.Slug, Title: s.Title, Visibility: s.Visibility, Weight: s.Weight, Outcome: OutcomeNotRun})
	}
	return out
}
