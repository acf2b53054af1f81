package distributedlock

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
)

// The scenarios see a symptom — a run that answered 409, a round without a winner, writes from a
// run that should not have written — and one symptom has several causes. What went wrong is told
// from the store's record (every write, its token, who sent it, whether it was taken), never
// from the cause a symptom usually has: a lock that is not shared and tokens that do not increase
// across replicas both end with a refused run, and need different fixes.

// Hints, one per mistake the store's record can prove.
const (
	hintTokensAcrossReplicas = "Tokens must increase across replicas, not only on one: take every token from one counter in Redis that both replicas share (INCR), each time the lock is acquired. A token that is only unique, or that counts one replica's runs, is refused once the other replica has written a greater one."
	hintTokensAcrossRestarts = "Tokens must increase with every acquisition, ever: take each from a counter in Redis (INCR) when the lock is acquired, not from the process's memory, which a restart resets."
	hintTokenTwice           = "Take a new token each time the lock is acquired (INCR, in the same atomic step as SET NX PX or right after it succeeds): a token must never be handed out twice, also when its holder was killed or froze and never released."
	hintOneLock              = "While one run holds the lock, no other run may start, on either replica: the lock must be one key in Redis that both replicas take with SET key value NX PX 2000, and a trigger that finds it taken answers 409 without writing."
)

// history returns every write the store has recorded since the sandbox started: a token's first
// write and the highest token accepted before it may be older than the scenario.
func history(ctx context.Context, h *scenarios.Harness) ([]write, error) {
	return storeWrites(ctx, h, 0)
}

// highestBefore returns the accepted write with the greatest token among those before seq.
func highestBefore(all []write, seq int) (write, bool) {
	var top write
	found := false
	for _, w := range all {
		if w.Seq >= seq {
			break
		}
		if w.Accepted && w.TokenOK && (!found || w.Token > top.Token) {
			top, found = w, true
		}
	}
	return top, found
}

// explainRefusedStart explains a run whose first write the store refused: the store had accepted
// a token at least as great before this run wrote anything. If the run under that token went on
// writing afterwards, two runs held the lock at once; otherwise this run's token did not increase
// past one handed out before.
func explainRefusedStart(all []write, first write) error {
	top, found := highestBefore(all, first.Seq)
	if !found {
		return scenarios.Failf(fmt.Sprintf("%s's first write under token %d to be accepted", first.Instance, first.Token),
			"Send the run's fencing token, a decimal integer, in the Fencing-Token header.",
			"%s", first.describe())
	}
	for _, w := range all {
		if w.Seq > first.Seq && w.Token == top.Token && w.Instance == top.Instance {
			return scenarios.Failf("one run at a time: no run starts while another holds the lock", hintOneLock,
				"%s's run under token %d started while %s's run under token %d was still writing (its step %d came after); the store refused %s's first write",
				first.Instance, first.Token, top.Instance, top.Token, w.Step, first.Instance)
		}
	}
	return explainTokenOrder(top, first)
}

// explainTokenOrder explains a run (its write next) whose token is not greater than the token an
// earlier run (its write prev) wrote under.
func explainTokenOrder(prev, next write) error {
	if next.Token == prev.Token {
		return scenarios.Failf(fmt.Sprintf("%s's run to take a token greater than %d, the token %s's run wrote under before", next.Instance, prev.Token, prev.Instance),
			hintTokenTwice, "token %d after token %d: %s wrote under token %d, which %s had already written under",
			next.Token, prev.Token, next.Instance, next.Token, prev.Instance)
	}
	hint := hintTokensAcrossReplicas
	if prev.Instance == next.Instance {
		hint = hintTokensAcrossRestarts
	}
	verdict := "the store refused its write (409)"
	if next.Accepted {
		verdict = "the store accepted it only because of an earlier mistake"
	} else if !next.refused() {
		verdict = fmt.Sprintf("the store answered %d", next.Status)
	}
	return scenarios.Failf("every run's fencing token to be greater than every token handed out before it, by either replica",
		hint, "token %d after token %d: %s took the lock with token %d after the store had accepted token %d from %s; %s",
		next.Token, prev.Token, next.Instance, next.Token, prev.Token, prev.Instance, verdict)
}

