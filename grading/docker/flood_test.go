package docker_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/docker"
	"github.com/holdfast-ci/holdfast/grading/docker/dockertest"
	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/agent"
)

// peakSys samples the runner's (this process's) memory from the Go runtime until stop is
// called, and returns the peak.
func peakSys() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.Sys > peak.Load() {
				peak.Store(m.Sys)
			}
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return func() uint64 { close(done); wg.Wait(); return peak.Load() }
}

// TestAppFloodingTheAgentFailsTheApp grades a submission that floods the downstream fake with
// large requests until the agent, on a small memory limit of its own, is killed by the kernel.
// The verdict is the learner's failure, naming the flood, not a grader error; the runner's
// memory stays bounded; nothing is left behind.
func TestAppFloodingTheAgentFailsTheApp(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Docker; skipped in -short mode")
	}
	dockertest.Engine(t) // skips or fails with the reason when there is no engine
	ns := dockertest.Namespace()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const agentMB = 32
	eng, err := docker.New(ctx, docker.Config{Namespace: ns, AgentMemoryMB: agentMB}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()

	var flood scenarios.Response
	table := []scenarios.Scenario{{
		Slug: "flood", Title: "the app floods the downstream", Weight: 50, Visibility: scenarios.Public, Timeout: 2 * time.Minute,
		Run: func(ctx context.Context, h *scenarios.Harness) error {
			flood = h.Do(ctx, scenarios.Request{Path: "/flood?n=20000&c=32", Timeout: 90 * time.Second})
			_, err := h.Agent.Calls(ctx, 0)
			return err // the agent's death, or nil if it survived (then the test fails below)
		},
	}, {
		Slug: "after", Title: "a scenario after the flood", Weight: 50, Visibility: scenarios.Public,
		Run: func(ctx context.Context, h *scenarios.Harness) error { return nil },
	}}
	stop := peakSys()
	g := &grading.Grader{Engine: eng, HardCap: 4 * time.Minute, Log: log}
	v, err := g.Grade(ctx, grading.Challenge{Slug: "flood", Scenarios: table}, "testdata/flood", nil)
	peak := stop()
	t.Logf("app's /flood answer: %s", flood.Describe())
	t.Logf("verdict %s (%s): %s; runner peak Sys %d MiB", v.Status, v.Message, outcomesOf(v), peak>>20)
	if err != nil {
		t.Fatalf("Grade: %v; want a learner's verdict", err)
	}
	if v.Status != grading.Failed {
		t.Fatalf("status %s; want failed", v.Status)
	}
	want := "killed for using more than its 32 MiB of memory"
	for _, r := range v.Scenarios {
		if r.Outcome != grading.OutcomeFailed || r.Failure == nil || !strings.Contains(r.Failure.Actual, want) {
			t.Errorf("scenario %s: %s %+v; want failed with %q", r.Slug, r.Outcome, r.Failure, want)
		}
	}
	if !strings.Contains(v.Message, want) || !strings.Contains(v.Message, "requests") {
		t.Errorf("verdict message %q; want it to name the flood and the requests sent", v.Message)
	}
	if peak > 256<<20 {
		t.Errorf("the runner's memory peaked at %d MiB; want it bounded (< 256 MiB)", peak>>20)
	}
	if left := leftovers(t, ns); left != "" {
		t.Errorf("left after the grading: %s", left)
	}
}

