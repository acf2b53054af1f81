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
	busySince, err := h.Agent.LastCall(ctx)
	if err != nil {
		return err
	}
	busy := trigger(ctx, h, 2, runTimeout)
	if err := expectBusy(ctx, h, busy, 2, busySince, first, "a trigger on replica 2 while replica 1 runs the report"); err != nil {
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
		return scenarios.Failf(fmt.Sprintf("only the run under token %d to write while it held the lock", token), hintOneLock,
			"%s", describeWrites(others, 5))
	}

	// Right after the answer the lock must be free again, for the other replica too.
	since2, err := h.Agent.LastCall(ctx)
	if err != nil {
		return err
	}
	next := trigger(ctx, h, 2, runTimeout)
	token2, err := ranOrExplain(ctx, h, next, instance(2), since2, "a trigger on replica 2 right after replica 1's run answered",
		"Release the lock when the run ends, before answering (compare-and-delete: only if it still holds your value). Waiting for the lease to expire idles every worker for 2 s.")
	if err != nil {
		return err
	}
	ws2, err := storeWrites(ctx, h, since2)
	if err != nil {
		return err
	}
	if token2 <= token {
		if w, ok := firstBy(ws2, instance(2)); ok && w.Token == token2 {
			return explainTokenOrder(ws[len(ws)-1], w)
		}
		return scenarios.Failf(fmt.Sprintf("the second run's fencing token to be greater than the first's (%d)", token),
			hintTokensAcrossReplicas, "token %d in the answer", token2)
	}
	if err := checkHistory(append(ws, ws2...)); err != nil {
		return err
	}
	return expectComplete(ws2, instance(2), token2, "the run on replica 2")
}

// expectBusy judges a trigger sent while holder runs: 409 {"ran": false}, nothing written. Any
// other outcome is told from the store's record: the trigger's run wrote beside the holder's.
func expectBusy(ctx context.Context, h *scenarios.Harness, r scenarios.Response, replica, since int, holder started, what string) error {
	ws, err := storeWrites(ctx, h, since)
	if err != nil {
		return err
	}
	if mine := writesAfter(ws, 0, instance(replica)); len(mine) > 0 {
		return scenarios.Failf(fmt.Sprintf(`409 {"ran": false} for %s, and nothing written`, what), hintOneLock,
			"%s; it wrote while replica %d's run under token %d was under way: %s", r.Describe(), holder.replica, holder.first.Token, describeWrites(mine, 3))
	}
	return expectNotRan(r, what, hintOneLock)
}

// concurrentRounds and triggersPerRound: every round sends triggers to both replicas, two each,
// released together.
const (
	concurrentRounds = 3
	triggersPerRound = 4
)

