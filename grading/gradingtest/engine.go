package gradingtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/agent"
)

// ScriptFile is the file, at a submission's root, that scripts it: a JSON Script.
const ScriptFile = "gradingtest.json"

// Script is what a submission does on the scripted engine. The zero Script builds, starts, and
// passes every scenario.
type Script struct {
	// BuildDelay is how long its build takes (JSON: a Go duration such as "2s"), for tests that
	// need a grading in progress.
	BuildDelay Duration `json:"build_delay,omitempty"`
	// BuildFailed, when set, fails the build as the learner's Dockerfile or code would: a step
	// that failed with this error (the builder's first line, e.g. "The command '/bin/sh -c go
	// build' returned a non-zero code: 1"), or, with BuildKind, another way. BuildLog is the
	// build log's tail (compiler lines in it become annotations on the submission's files).
	BuildFailed string `json:"build_failed,omitempty"`
	BuildLog    string `json:"build_log,omitempty"`
	// BuildKind, with BuildFailed, is how the build fails, by grading.BuildKind's name, with the
	// data grading/docker gives each: step_failed (the default), no_dockerfile, symlink
	// (BuildFailed names the file), context_too_large (over 50 MiB), timed_out (after 100 s),
	// policy (BuildFailed is the image line 1's FROM names, on a registry not allowed), or
	// out_of_disk: the engine's full disk failed the step BuildFailed names, which Build returns
	// as its error (Holdfast's failure, never a verdict).
	BuildKind string `json:"build_kind,omitempty"`
	// EngineError, when set, makes the build return this error: Holdfast's failure, retried by a
	// worker, never the learner's verdict.
	EngineError string `json:"engine_error,omitempty"`
	// CrashOnStart makes the app's nth start fail as an app that exits (1: the first start).
	CrashOnStart int `json:"crash_on_start,omitempty"`
	// Fail names the scenarios (made by Scenario) the app fails; every other one passes.
	Fail []string `json:"fail,omitempty"`
	// AppLog is the app's output, as the sandbox's logs return it.
	AppLog string `json:"app_log,omitempty"`
	// LogErrors makes the sandbox's first n reads of the logs fail, as an engine too busy to
	// answer in time does.
	LogErrors int `json:"log_errors,omitempty"`
	// Broken, when set, is what the sandbox's Intact reports: a sandbox that did not survive the
	// grading (an engine restart), so a failing verdict is Holdfast's failure, not the learner's.
	Broken string `json:"broken,omitempty"`
}

// Duration is a time.Duration written in JSON as a Go duration string ("1.5s").
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string such as \"2s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// WriteSubmission writes a submission holding s (its ScriptFile) and a main.go into a new
// directory under dir, named name, and returns its path: what a test pushes.
func WriteSubmission(dir, name string, s Script) (string, error) {
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(p, 0o755); err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(p, ScriptFile), b, 0o644); err != nil {
		return "", err
	}
	// A source file, so that build logs naming it become annotations.
	main := "package main\n\nfunc main() {\n\t// scripted by " + ScriptFile + "\n\n\tprintln(undefined)\n}\n"
	if err := os.WriteFile(filepath.Join(p, "main.go"), []byte(main), 0o644); err != nil {
		return "", err
	}
	return p, nil
}

// ReadScript reads the script of the submission in dir: its ScriptFile, or ok false when it has
// none.
func ReadScript(dir string) (s Script, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, ScriptFile))
	if errors.Is(err, fs.ErrNotExist) {
		return Script{}, false, nil
	}
	if err != nil {
		return Script{}, false, err
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return Script{}, false, fmt.Errorf("%s in %s: %w", ScriptFile, dir, err)
	}
	return s, true, nil
}

// Engine is a scripted grading.Engine. Its zero value is ready: every submission without a
// script file follows Script (the zero Script: it passes). It is safe for concurrent gradings.
type Engine struct {
	// Script is what a submission without a ScriptFile does.
	Script Script
	// Down, when set, is what Ping returns: an engine that does not answer, so a worker hands
	// its gradings back. Set it before the engine is used.
	Down error

	mu        sync.Mutex
	builds    int
	images    map[string]Script
	sandboxes []*Sandbox
}

var _ grading.Engine = (*Engine)(nil)

// Ping answers, within ctx, unless the engine is Down.
func (e *Engine) Ping(ctx context.Context) error {
	if e.Down != nil {
		return e.Down
	}
	return ctx.Err()
}