// TestRetryStormBeyondTheBoundFailsTheApp: an app that sends the downstream more requests than
// the fakes keep (a retry storm) fails the scenario that reads them, with how many it sent and
// the bound, while the agent (at its default memory limit) survives.
func TestRetryStormBeyondTheBoundFailsTheApp(t *testing.T) {
	eng := dockertest.Engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const n = agent.MaxCalls + 100
	var flood scenarios.Response
	var agentMem string
	table := []scenarios.Scenario{{
		Slug: "storm", Title: "the app retries without a limit", Weight: 50, Visibility: scenarios.Public, Timeout: 3 * time.Minute,
		Run: func(ctx context.Context, h *scenarios.Harness) error {
			flood = h.Do(ctx, scenarios.Request{Path: fmt.Sprintf("/flood?n=%d&c=32&pad=64", n), Timeout: 150 * time.Second})
			agentMem = agentMemory(eng.Namespace())
			_, err := h.Agent.Calls(ctx, 0)
			return err
		},
	}, {
		Slug: "after", Title: "a scenario after the storm", Weight: 50, Visibility: scenarios.Public,
		Run: func(ctx context.Context, h *scenarios.Harness) error {
			_, err := h.Agent.Calls(ctx, 0) // the record is full but whole: it judges again
			return err
		},
	}}
	stop := peakSys()
	g := &grading.Grader{Engine: eng, HardCap: 4 * time.Minute}
	v, err := g.Grade(ctx, grading.Challenge{Slug: "storm", Scenarios: table}, "testdata/flood", nil)
	peak := stop()
	t.Logf("app's /flood answer: %s; agent memory after it: %s", flood.Describe(), agentMem)
	t.Logf("verdict %s: %s; runner peak Sys %d MiB", v.Status, outcomesOf(v), peak>>20)
	if err != nil {
		t.Fatalf("Grade: %v; want a learner's verdict", err)
	}
	if v.Status != grading.Failed || outcomesOf(v) != "storm=failed after=passed" {
		t.Fatalf("got %s (%s); want failed, with the storm's scenario failed and the next one judging again", v.Status, outcomesOf(v))
	}
	want := fmt.Sprintf("sent the downstream service %d requests; the brief's bound for one grading is %d", n, agent.MaxCalls)
	if f := v.Scenarios[0].Failure; f == nil || !strings.Contains(f.Actual, want) {
		t.Errorf("the storm's failure: %+v; want %q", f, want)
	}
	if peak > 256<<20 {
		t.Errorf("the runner's memory peaked at %d MiB; want it bounded (< 256 MiB)", peak>>20)
	}
}

// agentMemory is what docker stats says of the namespace's agent container.
func agentMemory(ns string) string {
	id, err := agentContainer(ns)
	if err != nil {
		return fmt.Sprintf("unknown (%v)", err)
	}
	out, err := exec.Command("docker", "stats", "--no-stream", "--format", "{{.MemUsage}}", id).Output()
	if err != nil {
		return fmt.Sprintf("unknown (%v)", err)
	}
	return strings.TrimSpace(string(out))
}

// agentContainer is the id of namespace ns's one agent container.
func agentContainer(ns string) (string, error) {
	out, err := exec.Command("docker", "ps", "-q", "--filter", "label="+docker.LabelNamespace+"="+ns,
		"--filter", "label="+docker.LabelRole+"=agent").Output()
	id := strings.TrimSpace(string(out))
	if err == nil && (id == "" || strings.Contains(id, "\n")) {
		err = fmt.Errorf("want one agent container in namespace %s, found %q", ns, id)
	}
	return id, err
}

func outcomesOf(v grading.Verdict) string {
	var parts []string
	for _, r := range v.Scenarios {
		parts = append(parts, r.Slug+"="+string(r.Outcome))
	}
	return strings.Join(parts, " ")
}

// leftovers lists the containers and networks of namespace ns that still exist.
func leftovers(t *testing.T, ns string) string {
	t.Helper()
	filter := "label=" + docker.LabelNamespace + "=" + ns
	var out []string
	for _, args := range [][]string{{"ps", "-a", "-q", "--filter", filter}, {"network", "ls", "-q", "--filter", filter}} {
		b, err := exec.Command("docker", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("docker %v: %v: %s", args, err, b)
		}
		if s := strings.TrimSpace(string(b)); s != "" {
			out = append(out, args[0]+": "+s)
		}
	}
	return strings.Join(out, "; ")
}

// TestAgentDeathAnswersQuicklyForALiveAgent: the grader asks whether the agent died after every
// scenario that did not pass; for an agent that is alive the answer must not wait out the
// engine's grace for an exit (3 s each, once per failed scenario).
func TestAgentDeathAnswersQuicklyForALiveAgent(t *testing.T) {
	eng := dockertest.Engine(t)
	ctx, sb := startedSandbox(t, eng, "testdata/hostile")
	a, ok := sb.(interface {
		AgentDeath(context.Context) (grading.AgentDeath, bool)
	})
	if !ok {
		t.Fatalf("%T does not report agent deaths", sb)
	}
	start := time.Now()
	d, dead := a.AgentDeath(ctx)
	took := time.Since(start)
	t.Logf("AgentDeath on a live agent: %v %+v in %s", dead, d, took)
	if dead {
		t.Fatalf("a live agent reported dead: %+v", d)
	}
	if took > 2*time.Second {
		t.Errorf("AgentDeath on a live agent took %s; want an answer well within the 3 s wait for an exit", took)
	}
}