func concurrentTriggers(ctx context.Context, h *scenarios.Harness) error {
	var lastToken int64
	var last write // the last round's winner's first write
	var all []write
	for round := 1; round <= concurrentRounds; round++ {
		var rs []scenarios.Response
		var ws []write
		// Round 1 waits out a lock the previous scenario may have left to expire: triggers that
		// all answer 409 and write nothing are sent again. Each attempt is judged on its own writes.
		for deadline := time.Now().Add(firstFree); ; {
			since, err := h.Agent.LastCall(ctx)
			if err != nil {
				return err
			}
			rs = h.Concurrent(ctx, triggersPerRound, func(int) scenarios.Request {
				return scenarios.Request{Method: http.MethodPost, Path: RunPath, Timeout: runTimeout}
			})
			if ws, err = storeWrites(ctx, h, since); err != nil {
				return err
			}
			if round > 1 || !allBusy(rs) || len(ws) > 0 || time.Now().Add(retryBusy).After(deadline) {
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
		all = append(all, ws...)
		// A run that took the lock and whose first write the store refused: its token is what
		// went wrong, whatever the answers look like.
		if err := refusedStart(ctx, h, ws); err != nil {
			return err
		}
		if err := checkHistory(all); err != nil {
			return err
		}
		if len(winners) != 1 {
			return scenarios.Failf(fmt.Sprintf("exactly one of %d simultaneous triggers (two per replica) to run the report, the others 409", triggersPerRound),
				roundHint(ws, len(winners)), "%d ran in round %d of %d: %s; the store's record: %s",
				len(winners), round, concurrentRounds, strings.Join(answers, "; "), describeWrites(ws, 6))
		}
		if others := othersThan(ws, token); len(others) > 0 {
			return scenarios.Failf(fmt.Sprintf("only the winning run (token %d, %s) to write to the store in round %d", token, instance(winners[0]), round),
				hintOneLock, "%s wrote beside it: %s", others[0].Instance, describeWrites(others, 5))
		}
		if err := expectComplete(ws, instance(winners[0]), token, fmt.Sprintf("the winning run of round %d", round)); err != nil {
			return err
		}
		if round > 1 && token <= lastToken {
			first, _ := firstBy(ws, instance(winners[0]))
			return explainTokenOrder(last, first)
		}
		lastToken = token
		last, _ = firstBy(ws, instance(winners[0]))
	}
	// Whoever won the last round, the other replica runs next, alone, with a greater token: the
	// rounds' winners are chance, tokens must increase whichever replica takes the lock.
	other := 1
	if last.Instance == instance(1) {
		other = 2
	}
	since, err := h.Agent.LastCall(ctx)
	if err != nil {
		return err
	}
	r := trigger(ctx, h, other, runTimeout)
	what := fmt.Sprintf("a trigger on replica %d after the last round (won by %s) answered", other, last.Instance)
	token, err := ranOrExplain(ctx, h, r, instance(other), since, what,
		"Release the lock when the run ends, before answering (compare-and-delete: only if it still holds your value).")
	if err != nil {
		return err
	}
	ws, err := storeWrites(ctx, h, since)
	if err != nil {
		return err
	}
	if token <= lastToken {
		first, _ := firstBy(ws, instance(other))
		return explainTokenOrder(last, first)
	}
	if err := checkHistory(append(all, ws...)); err != nil {
		return err
	}
	return expectComplete(ws, instance(other), token, what)
}

// refusedStart fails when a run in ws took the lock and the store refused its first write: the
// store's whole record says whose token it was not greater than.
func refusedStart(ctx context.Context, h *scenarios.Harness, ws []write) error {
	refused := false
	for _, w := range ws {
		refused = refused || w.refused()
	}
	if !refused {
		return nil
	}
	all, err := history(ctx, h)
	if err != nil {
		return err
	}
	if starts := refusedStarts(all, ws); len(starts) > 0 {
		return explainRefusedStart(all, starts[0])
	}
	return nil
}

// roundHint says what a round with no winner or several shows.
func roundHint(ws []write, winners int) string {
	if winners > 1 {
		return hintOneLock
	}
	if len(ws) == 0 {
		return "No trigger ran although the lock was free: release it when a run ends, before answering, and answer 409 only when SET NX found it taken."
	}
	return "A run that wrote every step answers 200; 409 is for a lock that was taken or a write the store refused."
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
	return expectFailed(r, http.StatusConflict, run.first.Token, "a run whose write the store refused",
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
	froze, err := freeze(ctx, h)
	if err != nil {
		return err
	}
	defer settle(ctx, h, holder)

	taker, err := takeOver(ctx, h, holder, 2, "a trigger on replica 2 while replica 1 is frozen")
	if err != nil {
		return err
	}
	if err := untested(holder, taker); err != nil {
		return err
	}
	token, err := ranOrExplain(ctx, h, taker.wait(), instance(2), taker.first.Seq-1, "the run that took the lock over from the frozen replica 1", hintOneLock)
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
	return expectRefusedAfterFreeze(late, ws, holder, froze)
}

// freeze pauses replica 1 and returns when that began and ended: the moment it froze is between.
func freeze(ctx context.Context, h *scenarios.Harness) (froze [2]time.Time, err error) {
	froze[0] = time.Now()
	if err := h.Target.Pause(ctx, scenarios.Replica(1)); err != nil {
		return froze, fmt.Errorf("pause replica 1: %w", err)
	}
	froze[1] = time.Now()
	return froze, nil
}

// expectRefusedAfterFreeze holds the frozen and replaced holder's answer to 409. A 502 from a
// holder frozen while one of its store writes was in flight (sent before the freeze ended,
// answered after it began) is no verdict: its own deadline ran on while it was frozen, and
// whether it reads the store's answer or its timer first on waking is the scheduler's choice
// (broken-redis-error-as-busy answered 502 so, its write timed out, at load 5-10). The round is
// Inconclusive; a holder frozen between writes is judged.
func expectRefusedAfterFreeze(late scenarios.Response, ws []write, holder started, froze [2]time.Time) error {
	if late.Err == nil && late.Status == http.StatusBadGateway {
		for _, w := range runWrites(ws, holder.first.Token) {
			if w.Start.Before(froze[1]) && (w.End.IsZero() || w.End.After(froze[0])) {
				return scenarios.Inconclusivef("replica 1 was frozen with a store write in flight (%s, sent %s, answered %s; frozen between %s and %s) and answered %s: its deadline ran while it was frozen",
					w.describe(), w.Start.Format("15:04:05.000"), w.End.Format("15:04:05.000"), froze[0].Format("15:04:05.000"), froze[1].Format("15:04:05.000"), late.Describe())
			}
		}
	}
	return expectFailed(late, http.StatusConflict, holder.first.Token, "replica 1's run, frozen past its lease and replaced",
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
		expected := fmt.Sprintf("replica %d to get the lock only once replica %d's %s lease ran out", replica, holder.replica, Lease)
		after := taker.seen.Sub(holder.sent).Round(10 * time.Millisecond)
		if ran, ok := ranToTheEnd(holder); ok {
			// The kill or freeze came after the holder's whole run (about 1.1 s): it released
			// the lock as it should, and this round tested no lease.
			return started{}, scenarios.Inconclusivef("replica %d's run had ended (%s) before it could be stopped, %s after its trigger: its lock was released, not left to expire",
				holder.replica, ran.Describe(), after)
		}
		if taker.busy == 0 {
			// Its very first trigger ran: nothing stopped it while the holder held the lock.
			return started{}, scenarios.Failf(expected, hintOneLock,
				"replica %d's first trigger ran at once, under token %d, %s after replica %d took the lock with token %d", replica, taker.first.Token, after, holder.replica, holder.first.Token)
		}
		return started{}, scenarios.Failf(expected,
			"The lock must stay taken for its whole 2 s lease unless its holder releases it: take it with SET key value NX PX 2000 (milliseconds), and let nothing but its holder's release delete it.",
			"replica %d's triggers answered 409 %d time(s), then it took the lock with token %d %s after replica %d took it with token %d: the lock freed itself before its %s lease ran out",
			replica, taker.busy, taker.first.Token, after, holder.replica, holder.first.Token, Lease)
	}
	return taker, nil
}

// untested is Inconclusive when the taker's first trigger, the one that took the lock (no 409
// before it), went out only after the holder's lease ran out: not one trigger tested the lease
// (the machine delayed the harness past it), so whatever the lock, the taker may take it. For
// the scenarios that trigger the taker while the lease runs (not release_only_by_owner, which
// waits for it to end).
func untested(holder, taker started) error {
	if late := taker.sent.Sub(holder.sent.Add(Lease)); taker.busy == 0 && late >= 0 {
		return scenarios.Inconclusivef("replica %d's first trigger went out only %s after replica %d's %s lease ran out: no trigger tested the lease",
			taker.replica, late.Round(10*time.Millisecond), holder.replica, Lease)
	}
	return nil
}

// ranToTheEnd reports the holder's answer when its run answered 200: it ran every step and
// released the lock before the scenario stopped it (on a loaded machine, the kill or freeze
// that follows its first write can take longer than the rest of the run).
func ranToTheEnd(holder started) (scenarios.Response, bool) {
	if !holder.finished() || holder.resp.Err != nil || holder.resp.Status != http.StatusOK {
		return scenarios.Response{}, false
	}
	return holder.resp, true
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
	froze, err := freeze(ctx, h)
	if err != nil {
		return err
	}
	defer settle(ctx, h, holder)
	// Replica 1's lease has surely run out before replica 2 is asked.
	if err := scenarios.SleepUntil(ctx, holder.seen.Add(Lease+200*time.Millisecond)); err != nil {
		return err
	}
	taker, err := takeOver(ctx, h, holder, 2, "a trigger on replica 2 after replica 1's lease ran out")
	if err != nil {
		return err
	}
	// While replica 2 runs, its lock is a key with a live lease in Redis, if the lock is one.
	leased, err := leaseInRedis(ctx, h)
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
			return intrusion(ws, holder, taker, w, leased)
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
	if err := expectRefusedAfterFreeze(late, ws, holder, froze); err != nil {
		return err
	}
	return thawedInTime(ws, holder, taker)
}

// thawedInTime: nothing went wrong; but a release that frees replica 2's lock shows only if
// replica 1's thawed run ended (and released) while replica 2 still had writes to make, with
// time for a trigger on replica 1 to start a run between. On a stalled machine the thaw can
// come too late for that: then this round tested nothing and is Inconclusive. (A thawed run
// that stopped without a write, having found its lease gone, leaves no time to go by: such a
// round judges as before.)
func thawedInTime(ws []write, holder, taker started) error {
	stale, ok := staleWrite(ws, holder, taker)
	mine := runWrites(ws, taker.first.Token)
	if len(mine) == 0 || !ok {
		return nil
	}
	if gap := mine[len(mine)-1].Start.Sub(stale.End); gap < releaseWindow {
		return scenarios.Inconclusivef("replica 1's thawed run ended %s before replica 2's last write: too late for a release of the wrong lock to show (needs %s)",
			gap.Round(10*time.Millisecond), releaseWindow)
	}
	return nil
}

// releaseWindow is how long before replica 2's last write replica 1's thawed run must have
// ended for release_only_by_owner to judge: a trigger on replica 1 (every 100 ms), a run
// taking the freed lock and its first write.
const releaseWindow = 300 * time.Millisecond

// staleWrite is the thawed holder's refused write after the taker's run began: where its run
// ended and released.
func staleWrite(ws []write, holder, taker started) (write, bool) {
	for _, w := range ws {
		if w.Seq > taker.first.Seq && w.Token == holder.first.Token && w.refused() {
			return w, true
		}
	}
	return write{}, false
}

// intrusion explains a refused write of the run that took over (under taker's token) from the
// store's record: which run wrote a greater token meanwhile, and when it started relative to the
// moment the thawed holder's run ended at its refused write (and released).
func intrusion(ws []write, holder, taker started, refused write, leased bool) error {
	expected := fmt.Sprintf("replica 2's run (token %d) to finish undisturbed: it took the lock after replica 1's lease ran out and held a live lease of its own", taker.first.Token)
	intruders := newerWriters(ws, taker.first.Seq, refused.Seq, taker.first.Token)
	if len(intruders) == 0 {
		return scenarios.Failf(expected, hintOneLock, "replica 2's step %d was refused (%s)", refused.Step, refused.describe())
	}
	in := intruders[0]
	if outlived := in.Start.Sub(taker.first.Start); outlived >= Lease {
		// Replica 2 took its lock before its first write: its lease had run out when the other
		// run began. A run whose steps take longer than its lease loses the lock, and fencing
		// refused its late write, as it should; on a loaded machine the steps stretch so.
		return scenarios.Inconclusivef("replica 2's run outlived its %s lease: the run under token %d began %s after replica 2's first write, and its step %d was refused (the machine stretched its steps)",
			Lease, in.Token, outlived.Round(10*time.Millisecond), refused.Step)
	}
	stale, _ := staleWrite(ws, holder, taker)
	if stale.Seq != 0 && !stale.End.After(in.Start) && !leased {
		return scenarios.Failf(expected, hintOneLock,
			"Redis held no key with a lease while replica 2's run was under way; replica 1's thawed run (token %d) was refused at step %d and ended there, %s later a new run under token %d started, and replica 2's step %d was refused: %s",
			holder.first.Token, stale.Step, in.Start.Sub(stale.End).Round(10*time.Millisecond), in.Token, refused.Step, describeWrites(intruders, 3))
	}
	if stale.Seq != 0 && !stale.End.After(in.Start) {
		return scenarios.Failf(expected,
			"A holder whose lease ran out no longer owns the lock it took: release with compare-and-delete (a Lua script that DELs the key only if it still holds your value), so its release cannot free the lock another run holds.",
			"replica 1's thawed run (token %d) was refused at step %d and ended there; %s later a new run under token %d took the lock while replica 2's lease still ran, and replica 2's step %d was refused: %s",
			holder.first.Token, stale.Step, in.Start.Sub(stale.End).Round(10*time.Millisecond), in.Token, refused.Step, describeWrites(intruders, 3))
	}
	return scenarios.Failf(expected, hintOneLock,
		"a run under token %d started while replica 2's run held the lock, and replica 2's step %d was refused: %s", in.Token, refused.Step, describeWrites(intruders, 3))
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
	// Replica 2 is triggered as the kill is sent, not once the engine says it is done: a kill
	// that took longer than the lease on a loaded machine (final10) let a lock kept in one
	// process's memory pass, replica 2's first trigger coming after the lease anyway. Until the
	// kill lands replica 1 still holds the lock: replica 2 must wait for the lease all the same.
	killed := make(chan error, 1)
	go func() { killed <- h.Target.Kill(ctx, scenarios.Replica(1), "SIGKILL") }()
	taker, err := takeOver(ctx, h, holder, 2, "a trigger on replica 2 after replica 1 was killed")
	if kerr := <-killed; kerr != nil {
		return fmt.Errorf("kill replica 1: %w", kerr)
	}
	if err != nil {
		return err
	}
	if err := untested(holder, taker); err != nil {
		return err
	}
	token, err := ranOrExplain(ctx, h, taker.wait(), instance(2), taker.first.Seq-1, "the run that took the lock over from the killed replica 1", hintOneLock)
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
		return explainTokenOrder(holder.first, taker.first)
	}
	return expectComplete(ws, instance(2), token, "the run that took over on replica 2")
}
