package grading

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/agent"
)

// Endpoints are where a sandbox's services other than the app answer, as the runner reaches
// them. A sandbox reports them; grading builds the scenario harness from them (NewHarness). The
// app's replicas are the Target's AppURLs, read on every request: their addresses change when
// they start again.
type Endpoints struct {
	// Agent is the base URL of the agent's control API; AgentToken authenticates to it.
	Agent      string
	AgentToken string
	// Postgres and Redis reach the sidecars directly, bypassing the agent's fault proxies: for
	// observations only. A sidecar's address may change when it starts again.
	Postgres string
	Redis    string
}

// StartKind is why a sandbox's service did not start.
type StartKind int

const (
	// StartExited: the app's process exited before GET /healthz answered 200. The learner's.
	StartExited StartKind = iota + 1
	// StartOOMKilled: the kernel killed the app for its memory before it answered. The learner's.
	StartOOMKilled
	// StartNeverHealthy: the service ran but was not ready within its start timeout (for the
	// app: GET /healthz never answered 200). The learner's for the app, Holdfast's otherwise.
	StartNeverHealthy
	// StartOutOfDisk: the engine's disk is full. Holdfast's.
	StartOutOfDisk
	// StartImageMissing: an image the sandbox runs is not on the engine. Holdfast's.
	StartImageMissing
	// StartEngine: the engine failed or refused otherwise. Holdfast's.
	StartEngine
)

var startKindNames = map[StartKind]string{StartExited: "exited", StartOOMKilled: "oom_killed",
	StartNeverHealthy: "never_healthy", StartOutOfDisk: "out_of_disk", StartImageMissing: "image_missing", StartEngine: "engine"}

func (k StartKind) String() string {
	if n, ok := startKindNames[k]; ok {
		return n
	}
	return fmt.Sprintf("StartKind(%d)", int(k))
}

// StartError is a service of a sandbox that did not start: what the sandbox saw, never worded
// for the learner (grading words it, messages.go). Provision and Start return it, so callers
// tell a crash from a full disk with errors.As.
type StartError struct {
	Service scenarios.Service // "" for the sandbox's networks
	Kind    StartKind
	// ExitCode and After: the exit code and how long after its start the app exited
	// (StartExited).
	ExitCode int
	After    time.Duration
	// MemoryMB is the app's memory limit (StartOOMKilled).
	MemoryMB int64
	// Timeout is the start timeout and Port the port the app was asked to listen on
	// (StartNeverHealthy). LastStatus is the last status GET /healthz answered with, LastErr
	// the last probe's transport error; both zero when the app never had an address.
	Timeout    time.Duration
	Port       int
	LastStatus int
	LastErr    error
	// Err is the engine's error, with what was being done (StartOutOfDisk, StartImageMissing,
	// StartEngine, and a sidecar that was not ready).
	Err error
}

func (e *StartError) Error() string {
	if e.Err != nil {
		return e.Err.Error()
	}
	switch e.Kind {
	case StartExited:
		return fmt.Sprintf("%s exited with code %d after %s", e.Service, e.ExitCode, e.After.Round(100*time.Millisecond))
	case StartOOMKilled:
		return fmt.Sprintf("%s was killed for using more than %d MiB of memory", e.Service, e.MemoryMB)
	case StartNeverHealthy:
		return fmt.Sprintf("%s did not answer GET /healthz with 200 within %s: %s", e.Service, e.Timeout, lastProbe(e))
	}
	return fmt.Sprintf("%s did not start (%s)", e.Service, e.Kind)
}

func (e *StartError) Unwrap() error { return e.Err }

// Learners reports whether the learner's app is why the service did not start: it exited, ran
// out of memory or never answered. Every other start failure is Holdfast's.
func (e *StartError) Learners() bool {
	if !scenarios.IsApp(e.Service) {
		return false
	}
	switch e.Kind {
	case StartExited, StartOOMKilled, StartNeverHealthy:
		return true
	}
	return false
}

// NewHarness builds the scenario harness of a sandbox from its endpoints. Its Target is the
// sandbox, with one difference a scenario relies on: an app that does not start (again) is the
// learner's *scenarios.Failure, worded here, and a sidecar started again is observed at its new
// address.
func NewHarness(sb Sandbox) (*scenarios.Harness, error) {
	ep := sb.Endpoints()
	if ep.Agent == "" {
		return nil, errors.New("the sandbox reports no agent endpoint: the harness cannot reach the fakes")
	}
	t := &harnessTarget{Sandbox: sb}
	h := scenarios.NewHarness(t, agent.NewClient(ep.Agent, ep.AgentToken), ep.Postgres, ep.Redis)
	t.h = h
	return h, nil
}

// harnessTarget is a sandbox as its harness's scenarios see it.
type harnessTarget struct {
	Sandbox
	h *scenarios.Harness
}

// Unwrap returns the sandbox, for tests that reach their own fake through a harness.
func (t *harnessTarget) Unwrap() scenarios.Target { return t.Sandbox }

func (t *harnessTarget) Start(ctx context.Context, svc scenarios.Service) error {
	if err := t.Sandbox.Start(ctx, svc); err != nil {
		return startFailure(err)
	}
	if !scenarios.IsApp(svc) {
		// What the sandbox did itself before: a scenario that starts a sidecar again observes
		// it once Start has returned.
		ep := t.Sandbox.Endpoints()
		t.h.PostgresURL, t.h.RedisURL = ep.Postgres, ep.Redis
	}
	return nil
}