// Build implements grading.Engine: it follows the submission's script.
func (e *Engine) Build(ctx context.Context, dir string) (grading.BuildResult, error) {
	s, ok, err := ReadScript(dir)
	if err != nil {
		return grading.BuildResult{}, err
	}
	if !ok {
		s = e.Script
	}
	e.mu.Lock()
	e.builds++
	image := fmt.Sprintf("gradingtest/%d", e.builds)
	if e.images == nil {
		e.images = map[string]Script{}
	}
	e.images[image] = s
	e.mu.Unlock()
	select {
	case <-time.After(time.Duration(s.BuildDelay)):
	case <-ctx.Done():
		return grading.BuildResult{}, ctx.Err()
	}
	if s.EngineError != "" {
		return grading.BuildResult{}, errors.New(s.EngineError)
	}
	files, err := listFiles(dir)
	if err != nil {
		return grading.BuildResult{}, err
	}
	if s.BuildFailed != "" {
		f, err := s.buildError()
		if err != nil {
			return grading.BuildResult{}, err
		}
		if !f.Learners() {
			return grading.BuildResult{LogTail: s.BuildLog, Files: files}, f
		}
		return grading.BuildResult{Failure: f, LogTail: s.BuildLog, Files: files}, nil
	}
	return grading.BuildResult{Image: image, Files: files}, nil
}

// buildError is the failure a script's BuildFailed and BuildKind describe.
func (s Script) buildError() (*grading.BuildError, error) {
	kind := grading.BuildStepFailed
	if s.BuildKind != "" {
		k, err := grading.ParseBuildKind(s.BuildKind)
		if err != nil {
			return nil, fmt.Errorf("%s: build_kind: %w", ScriptFile, err)
		}
		kind = k
	}
	f := &grading.BuildError{Kind: kind}
	switch kind {
	case grading.BuildStepFailed, grading.BuildOutOfDisk:
		f.Step = s.BuildFailed
	case grading.BuildSymlink:
		f.File = s.BuildFailed
	case grading.BuildContextTooLarge:
		f.MaxContextBytes = 50 << 20
	case grading.BuildTimedOut:
		f.Timeout = 100 * time.Second
	case grading.BuildRefused:
		host, _, _ := strings.Cut(s.BuildFailed, "/")
		f.Refusal = &grading.DockerfileRefusal{Rule: grading.RuleRegistryNotAllowed, Line: 1, Instr: "FROM", Arg: s.BuildFailed, Host: host}
	}
	return f, nil
}

// listFiles returns dir's regular files, slash-separated and relative to it.
func listFiles(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		files = append(files, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list the submission's files: %w", err)
	}
	return files, nil
}

// Builds is how many builds were asked of the engine.
func (e *Engine) Builds() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.builds
}

// Provision implements grading.Engine: a sandbox whose app is a loopback HTTP server following
// the image's script and whose agent is a real agent on loopback.
func (e *Engine) Provision(ctx context.Context, image string, limits grading.Limits) (grading.Sandbox, error) {
	e.mu.Lock()
	s, ok := e.images[image]
	e.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("provision %q: no image of that name was built by this engine", image)
	}
	sb := &Sandbox{script: s}
	sb.app = httptest.NewServer(http.HandlerFunc(sb.serve))
	e.mu.Lock()
	e.sandboxes = append(e.sandboxes, sb)
	e.mu.Unlock()
	// The agent's three ports are found free, closed, then bound by the agent: a test running
	// beside may take one in between (the agent then stops at once, "address already in use",
	// seen in a full run at load 10-20). Such a start is tried again on other ports.
	var runErr error
	for attempt := 1; attempt <= agentStarts; attempt++ {
		ok, err := sb.startAgent(ctx)
		if ok || err != nil {
			return sb, err
		}
		runErr = sb.agentErr
	}
	return sb, fmt.Errorf("the agent stopped before it answered, %d times: %w", agentStarts, runErr)
}

// agentStarts bounds how many times Provision starts the agent on other ports.
const agentStarts = 5

