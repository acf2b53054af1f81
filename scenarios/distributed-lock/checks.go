package distributedlock

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/agent"
)

// firstFree is how long a scenario waits for a lock left by the one before it: a correct app has
// none, a lease-only one frees it within the lease.
const firstFree = Lease + time.Second

func singleRun(ctx context.Context, h *scenarios.Harness) error {
	since, err := h.Agent.LastCall(ctx)
	if err != nil {
		return err
	}
	first, err := begin(ctx, h, 1, time.Now().Add(firstFree), runTimeout, "a trigger on replica 1")
	if err != nil {
		return err
	}
	// While it runs, the other replica finds the lock taken.
	busy := trigger(ctx, h, 2, runTimeout)
	if err := expectNotRan(busy, "a trigger on replica 2 while replica 1 runs the report",
		"Keep the lock in Redis, shared by every replica (SET key value NX PX 2000): a lock inside one process does not stop the other replica."); err != nil {
		return err
	}
	token, err := expectRan(first.wait(), "a trigger on replica 1 with the lock free")
	if err != nil {
		return err
	}
	ws, err := storeWrites(ctx, h, since)
	if err != nil {
		return err
	}
	if err := checkHistory(ws); err != nil {
		return err
	}
	if err := expectComplete(ws, instance(1), token, "the run on replica 1"); err != nil {
		return err
	}
	if others := othersThan(ws, token); len(others) > 0 {
		return scenarios.Failf(fmt.Sprintf("only the run under token %d to write while it held the lock", token),
			"Write to the store only after you acquired the lock, and only with the token you got with it.",
			"%s", describeWrites(others, 5))
	}

	// Right after the answer the lock must be free again, for the other replica too.
	since2, err := h.Agent.LastCall(ctx)
	if err != nil {
		return err
	}
	next := trigger(ctx, h, 2, runTimeout)
	if next.Status == http.StatusConflict {
		return scenarios.Failf(`200 {"ran": true, …} for a trigger on replica 2 right after replica 1's run answered`,
			"Release the lock when the run ends, before answering (compare-and-delete: only if it still holds your value). Waiting for the lease to expire idles every worker for 2 s.",
			"%s", next.Describe())
	}
	token2, err := expectRan(next, "a trigger on replica 2 right after replica 1's run")
	if err != nil {
		return err
	}
	if token2 <= token {
		return scenarios.Failf(fmt.Sprintf("the second run's fencing token to be greater than the first's (%d)", token),
			"Take a new token from a counter that only goes up (Redis INCR) each time the lock is acquired.",
			"token %d", token2)
	}
	ws2, err := storeWrites(ctx, h, since2)
	if err != nil {
		return err
	}
	if err := checkHistory(append(ws, ws2...)); err != nil {
		return err
	}
	return expectComplete(ws2, instance(2), token2, "the run on replica 2")
}

// concurrentRounds and triggersPerRound: every round sends triggers to both replicas, two each,
// released together.
const (
	concurrentRounds = 3
	triggersPerRound = 4
)

