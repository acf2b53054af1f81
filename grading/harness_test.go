package grading_test

import (
	"context"
	"testing"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/scenarios"
)

// movingSandbox is a sandbox whose Postgres sidecar comes back at a new address on every start,
// and whose app exits at once.
type movingSandbox struct {
	grading.Sandbox // nil: only Endpoints and Start are called
	ep              grading.Endpoints
	starts          int
}

func (s *movingSandbox) Endpoints() grading.Endpoints { return s.ep }

func (s *movingSandbox) Start(ctx context.Context, svc scenarios.Service) error {
	if scenarios.IsApp(svc) {
		return &grading.StartError{Service: svc, Kind: grading.StartExited, ExitCode: 1}
	}
	s.starts++
	s.ep.Postgres = "postgres://moved-" + string(rune('0'+s.starts))
	return nil
}

// TestHarnessFromEndpoints: the harness grading builds reaches what the sandbox reports, sees a
// sidecar at its new address once a scenario started it again, and reads an app that did not
// start as the learner's failure.
func TestHarnessFromEndpoints(t *testing.T) {
	t.Parallel()
	sb := &movingSandbox{ep: grading.Endpoints{Agent: "http://agent:9090", AgentToken: "t",
		Postgres: "postgres://first", Redis: "redis://first"}}
	h, err := grading.NewHarness(sb)
	if err != nil {
		t.Fatal(err)
	}
	if h.PostgresURL != "postgres://first" || h.RedisURL != "redis://first" || h.Agent == nil {
		t.Fatalf("harness observes %q and %q (agent %v); want the sandbox's endpoints", h.PostgresURL, h.RedisURL, h.Agent)
	}
	if err := h.Target.Start(context.Background(), scenarios.Postgres); err != nil {
		t.Fatal(err)
	}
	if h.PostgresURL != "postgres://moved-1" {
		t.Fatalf("after the sidecar started again the harness observes %q; want its new address postgres://moved-1", h.PostgresURL)
	}
	err = h.Target.Start(context.Background(), scenarios.App)
	if f, ok := scenarios.AsFailure(err); !ok || f.Actual != "it exited with code 1 after 0s" {
		t.Fatalf("an app that exits on start: %v (%T); want the learner's failure", err, err)
	}

	if _, err := grading.NewHarness(&movingSandbox{}); err == nil {
		t.Fatal("a sandbox without an agent endpoint: want an error")
	}
}