// ranOrExplain judges the answer to a trigger that should have run (the lock was free): 200 with
// its token. A 409 is explained from the store's record of inst's writes since the trigger: none
// means the lock was still taken, busyHint says what to do then; a refused write means the run
// took the lock and its token was refused.
func ranOrExplain(ctx context.Context, h *scenarios.Harness, r scenarios.Response, inst string, since int, what, busyHint string) (int64, error) {
	if r.Err != nil || r.Status != http.StatusConflict {
		return expectRan(r, what)
	}
	ws, err := storeWrites(ctx, h, since)
	if err != nil {
		return 0, err
	}
	mine := writesAfter(ws, 0, inst)
	if len(mine) == 0 {
		return 0, scenarios.Failf(`200 {"ran": true, "token": n} for `+what, busyHint, "%s, and nothing written to the store by %s", r.Describe(), inst)
	}
	all, err := history(ctx, h)
	if err != nil {
		return 0, err
	}
	first := mine[0]
	if first.refused() {
		return 0, explainRefusedStart(all, first)
	}
	for _, w := range mine {
		if !w.refused() {
			continue
		}
		intruders := newerWriters(all, first.Seq, w.Seq, w.Token)
		return 0, scenarios.Failf(fmt.Sprintf("%s (token %d) to run to the end: the lock was free when it was triggered", what, first.Token), hintOneLock,
			"%s; the store refused its step %d because %s", r.Describe(), w.Step, describeWrites(intruders, 3))
	}
	return 0, scenarios.Failf(`200 {"ran": true, "token": n} for `+what,
		"Answer 409 only when the lock was taken or a write was refused; a run whose every step was accepted answers 200.",
		"%s, though the store accepted every write of %s under token %d", r.Describe(), inst, first.Token)
}

// newerWriters returns the accepted writes with a token greater than token between from and to:
// who the store had accepted when it refused a write under token.
func newerWriters(all []write, from, to int, token int64) []write {
	var out []write
	for _, w := range all {
		if w.Seq > from && w.Seq < to && w.Accepted && w.Token > token {
			out = append(out, w)
		}
	}
	return out
}

// refusedStarts returns, for each token in ws, its first write when the store refused it and no
// earlier write in all carries that token: runs that took the lock and were refused at once.
func refusedStarts(all, ws []write) []write {
	firstSeq := map[int64]int{}
	for _, w := range all {
		if _, ok := firstSeq[w.Token]; !ok && w.TokenOK {
			firstSeq[w.Token] = w.Seq
		}
	}
	var out []write
	for _, w := range ws {
		if w.TokenOK && w.refused() && firstSeq[w.Token] == w.Seq {
			out = append(out, w)
		}
	}
	return out
}

// leaseInRedis reports whether Redis holds a key with a live lease — an expiry no longer than
// the contract's — as a lock taken with SET NX PX does while its run is under way. It tells a
// lock that is not in Redis from one a stale holder deleted, where the store's record alone
// shows the same. It looks at a bounded number of keys; an error reads as "not known".
func leaseInRedis(ctx context.Context, h *scenarios.Harness) (bool, error) {
	rdb, err := h.Redis()
	if err != nil {
		return false, err
	}
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var cursor uint64
	for seen := 0; seen < 1000; {
		keys, next, err := rdb.Scan(ctx, cursor, "*", 100).Result()
		if err != nil {
			return false, fmt.Errorf("scan redis: %w", err)
		}
		for _, k := range keys {
			ttl, err := rdb.PTTL(ctx, k).Result()
			if err != nil {
				return false, fmt.Errorf("pttl %s: %w", k, err)
			}
			if ttl > 0 && ttl <= Lease {
				return true, nil
			}
		}
		seen += len(keys)
		if cursor = next; cursor == 0 {
			break
		}
	}
	return false, nil
}