func concurrentTriggers(ctx context.Context, h *scenarios.Harness) error {
	var lastToken int64
	var all []write
	for round := 1; round <= concurrentRounds; round++ {
		since, err := h.Agent.LastCall(ctx)
		if err != nil {
			return err
		}
		var rs []scenarios.Response
		// Round 1 waits out a lock the previous scenario may have left to expire.
		for deadline := time.Now().Add(firstFree); ; {
			rs = h.Concurrent(ctx, triggersPerRound, func(int) scenarios.Request {
				return scenarios.Request{Method: http.MethodPost, Path: RunPath, Timeout: runTimeout}
			})
			if round > 1 || !allBusy(rs) || time.Now().Add(retryBusy).After(deadline) {
				break
			}
			if err := sleep(ctx, retryBusy); err != nil {
				return err
			}
		}
		var winners []int
		var token int64
		var answers []string
		for i, r := range rs {
			replica := i%h.Replicas() + 1
			answers = append(answers, fmt.Sprintf("replica %d: %s", replica, short(r)))
			switch r.Status {
			case http.StatusOK:
				t, err := expectRan(r, "the trigger that won the lock")
				if err != nil {
					return err
				}
				winners = append(winners, replica)
				token = t
			case http.StatusConflict:
				if err := expectNotRan(r, "a trigger that lost the lock", `A trigger that finds the lock taken answers 409 {"ran": false}.`); err != nil {
					return err
				}
			default:
				return scenarios.Failf(fmt.Sprintf("each of %d simultaneous triggers to answer 200 (it ran) or 409 (the lock was busy)", triggersPerRound),
					hintFor(r), "%s (round %d: %s)", r.Describe(), round, strings.Join(answers, "; "))
			}
		}
		if len(winners) != 1 {
			return scenarios.Failf(fmt.Sprintf("exactly one of %d simultaneous triggers (two per replica) to run the report, the others 409", triggersPerRound),
				"Take the lock with one atomic Redis command shared by every replica (SET key value NX PX 2000) and answer 409 at once when it is taken, without waiting for it.",
				"%d ran in round %d of %d: %s", len(winners), round, concurrentRounds, strings.Join(answers, "; "))
		}
		ws, err := storeWrites(ctx, h, since)
		if err != nil {
			return err
		}
		all = append(all, ws...)
		if err := checkHistory(all); err != nil {
			return err
		}
		if others := othersThan(ws, token); len(others) > 0 {
			return scenarios.Failf(fmt.Sprintf("only the winning run (token %d, %s) to write to the store in round %d", token, instance(winners[0]), round),
				"Write to the store only after your replica acquired the lock in Redis: a lock inside one process does not stop the other replica.",
				"%s", describeWrites(others, 5))
		}
		if err := expectComplete(ws, instance(winners[0]), token, fmt.Sprintf("the winning run of round %d", round)); err != nil {
			return err
		}
		if token <= lastToken {
			return scenarios.Failf(fmt.Sprintf("round %d's fencing token to be greater than round %d's (%d)", round, round-1, lastToken),
				"Take a new token from a counter that only goes up (Redis INCR) each time the lock is acquired.",
				"token %d", token)
		}
		lastToken = token
	}
	return nil
}

func allBusy(rs []scenarios.Response) bool {
	for _, r := range rs {
		if r.Status != http.StatusConflict {
			return false
		}
	}
	return true
}

func short(r scenarios.Response) string {
	if r.Err != nil {
		return r.Describe()
	}
	return fmt.Sprint(r.Status)
}

// refusedWriteStops makes the store refuse every write while a run is under way, as it would
// if another worker with a newer token had written: the run must stop at once.
func refusedWriteStops(ctx context.Context, h *scenarios.Harness) error {
	since, err := h.Agent.LastCall(ctx)
	if err != nil {
		return err
	}
	run, err := begin(ctx, h, 2, time.Now().Add(firstFree), runTimeout, "a trigger on replica 2")
	if err != nil {
		return err
	}
	refuse := agent.DownstreamBehaviour{PathPrefix: agent.FencedPrefix, Status: http.StatusConflict}
	if err := h.Agent.Downstream(ctx, refuse); err != nil {
		return err
	}
	r := run.wait()
	if err := h.Agent.Downstream(ctx, agent.DownstreamBehaviour{PathPrefix: agent.FencedPrefix}); err != nil {
		return err
	}
	ws, err := storeWrites(ctx, h, since)
	if err != nil {
		return err
	}
	if err := checkHistory(ws); err != nil {
		return err
	}
	refused := false
	for _, w := range ws {
		refused = refused || w.refused()
	}
	if !refused {
		// The run ended before the store was told to refuse: nothing was tested.
		return fmt.Errorf("the run finished before the store started refusing (%s)", describeWrites(ws, Steps))
	}
	return expectNotRan(r, "a run whose write the store refused",
		`A 409 from the store means the run lost the lock: stop, and answer 409 {"ran": false, "token": n}.`)
}

