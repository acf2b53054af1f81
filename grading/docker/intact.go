package docker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/holdfast-ci/holdfast/scenarios"
)

// startCallTimeout bounds one start call to the engine; see startNoted.
const startCallTimeout = 2 * time.Minute

// startNoted starts container id and notes the start. The engine finishes a start it was asked
// for even when the caller stops waiting (a scenario that ends while a slow engine is still
// starting the app): the call and the note therefore outlive ctx, bounded by startCallTimeout,
// or Intact would later blame "someone else" for the harness's own start. The caller's next call
// with ctx says whether ctx ended meanwhile.
func (s *sandbox) startNoted(ctx context.Context, role, id string) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), startCallTimeout)
	defer cancel()
	if _, err := s.e.cli.ContainerStart(sctx, id, client.ContainerStartOptions{}); err != nil {
		return err
	}
	return s.noteStart(sctx, role, id)
}

// noteStart records what the engine says of a container the harness has just started, for
// Intact to compare with later.
func (s *sandbox) noteStart(ctx context.Context, role, id string) error {
	res, err := s.e.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return fmt.Errorf("inspect %s after starting it: %w", role, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := res.Container.State; st != nil {
		s.started[role] = st.StartedAt
	}
	delete(s.stopped, role)
	return nil
}

// Intact implements grading.Sandbox. What breaks a sandbox from outside: the engine going away,
// an engine restart (it stops every container; with a restart policy it would start them
// again), someone removing or restarting a container. An app that exits on its own is the
// learner's; a sidecar or the agent that stops without the harness stopping it is not.
func (s *sandbox) Intact(ctx context.Context) error {
	if err := s.e.Ping(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	ids, started, stopped := maps.Clone(s.ids), maps.Clone(s.started), maps.Clone(s.stopped)
	s.mu.Unlock()
	roles := slices.Collect(maps.Keys(ids))
	slices.Sort(roles)

	var problems []string
	for _, role := range roles {
		res, err := s.e.cli.ContainerInspect(ctx, ids[role], client.ContainerInspectOptions{})
		if isNotFound(err) {
			problems = append(problems, fmt.Sprintf("the %s container was removed", role))
			continue
		}
		if err != nil {
			return fmt.Errorf("inspect %s: %w", role, err)
		}
		st := res.Container.State
		if st == nil {
			continue
		}
		want, ran := started[role]
		switch {
		case ran && st.StartedAt != want:
			problems = append(problems, fmt.Sprintf("the %s container was started again by someone else (at %s; the harness started it at %s)", role, st.StartedAt, want))
		case ran && !stopped[role] && !st.Running && !scenarios.IsApp(scenarios.Service(role)):
			problems = append(problems, fmt.Sprintf("the %s container stopped (exit %d) without the harness stopping it", role, st.ExitCode))
		}
	}
	// The agent's address is the one provision found: nothing but a restart (a problem above)
	// moves it.
	if len(problems) == 0 && !stopped[roleAgent] {
		if err := s.agent.Healthy(ctx); err != nil {
			problems = append(problems, "the agent does not answer: "+err.Error())
		}
	}
	if len(problems) > 0 {
		return errors.New("sandbox " + s.id + ": " + strings.Join(problems, "; "))
	}
	return nil
}

// OOMKilled lists the app replicas the kernel killed for memory since they last started, and
// that are down now.
func (s *sandbox) OOMKilled(ctx context.Context) []scenarios.Service {
	var out []scenarios.Service
	for i := range s.limits.Replicas {
		svc := scenarios.Replica(i + 1)
		id, err := s.containerID(string(svc))
		if err != nil {
			continue
		}
		res, err := s.e.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
		if err != nil || res.Container.State == nil {
			continue
		}
		if st := res.Container.State; st.OOMKilled && st.Running {
			// The kernel's kill may be seen before the exit: give the engine a moment.
			if res, err = s.inspectAfterExit(ctx, id, 2*time.Second); err != nil || res.Container.State == nil {
				continue
			}
		}
		// The engine keeps OOMKilled from the last exit even after a start: only a replica
		// that is down and ended after it last started counts.
		st := res.Container.State
		started, _ := time.Parse(time.RFC3339Nano, st.StartedAt)
		finished, _ := time.Parse(time.RFC3339Nano, st.FinishedAt)
		if st.OOMKilled && !st.Running && !finished.Before(started) {
			out = append(out, svc)
		}
	}
	return out
}

// inspectAfterExit waits up to d for container id to stop running, then inspects it again: the
// engine may note a process's exit (a kernel kill, a crash) a moment after it happened. A
// container still running after d is inspected all the same.
func (s *sandbox) inspectAfterExit(ctx context.Context, id string, d time.Duration) (client.ContainerInspectResult, error) {
	wctx, cancel := context.WithTimeout(ctx, d)
	w := s.e.cli.ContainerWait(wctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	select {
	case <-w.Result:
	case <-w.Error:
	}
	cancel()
	return s.e.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
}
