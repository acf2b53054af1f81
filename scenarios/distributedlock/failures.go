package distributedlock

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/agent"
)

// The store and Redis fail: a run that took the lock and cannot write answers 502 and frees the
// lock; a trigger that cannot reach Redis answers 503 and writes nothing; none waits longer than
// its deadlines allow.

// attempt is one trigger that took the lock (it wrote) while the store fails, or was refused it.
type attempt struct {
	resp   scenarios.Response
	writes []write // the replica's writes after the trigger was sent
}

// runFailing triggers replica until its run takes the lock, that is writes to the store: a lock a
// lease-only app left behind (409, nothing written) is waited out until the given time. The
// store is already set to fail, so each run ends at its first write.
func runFailing(ctx context.Context, h *scenarios.Harness, replica int, until time.Time, timeout time.Duration) (attempt, error) {
	for {
		since, err := h.Agent.LastCall(ctx)
		if err != nil {
			return attempt{}, err
		}
		r := trigger(ctx, h, replica, timeout)
		ws, err := storeWrites(ctx, h, since)
		if err != nil {
			return attempt{}, err
		}
		mine := writesAfter(ws, 0, instance(replica))
		if len(mine) > 0 || r.Status != http.StatusConflict || time.Now().Add(retryBusy).After(until) {
			return attempt{resp: r, writes: mine}, nil
		}
		if err := sleep(ctx, retryBusy); err != nil {
			return attempt{}, err
		}
	}
}

// storeError: the store answers every write with 500. The run must stop there, answer 502 with
// its token, and free the lock: the other replica's trigger right after takes it.
func storeError(ctx context.Context, h *scenarios.Harness) error {
	const failure = http.StatusInternalServerError
	if err := h.Agent.Downstream(ctx, agent.DownstreamBehaviour{PathPrefix: agent.FencedPrefix, Status: failure}); err != nil {
		return err
	}
	first, err := runFailing(ctx, h, 1, time.Now().Add(firstFree), runTimeout)
	if err != nil {
		return err
	}
	if err := expectFailedWrite(first, 1, fmt.Sprintf("the store answered %d", failure)); err != nil {
		return err
	}
	w := first.writes[0]
	if err := expectFailed(first.resp, http.StatusBadGateway, w.Token, fmt.Sprintf("a run whose write the store answered with %d", failure),
		storeFailedHint(first.resp, fmt.Sprintf("The store answered %d, not 409: the run did not lose its lock, the store failed. Stop the run, release the lock and answer 502 {\"ran\": false, \"token\": n}; 409 means the lock was busy or lost.", failure))); err != nil {
		return err
	}
	return lockFreedAfter(ctx, h, 2, "502")
}

// storeHang: the store holds every write without an answer. The run must give its write up
// after 1 s, answer 502 with its token within hangAnswer of the trigger, and free the lock.
func storeHang(ctx context.Context, h *scenarios.Harness) error {
	if err := h.Agent.Downstream(ctx, agent.DownstreamBehaviour{PathPrefix: agent.FencedPrefix, Hang: true}); err != nil {
		return err
	}
	since, err := h.Agent.LastCall(ctx)
	if err != nil {
		return err
	}
	// A write the app never gave up would hang in the store for a minute, and its run go on
	// under a later scenario: the replica that sent it is restarted here, only then.
	defer restartIfHung(ctx, h, 1, since)
	first, err := runFailing(ctx, h, 1, time.Now().Add(firstFree), hangAnswer)
	if err != nil {
		return err
	}
	if err := expectFailedWrite(first, 1, "the store held it without an answer"); err != nil {
		return err
	}
	w := first.writes[0]
	held := "was still waiting for the store's answer"
	if !w.End.IsZero() {
		held = fmt.Sprintf("was given up after %s", w.End.Sub(w.Start).Round(10*time.Millisecond))
	}
	r := first.resp
	if r.Err != nil && r.TimedOut() {
		return scenarios.Failf(fmt.Sprintf("502 within %s of the trigger when the store does not answer step 1 (a %s deadline per write)", hangAnswer, StoreDeadline),
			"Give every request to the store a deadline of 1 second (an HTTP client timeout, or a context with one): a write without an answer by then ends the run with 502, its lock released.",
			"no answer within %s; the store received step 1 under token %d at once, and the app's write %s", hangAnswer, w.Token, held)
	}
	if err := expectFailed(r, http.StatusBadGateway, w.Token, "a run whose write got no answer within 1 s",
		storeFailedHint(r, "A write without an answer within 1 s means the store failed: stop the run, release the lock and answer 502 {\"ran\": false, \"token\": n}.")); err != nil {
		return err
	}
	// The store answers at once from now on: whether the lock is free shows without waiting.
	if err := h.Agent.Downstream(ctx, agent.DownstreamBehaviour{PathPrefix: agent.FencedPrefix, Status: http.StatusInternalServerError}); err != nil {
		return err
	}
	return lockFreedAfter(ctx, h, 2, "502")
}

// restartIfHung restarts replica when one of its writes since seq is still waiting for the
// store's answer a moment after the scenario ended: a correct app gave it up after 1 s, and
// costs no restart.
func restartIfHung(ctx context.Context, h *scenarios.Harness, replica, since int) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 60*time.Second)
	defer cancel()
	settled := h.WaitFor(cctx, StoreDeadline, pollEvery, func(ctx context.Context) bool {
		ws, err := storeWrites(ctx, h, since)
		if err != nil {
			return false
		}
		for _, w := range ws {
			if w.Instance == instance(replica) && w.End.IsZero() {
				return false
			}
		}
		return true
	})
	if settled {
		return
	}
	svc := scenarios.Replica(replica)
	_ = h.Target.Kill(cctx, svc, "SIGKILL")
	_ = h.Target.Start(cctx, svc)
}

