package grading_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/scenarios"
)

// barrierSandbox runs n app replicas whose Start returns only once every replica is starting:
// restarted one after another, the first waits until its context ends.
type barrierSandbox struct {
	grading.Sandbox // only what Recover calls is implemented
	n               int
	all             chan struct{}

	mu              sync.Mutex
	killed, started []scenarios.Service
}

func (s *barrierSandbox) AppURLs() []string {
	urls := make([]string, s.n)
	for i := range urls {
		urls[i] = "http://127.0.0.1:1" // never asked: the scenario is disruptive
	}
	return urls
}

func (s *barrierSandbox) Unpause(context.Context, scenarios.Service) error { return nil }

func (s *barrierSandbox) Kill(_ context.Context, svc scenarios.Service, _ string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.killed = append(s.killed, svc)
	return nil
}

func (s *barrierSandbox) Start(ctx context.Context, svc scenarios.Service) error {
	s.mu.Lock()
	if s.started = append(s.started, svc); len(s.started) == s.n {
		close(s.all)
	}
	s.mu.Unlock()
	select {
	case <-s.all:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestRecoverRestartsReplicasSideBySide: after a disruptive scenario every replica is killed
// and started again, all at once: a restart mostly waits for the engine and the app's start-up,
// and one replica's need not wait behind another's.
func TestRecoverRestartsReplicasSideBySide(t *testing.T) {
	t.Parallel()
	sb := &barrierSandbox{n: 2, all: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s := scenarios.Scenario{Slug: "disrupt", Disruptive: true}
	if err := (&grading.Grader{}).Recover(ctx, sb, s); err != nil {
		t.Fatalf("Recover: %v (killed %v, started %v): the replicas were not restarted side by side", err, sb.killed, sb.started)
	}
	if len(sb.killed) != 2 || len(sb.started) != 2 {
		t.Fatalf("killed %v, started %v; want both replicas killed and started", sb.killed, sb.started)
	}
}