// pausedHolder freezes the holder past its lease, lets the other replica take over, then thaws
// the first: its next write must be refused and stop it.
func pausedHolder(ctx context.Context, h *scenarios.Harness) error {
	since, err := h.Agent.LastCall(ctx)
	if err != nil {
		return err
	}
	holder, err := begin(ctx, h, 1, time.Now().Add(firstFree), 15*time.Second, "a trigger on replica 1")
	if err != nil {
		return err
	}
	if err := h.Target.Pause(ctx, scenarios.Replica(1)); err != nil {
		return fmt.Errorf("pause replica 1: %w", err)
	}
	defer settle(ctx, h, holder)

	taker, err := takeOver(ctx, h, holder, 2, "a trigger on replica 2 while replica 1 is frozen")
	if err != nil {
		return err
	}
	token, err := expectRan(taker.wait(), "the run that took the lock over from the frozen replica 1")
	if err != nil {
		return err
	}
	if err := h.Target.Unpause(ctx, scenarios.Replica(1)); err != nil {
		return fmt.Errorf("unpause replica 1: %w", err)
	}
	late := holder.wait()

	ws, err := storeWrites(ctx, h, since)
	if err != nil {
		return err
	}
	if err := checkHistory(ws); err != nil {
		return err
	}
	if err := expectComplete(ws, instance(2), token, "the run that took over on replica 2"); err != nil {
		return err
	}
	if after := writesAfter(ws, taker.first.Seq, instance(1)); len(acceptedOf(after)) > 0 {
		return scenarios.Failf("the store to refuse replica 1's writes once replica 2 took over with a newer token",
			"Take a new, greater fencing token with every acquisition (INCR in the same atomic step as SET NX PX) and send it with every write: the store refuses tokens lower than the highest it has seen.",
			"%s", describeWrites(after, 5))
	}
	return expectNotRan(late, "replica 1's run, frozen past its lease and replaced",
		`A holder woken after its lease ran out finds its next write refused: stop there and answer 409 {"ran": false, "token": n}.`)
}

// takeOver has replica trigger runs until one gets the lock the frozen or killed holder had: not
// before that lock's lease can have ended, and at most takeoverSlack after it must have.
func takeOver(ctx context.Context, h *scenarios.Harness, holder started, replica int, what string) (started, error) {
	taker, err := begin(ctx, h, replica, holder.seen.Add(Lease+takeoverSlack), runTimeout, what)
	if err != nil {
		return started{}, err
	}
	if early := holder.sent.Add(Lease).Sub(taker.seen); early > 0 {
		return started{}, scenarios.Failf(fmt.Sprintf("replica %d to get the lock only once replica %d's %s lease ran out", replica, holder.replica, Lease),
			"Keep the lock in Redis, shared by every replica, with a lease (SET key value NX PX 2000); a lock inside one process does not stop the other replica.",
			"replica %d was writing %s after replica %d took the lock", replica, taker.seen.Sub(holder.sent).Round(10*time.Millisecond), holder.replica)
	}
	return taker, nil
}

func writesAfter(ws []write, seq int, inst string) []write {
	var out []write
	for _, w := range ws {
		if w.Seq > seq && w.Instance == inst {
			out = append(out, w)
		}
	}
	return out
}

func acceptedOf(ws []write) []write {
	var out []write
	for _, w := range ws {
		if w.Accepted {
			out = append(out, w)
		}
	}
	return out
}

// settle thaws a frozen holder and waits for its answer, also when the scenario stops early: its
// run then ends in this scenario, whatever it leaves in Redis, rather than under the next one.
func settle(ctx context.Context, h *scenarios.Harness, holder started) {
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_ = h.Target.Unpause(uctx, scenarios.Replica(holder.replica))
	_ = holder.wait()
}

