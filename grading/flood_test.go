package grading_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/gradingtest"
	"github.com/holdfast-ci/holdfast/scenarios"
)

// chargeWithKey sends the provider fake one charge, as a learner's app would.
func chargeWithKey(h *scenarios.Harness, key string) error {
	sb := scenarios.Unwrap(h.Target).(*gradingtest.Sandbox)
	req, _ := http.NewRequest(http.MethodPost, sb.ProviderURL()+"/v1/charges",
		strings.NewReader(`{"amount":100,"currency":"usd","payment_id":"pay_1"}`))
	req.Header.Set("Idempotency-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// TestOverflowIsTheLearnersFailure: an app that sends a 60 KB idempotency key fails the
// scenario that reads the ledger, with what it did, instead of making the grading a grader
// error; so does one whose scenario never reads the ledger but errs for it.
func TestOverflowIsTheLearnersFailure(t *testing.T) {
	t.Parallel()
	e := engine(gradingtest.Script{})
	hugeKey := strings.Repeat("k", 60<<10)
	readsLedger := func(ctx context.Context, h *scenarios.Harness) error {
		if err := chargeWithKey(h, hugeKey); err != nil {
			return err
		}
		if _, err := h.Agent.Ledger(ctx); err != nil {
			return fmt.Errorf("read provider ledger: %w", err)
		}
		return nil
	}
	errsOtherwise := func(ctx context.Context, h *scenarios.Harness) error {
		if err := chargeWithKey(h, hugeKey); err != nil {
			return err
		}
		return errors.New("the scenario could not judge (the ledger did not add up)")
	}
	v := grade(t, e, 0,
		scenario("reads_ledger", scenarios.Public, 40, readsLedger),
		scenario("clean", scenarios.Public, 20, pass),
		scenario("errs", scenarios.Public, 40, errsOtherwise))
	if v.Status != grading.Failed || outcomes(v) != "reads_ledger=failed clean=passed errs=failed" {
		t.Fatalf("got %s (%s); want failed with the two flooding scenarios failed and the clean one passed", v.Status, outcomes(v))
	}
	for _, i := range []int{0, 2} {
		f := v.Scenarios[i].Failure
		if f == nil || !strings.Contains(f.Actual, "Idempotency-Key of 61440 bytes") || !strings.Contains(f.Actual, "at most 255 bytes") {
			t.Errorf("scenario %s: failure %+v; want one naming the 61440-byte key and the bound", v.Scenarios[i].Slug, f)
		}
		if f != nil && !strings.Contains(f.Hint, "Keep idempotency keys and payment ids short (at most 255 bytes)") {
			t.Errorf("scenario %s: hint %q; want it to say how long a key may be", v.Scenarios[i].Slug, f.Hint)
		}
	}
}

// TestDownstreamOverflowHintsAtTheDownstream: an app that floods the downstream service (here
// with a path over its bound) is told to bound its retries, not to shorten idempotency keys it
// never sent, nor that it flooded the payment provider.
func TestDownstreamOverflowHintsAtTheDownstream(t *testing.T) {
	t.Parallel()
	e := engine(gradingtest.Script{})
	longPath := func(ctx context.Context, h *scenarios.Harness) error {
		resp, err := http.Get(scenarios.Unwrap(h.Target).(*gradingtest.Sandbox).DownstreamURL() + "/" + strings.Repeat("p", 4<<10))
		if err != nil {
			return err
		}
		resp.Body.Close()
		_, err = h.Agent.Calls(ctx, 0)
		return err
	}
	v := grade(t, e, 0, scenario("long_path", scenarios.Public, 100, longPath))
	f := v.Scenarios[0].Failure
	if v.Status != grading.Failed || f == nil {
		t.Fatalf("got %s (%s) %+v; want the scenario failed", v.Status, outcomes(v), f)
	}
	if !strings.Contains(f.Actual, "the downstream service a path of 4097 bytes") {
		t.Errorf("actual %q; want it to name the path sent to the downstream", f.Actual)
	}
	if !strings.Contains(f.Hint, "Bound retries") || strings.Contains(f.Hint, "idempotency") || strings.Contains(f.Hint, "provider") {
		t.Errorf("hint %q; want retries bounded, without keys or the provider", f.Hint)
	}
}

// dyingEngine's sandboxes report an agent death, as grading/docker's do when the kernel kills
// the agent.
type dyingEngine struct {
	*gradingtest.Engine
	death grading.AgentDeath
	dead  atomic.Bool // the agent of the last sandbox is dead
	// lateBy hides the death from the first lateBy questions, as an engine that has not yet
	// noted the agent's exit does.
	lateBy atomic.Int32
}

type dyingSandbox struct {
	*gradingtest.Sandbox
	e *dyingEngine
}

// Intact fails once the agent is dead, as it does when a real agent container is gone.
func (s *dyingSandbox) Intact(ctx context.Context) error {
	if s.e.dead.Load() {
		return errors.New("agent container exited")
	}
	return s.Sandbox.Intact(ctx)
}

func (s *dyingSandbox) AgentDeath(context.Context) (grading.AgentDeath, bool) {
	if s.e.dead.Load() && s.e.lateBy.Add(-1) >= 0 {
		return grading.AgentDeath{}, false
	}
	return s.e.death, s.e.dead.Load()
}

func (e *dyingEngine) Provision(ctx context.Context, image string, limits grading.Limits) (grading.Sandbox, error) {
	sb, err := e.Engine.Provision(ctx, image, limits)
	if err != nil {
		return sb, err
	}
	return &dyingSandbox{Sandbox: sb.(*gradingtest.Sandbox), e: e}, nil
}

// kill stops the scripted agent and makes the sandbox report its death; Intact fails from then
// on.
func kill(e *dyingEngine) func(context.Context, *scenarios.Harness) error {
	return func(ctx context.Context, h *scenarios.Harness) error {
		scenarios.Unwrap(h.Target).(*dyingSandbox).StopAgent()
		e.dead.Store(true)
		_, err := h.Agent.Ledger(ctx)
		return err
	}
}

// TestAgentKilledByFloodIsTheLearnersFailure: an agent the kernel killed for its memory while the
// app flooded it fails the grading with what the app sent, instead of a grader error; an agent
// that died otherwise is still Holdfast's failure.
func TestAgentKilledByFloodIsTheLearnersFailure(t *testing.T) {
	t.Parallel()
	death := grading.AgentDeath{OOMKilled: true, MemoryMB: 64, Requests: 44_000, Bytes: 90 << 20}
	e := &dyingEngine{Engine: engine(gradingtest.Script{}), death: death}
	g := &grading.Grader{Engine: e}
	table := []scenarios.Scenario{
		scenario("before", scenarios.Public, 20, pass),
		scenario("flood", scenarios.Public, 40, kill(e)),
		scenario("after", scenarios.Hidden, 40, pass),
	}
	v, err := gradeErr(t, g, grading.Challenge{Slug: "c", Scenarios: table})
	if err != nil {
		t.Fatalf("Grade: %v; want a learner's verdict", err)
	}
	if v.Status != grading.Failed || outcomes(v) != "before=passed flood=failed after=failed" {
		t.Fatalf("got %s (%s); want failed, with the flood's scenario and the ones after it failed", v.Status, outcomes(v))
	}
	want := "killed for using more than its 64 MiB of memory after the app had sent them 44000 requests (90.0 MiB)"
	for _, r := range v.Scenarios[1:] {
		if r.Failure == nil || !strings.Contains(r.Failure.Actual, want) {
			t.Errorf("scenario %s: failure %+v; want %q", r.Slug, r.Failure, want)
		}
	}
	if !strings.Contains(v.Message, want) || !strings.HasSuffix(v.Message, "reuse connections instead of opening one per request.") {
		t.Errorf("verdict message %q; want it to name the flood, and end with what to try", v.Message)
	}

	// An engine slow to note the death: the scenario's error is still the learner's failure.
	for _, late := range []int32{1, 2} {
		e := &dyingEngine{Engine: engine(gradingtest.Script{}), death: death}
		e.lateBy.Store(late)
		table[1] = scenario("flood", scenarios.Public, 40, kill(e))
		v, err := gradeErr(t, &grading.Grader{Engine: e}, grading.Challenge{Slug: "c", Scenarios: table})
		if err != nil || v.Status != grading.Failed || outcomes(v) != "before=passed flood=failed after=failed" || !strings.Contains(v.Message, want) {
			t.Errorf("death noted %d question(s) late: %s (%s) %q, %v; want failed naming the flood", late, v.Status, outcomes(v), v.Message, err)
		}
	}

	// The same death without the kernel's OOM kill is the grader's failure, to be retried.
	e2 := &dyingEngine{Engine: engine(gradingtest.Script{}), death: grading.AgentDeath{MemoryMB: 64}}
	table[1] = scenario("flood", scenarios.Public, 40, kill(e2))
	_, err = gradeErr(t, &grading.Grader{Engine: e2}, grading.Challenge{Slug: "c", Scenarios: table})
	if err == nil || !strings.Contains(err.Error(), "did not survive") {
		t.Fatalf("an agent that died without an OOM kill: got %v; want the grader's error", err)
	}
}