// expectFailedWrite checks the run took the lock (it wrote) while the store failed.
func expectFailedWrite(a attempt, replica int, how string) error {
	if len(a.writes) > 0 {
		return nil
	}
	return scenarios.Failf(fmt.Sprintf("a trigger on replica %d with the lock free to take it and write step 1 (%s)", replica, how),
		hintFor(a.resp), "%s, and nothing written to the store by %s", a.resp.Describe(), instance(replica))
}

// storeFailedHint picks the hint for a run whose store write failed, from its answer.
func storeFailedHint(r scenarios.Response, wrongStatus string) string {
	switch {
	case r.Err != nil && r.TimedOut():
		return "The trigger hung: give every request to the store a deadline of 1 second, and answer as soon as a write failed."
	case r.Err != nil || r.Status == http.StatusOK || r.Status == http.StatusBadGateway:
		return hintFor(r) + ` A run that did not finish answers {"ran": false, "token": n}.`
	}
	return wrongStatus
}

// lockFreedAfter triggers replica right after the other replica's failed run answered: the lock
// must be free, so this run takes it and writes (its answer is not judged: the store still fails).
func lockFreedAfter(ctx context.Context, h *scenarios.Harness, replica int, status string) error {
	since, err := h.Agent.LastCall(ctx)
	if err != nil {
		return err
	}
	r := trigger(ctx, h, replica, hangAnswer)
	ws, err := storeWrites(ctx, h, since)
	if err != nil {
		return err
	}
	if _, ok := firstBy(ws, instance(replica)); ok {
		return nil
	}
	return scenarios.Failf(fmt.Sprintf("a trigger on replica %d right after the failed run answered %s to take the lock", replica, status),
		"Release the lock on every path, also when the store failed: compare-and-delete before answering, whatever the answer.",
		"%s, and nothing written to the store by %s", r.Describe(), instance(replica))
}

// redisDown takes Redis away twice — refusing connections, then accepting them and never
// answering — and triggers both replicas at once each time: every trigger answers 503
// {"ran": false} within the contract's 5 s, and nothing is written to the store.
func redisDown(ctx context.Context, h *scenarios.Harness) error {
	since, err := h.Agent.LastCall(ctx)
	if err != nil {
		return err
	}
	phases := []struct {
		faults []agent.Fault
		while  string
	}{
		{[]agent.Fault{{Kind: agent.FaultDown}}, "Redis refuses connections"},
		{[]agent.Fault{{Kind: agent.FaultUp}, {Kind: agent.FaultTimeout}}, "Redis accepts connections and never answers"},
	}
	for _, p := range phases {
		for _, f := range p.faults {
			if err := h.Agent.Fault(ctx, "redis", f); err != nil {
				return fmt.Errorf("redis fault %s: %w", f.Kind, err)
			}
		}
		rs := h.Concurrent(ctx, h.Replicas(), func(int) scenarios.Request {
			return scenarios.Request{Method: http.MethodPost, Path: RunPath, Timeout: AnswerWithin}
		})
		for i, r := range rs {
			what := fmt.Sprintf("a trigger on replica %d while %s", i%h.Replicas()+1, p.while)
			if err := expectUnavailable(r, what); err != nil {
				return err
			}
		}
	}
	ws, err := storeWrites(ctx, h, since)
	if err != nil {
		return err
	}
	if len(ws) > 0 {
		return scenarios.Failf("nothing written to the store while Redis is unreachable",
			"Without Redis there is no lock and no token: answer 503 and write nothing.", "%s", describeWrites(ws, 5))
	}
	return nil
}

// expectUnavailable checks a 503 {"ran": false} within AnswerWithin.
func expectUnavailable(r scenarios.Response, what string) error {
	expected := fmt.Sprintf(`503 {"ran": false} within %s for %s`, AnswerWithin, what)
	switch {
	case r.Err != nil && r.TimedOut():
		return scenarios.Failf(expected,
			"Give every Redis call a deadline of its own (about 1 s: a context timeout, or the client's dial, read and write timeouts), and answer 503 when it passes; a client's defaults can retry for many seconds.",
			"%s", r.Describe())
	case r.Err != nil:
		return scenarios.Failf(expected, hintFor(r), "%s", r.Describe())
	case r.Status == http.StatusConflict:
		return scenarios.Failf(expected,
			"409 says another run holds the lock, and without Redis nobody can tell: an error from Redis is not a busy lock. Answer 503.",
			"%s", r.DescribeTook())
	case r.Status != http.StatusServiceUnavailable:
		return scenarios.Failf(expected, "Answer 503 when Redis cannot be reached: the run cannot take the lock.",
			"%s", r.DescribeTook())
	}
	var a answer
	if err := scenarios.Decode(r, &a, "the answer to "+what); err != nil {
		return err
	}
	if a.Ran == nil || *a.Ran {
		return scenarios.Failf(expected, `A trigger that could not reach Redis answers {"ran": false}.`, "%s", r.Describe())
	}
	if r.Duration > AnswerWithin {
		return scenarios.Failf(expected, "Give every Redis call a deadline of its own (about 1 s) and answer 503 when it passes.",
			"%s", r.DescribeTook())
	}
	return nil
}
