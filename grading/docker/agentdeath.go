package docker

import (
	"context"
	"time"

	"github.com/moby/moby/client"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/agent"
)

// AgentDeath reports whether the agent stopped without the harness asking, why, and what the
// app had sent the fakes by then (the agent's last traffic line, read from its log, which
// outlives it).
func (s *sandbox) AgentDeath(ctx context.Context) (grading.AgentDeath, bool) {
	id, err := s.containerID(roleAgent)
	if err != nil {
		return grading.AgentDeath{}, false
	}
	s.mu.Lock()
	stopped := s.stopped[roleAgent]
	s.mu.Unlock()
	if stopped {
		return grading.AgentDeath{}, false
	}
	res, err := s.e.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err == nil && res.Container.State != nil && res.Container.State.Running {
		// An agent that answers is alive: waiting for its exit would cost every scenario that
		// did not pass the whole wait (the grader asks after each).
		hctx, cancel := context.WithTimeout(ctx, time.Second)
		alive := s.agent.Healthy(hctx) == nil
		cancel()
		if alive {
			return grading.AgentDeath{}, false
		}
		// The agent's process may be gone (the harness's call was refused) before the engine
		// has noted its exit: give it a moment.
		res, err = s.inspectAfterExit(ctx, id, 3*time.Second)
	}
	if err != nil || res.Container.State == nil || res.Container.State.Running {
		return grading.AgentDeath{}, false
	}
	st := res.Container.State
	d := grading.AgentDeath{OOMKilled: st.OOMKilled, MemoryMB: s.e.cfg.AgentMemoryMB}
	logs, err := s.Logs(ctx, scenarios.Service(roleAgent), time.Time{}, 200)
	if err == nil {
		if t, ok := agent.LastTraffic(logs); ok {
			d.Requests, d.Bytes = t.Requests, t.Bytes
		}
	}
	return d, true
}