// startAgent starts a real agent on three free loopback ports and waits until it answers: ok
// when it does; false with no error when it stopped first (sb.agentErr says why).
func (sb *Sandbox) startAgent(ctx context.Context) (ok bool, err error) {
	var addrs [3]string
	for i := range addrs {
		a, err := freeAddr()
		if err != nil {
			return false, err
		}
		addrs[i] = a
	}
	srv, err := agent.NewServer(agent.Config{Token: agentToken, ControlAddr: addrs[0], ProviderAddr: addrs[1], DownstreamAddr: addrs[2]},
		slog.New(slog.DiscardHandler))
	if err != nil {
		return false, fmt.Errorf("agent: %w", err)
	}
	actx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { sb.agentErr = srv.Run(actx); close(done) }()
	sb.stopAgent = func() { cancel(); <-done }
	sb.agentURL, sb.provider, sb.downstream = "http://"+addrs[0], "http://"+addrs[1], "http://"+addrs[2]
	for agent.NewClient(sb.agentURL, agentToken).Healthy(ctx) != nil {
		select {
		case <-ctx.Done():
			return false, fmt.Errorf("the agent did not answer: %w", ctx.Err())
		case <-done:
			sb.stopAgent = func() {}
			return false, nil
		case <-time.After(10 * time.Millisecond):
		}
	}
	return true, nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Sandboxes is how many sandboxes were provisioned, and Left how many of them are not torn
// down: a grading that ended must leave none.
func (e *Engine) Sandboxes() (provisioned, left int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, sb := range e.sandboxes {
		sb.mu.Lock()
		if !sb.tornDown {
			left++
		}
		sb.mu.Unlock()
	}
	return len(e.sandboxes), left
}

// Sandbox is one scripted grading.Sandbox, as Provision returns it. A scenario reaches it
// through its harness (scenarios.Unwrap(h.Target)) to play the app's part towards the agent.
type Sandbox struct {
	script     Script
	app        *httptest.Server
	agentURL   string // the agent's control API, on loopback
	provider   string // the agent's provider fake, likewise
	downstream string // the agent's downstream fake, likewise
	stopAgent  func()

	mu         sync.Mutex
	running    bool
	starts     int
	generation int
	tornDown   bool
	logReads   int
	agentErr   error // why the agent's Run returned, once it has
}

// serve is the scripted app: /healthz, /generation (how many times it started), and one
// endpoint per scenario (ScenarioPath) that passes or fails as the script says. A stopped app
// drops its connections.
func (s *Sandbox) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	running, generation := s.running, s.generation
	s.mu.Unlock()
	if !running {
		panic(http.ErrAbortHandler)
	}
	switch slug, ok := strings.CutPrefix(r.URL.Path, ScenarioPath); {
	case r.URL.Path == "/healthz":
		fmt.Fprintln(w, "ok")
	case r.URL.Path == "/generation":
		fmt.Fprint(w, generation)
	case ok && slices.Contains(s.script.Fail, slug):
		http.Error(w, "scripted to fail "+slug, http.StatusInternalServerError)
	case ok:
		fmt.Fprintln(w, "ok")
	default:
		http.NotFound(w, r)
	}
}

// AppURL, AppURLs, Pause, Unpause, Wait, Kill, Start, Logs, Endpoints, Intact and Teardown
// implement grading.Sandbox; only Kill and Start change the scripted app (stopped, started).
func (s *Sandbox) AppURL() string    { return s.app.URL }
func (s *Sandbox) AppURLs() []string { return []string{s.app.URL} }

func (s *Sandbox) Pause(context.Context, scenarios.Service) error       { return nil }
func (s *Sandbox) Unpause(context.Context, scenarios.Service) error     { return nil }
func (s *Sandbox) Wait(context.Context, scenarios.Service) (int, error) { return 0, nil }

func (s *Sandbox) Kill(context.Context, scenarios.Service, string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.running = false
	return nil
}

func (s *Sandbox) Start(_ context.Context, svc scenarios.Service) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.starts++
	if s.starts == s.script.CrashOnStart {
		return &grading.StartError{Service: svc, Kind: grading.StartExited, ExitCode: 2, After: time.Second}
	}
	s.running = true
	s.generation++
	return nil
}

func (s *Sandbox) Logs(context.Context, scenarios.Service, time.Time, int) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logReads++
	if s.logReads <= s.script.LogErrors {
		return "", fmt.Errorf("logs of app: read %d of the scripted %d that fail", s.logReads, s.script.LogErrors)
	}
	return s.script.AppLog, nil
}

// agentToken is every scripted sandbox's agent token.
var agentToken = strings.Repeat("x", 32)

func (s *Sandbox) Endpoints() grading.Endpoints {
	return grading.Endpoints{Agent: s.agentURL, AgentToken: agentToken}
}

func (s *Sandbox) Intact(context.Context) error {
	if s.script.Broken != "" {
		return errors.New(s.script.Broken)
	}
	return nil
}

// ProviderURL and DownstreamURL are where the app would reach the agent's payment provider and
// downstream fakes, for a scenario that plays the app's part towards them.
func (s *Sandbox) ProviderURL() string   { return s.provider }
func (s *Sandbox) DownstreamURL() string { return s.downstream }

// StopAgent stops the agent, as the kernel's kill of a real agent container does; the sandbox
// does not notice (Intact still follows the script).
func (s *Sandbox) StopAgent() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopAgent != nil {
		s.stopAgent()
		s.stopAgent = nil
	}
}

func (s *Sandbox) Teardown(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tornDown {
		return nil
	}
	s.tornDown = true
	s.app.Close()
	if s.stopAgent != nil {
		s.stopAgent()
		s.stopAgent = nil
	}
	return nil
}