// releaseOnlyByOwner: replica 1 is frozen past its lease and replica 2 takes over; replica 1
// thaws, is refused, and releases. Meanwhile replica 1 is triggered again and again while
// replica 2 runs: its lock must hold, so replica 2 finishes undisturbed.
func releaseOnlyByOwner(ctx context.Context, h *scenarios.Harness) error {
	since, err := h.Agent.LastCall(ctx)
	if err != nil {
		return err
	}
	holder, err := begin(ctx, h, 1, time.Now().Add(firstFree), 15*time.Second, "a trigger on replica 1")
	if err != nil {
		return err
	}
	if err := h.Target.Pause(ctx, scenarios.Replica(1)); err != nil {
		return fmt.Errorf("pause replica 1: %w", err)
	}
	defer settle(ctx, h, holder)
	// Replica 1's lease has surely run out before replica 2 is asked.
	if err := sleepUntil(ctx, holder.seen.Add(Lease+200*time.Millisecond)); err != nil {
		return err
	}
	taker, err := takeOver(ctx, h, holder, 2, "a trigger on replica 2 after replica 1's lease ran out")
	if err != nil {
		return err
	}
	if err := h.Target.Unpause(ctx, scenarios.Replica(1)); err != nil {
		return fmt.Errorf("unpause replica 1: %w", err)
	}
	// Replica 1 wakes, finds its write refused and releases. Until replica 2 answers, every
	// trigger on replica 1 must find the lock taken.
	var again []scenarios.Response
	for end := time.Now().Add(runTimeout); !taker.finished() && time.Now().Before(end); {
		r := trigger(ctx, h, 1, runTimeout)
		again = append(again, r)
		if r.Status != http.StatusConflict {
			break
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	takerAnswer := taker.wait()
	late := holder.wait()

	ws, err := storeWrites(ctx, h, since)
	if err != nil {
		return err
	}
	if err := checkHistory(ws); err != nil {
		return err
	}
	token := taker.first.Token
	mine := runWrites(ws, token)
	for _, w := range mine {
		if w.refused() {
			var intruder []write
			for _, o := range ws {
				if o.Seq > taker.first.Seq && o.Token > token && o.Accepted {
					intruder = append(intruder, o)
				}
			}
			return scenarios.Failf(fmt.Sprintf("replica 2's run (token %d) to finish undisturbed: it took the lock after replica 1's lease ran out and held a live lease of its own", token),
				"A new run started while replica 2 held a live lease. Either a worker that no longer owned the lock deleted it (release with compare-and-delete: a Lua script that DELs only if the key still holds your value), or the lock is not one key in Redis shared by every replica.",
				"replica 2's step %d was refused; meanwhile: %s", w.Step, describeWrites(intruder, 3))
		}
	}
	if err := expectComplete(ws, instance(2), token, "replica 2's run"); err != nil {
		return err
	}
	if _, err := expectRan(takerAnswer, "replica 2's run"); err != nil {
		return err
	}
	for _, r := range again {
		if r.Status == http.StatusOK && taker.finished() {
			continue // it got the lock after replica 2 released it: fine
		}
		if r.Status != http.StatusConflict && r.Status != http.StatusOK {
			return scenarios.Failf("409 for triggers on replica 1 while replica 2 holds the lock", hintFor(r), "%s", r.Describe())
		}
	}
	return expectNotRan(late, "replica 1's run, frozen past its lease and replaced",
		`A holder woken after its lease ran out finds its next write refused: stop there and answer 409 {"ran": false, "token": n}.`)
}

// killedHolder kills the holder mid-run: the other replica must get the lock once the lease
// ends, with a new token.
func killedHolder(ctx context.Context, h *scenarios.Harness) error {
	since, err := h.Agent.LastCall(ctx)
	if err != nil {
		return err
	}
	holder, err := begin(ctx, h, 1, time.Now().Add(firstFree), runTimeout, "a trigger on replica 1")
	if err != nil {
		return err
	}
	if err := h.Target.Kill(ctx, scenarios.Replica(1), "SIGKILL"); err != nil {
		return fmt.Errorf("kill replica 1: %w", err)
	}
	taker, err := takeOver(ctx, h, holder, 2, "a trigger on replica 2 after replica 1 was killed")
	if err != nil {
		return err
	}
	token, err := expectRan(taker.wait(), "the run that took the lock over from the killed replica 1")
	if err != nil {
		return err
	}
	_ = holder.wait() // no answer: the process is gone
	ws, err := storeWrites(ctx, h, since)
	if err != nil {
		return err
	}
	if err := checkHistory(ws); err != nil {
		return err
	}
	if token <= holder.first.Token {
		return scenarios.Failf(fmt.Sprintf("the new holder's token to be greater than the killed holder's (%d)", holder.first.Token),
			"Take a new token from a counter that only goes up (Redis INCR) each time the lock is acquired, not when it is released: a killed holder never releases.",
			"token %d", token)
	}
	return expectComplete(ws, instance(2), token, "the run that took over on replica 2")
}
