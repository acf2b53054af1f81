package ratelimiter

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/agent"
)

// Slug names the challenge in the catalog and in templates/.
const Slug = "rate-limiter"

// Scenarios returns the challenge's scenario table in the order it runs: the limit itself
// first, Redis faults last, and last of all the one that restarts a replica.
func Scenarios() []scenarios.Scenario {
	return []scenarios.Scenario{
		{Slug: "basic_limit", Title: "One client's requests are admitted up to the limit, then refused with 429, across both replicas", Weight: 15, Visibility: scenarios.Public, Run: basicLimit},
		{Slug: "rejection_headers", Title: "Answers carry RateLimit-Policy and RateLimit; a 429 carries Retry-After", Weight: 15, Visibility: scenarios.Public, Run: rejectionHeaders},
		{Slug: "burst_across_replicas", Title: "A burst spread over both replicas admits no more than the limit", Weight: 20, Visibility: scenarios.Public, Run: burstAcrossReplicas},
		{Slug: "client_isolation", Title: "A client over its limit does not use up another client's", Weight: 15, Visibility: scenarios.Public, Run: clientIsolation},
		{Slug: "recovery_after_window", Title: "A client limited late in a window is told to come back when the Unix-aligned window ends, and is admitted then, though it kept retrying", Weight: 10, Visibility: scenarios.Public, Run: recoveryAfterWindow},
		{Slug: "redis_outage", Title: "With Redis down, requests get a 503 within 1 s and nothing is admitted, /healthz stays 200; service resumes when Redis is back", Weight: 15, Visibility: scenarios.Public, Run: redisDown},
		{Slug: "redis_unresponsive", Title: "With Redis silent, requests still get a 503 within 1 s and /healthz stays 200; service resumes when it answers again", Weight: 10, Visibility: scenarios.Hidden, Run: redisSilent},
		{Slug: "ready_only_with_redis", Title: "A replica that starts while Redis refuses connections keeps running and answers /healthz 503 until it reaches Redis", Weight: 5, Visibility: scenarios.Hidden, Disruptive: true, Timeout: 25 * time.Second, Run: readyOnlyWithRedis},
	}
}

func basicLimit(ctx context.Context, h *scenarios.Harness) error {
	since, err := h.Agent.LastCall(ctx)
	if err != nil {
		return err
	}
	for _, c := range []struct{ what, id string }{
		{"no X-Client-Id header", ""},
		{"an X-Client-Id of 65 characters", strings.Repeat("c", 65)},
		{"the X-Client-Id \"hf:other\" (a colon)", "hf:other"},
		{"the X-Client-Id \"hf other\" (a space)", "hf other"},
	} {
		r := h.Do(ctx, hit(c.id, 0))
		if r.Err != nil || r.Status != http.StatusBadRequest {
			return scenarios.Failf("400 Bad Request for a request with "+c.what,
				"Validate X-Client-Id — 1 to 64 characters, each a letter, a digit, '.', '_' or '-' — before counting it or calling the downstream: an id with ':' or a space could collide with another client's Redis key.",
				"%s", r.Describe())
		}
	}
	if calls, err := h.Agent.Calls(ctx, since); err != nil {
		return fmt.Errorf("read downstream calls: %w", err)
	} else if len(calls) > 0 {
		return scenarios.Failf("no downstream call for a request answered 400", "Validate the request before calling the downstream.",
			"%d call(s), the first %s %s?%s", len(calls), calls[0].Method, calls[0].Path, calls[0].Query)
	}

	n := Limit + 3
	var client string
	var rs []scenarios.Response
	fits, err := fitWindow(ctx, func(ctx context.Context) {
		client = newClient("basic")
		rs = sequential(ctx, h, client, n)
	})
	if err != nil {
		return err
	}
	calls, err := admitted(ctx, h, since, client)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("%d requests of one client sent one after another, alternating between the replicas", n)
	if err := judgeRound(what, n, rs, calls, fits, statusList); err != nil {
		return err
	}
	if !fits {
		return unfitted(what, "how many were admitted")
	}
	for i, r := range rs {
		want := http.StatusOK
		if i >= Limit {
			want = http.StatusTooManyRequests
		}
		if r.Status != want {
			return scenarios.Failf(fmt.Sprintf("the first %d of %s answered 200 and the rest 429", Limit, what),
				"Admit while the client's count in this window is at most the limit, reject after.",
				"answers in order: %s", statusList(rs))
		}
	}
	return nil
}

// unfitted is the round of a scenario whose requests (what) never fitted in one window in
// fitAttempts tries: judgeRound could hold them only to two windows' worth, so what the round
// is there to judge was not judged, and it must not pass.
func unfitted(what, unjudged string) error {
	return scenarios.Inconclusivef("%s never fitted in one %s window in %d tries, so %s was not judged", what, Window, fitAttempts, unjudged)
}

func rejectionHeaders(ctx context.Context, h *scenarios.Harness) error {
	since, err := h.Agent.LastCall(ctx)
	if err != nil {
		return err
	}
	n := Limit + 1
	var client string
	var rs []scenarios.Response
	w, fits, err := fitWindowAt(ctx, 0, func(ctx context.Context) {
		client = newClient("headers")
		rs = sequential(ctx, h, client, n)
	})
	if err != nil {
		return err
	}
	calls, err := admitted(ctx, h, since, client)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("%d requests of one client sent one after another", n)
	if err := judgeRound(what, n, rs, calls, fits, statusList); err != nil {
		return err
	}
	// A round that never fitted in one window may have no 429 yet: ask until one comes.
	for extra := 0; rs[len(rs)-1].Status != http.StatusTooManyRequests && extra <= Limit && ctx.Err() == nil; extra++ {
		rs = append(rs, h.Do(ctx, hit(client, 0)))
		if r := rs[len(rs)-1]; r.Err != nil || r.Status != http.StatusOK && r.Status != http.StatusTooManyRequests {
			return scenarios.Failf("200 or 429 for a client's requests", hintFor(r), "%s", r.Describe())
		}
	}
	seen429 := false
	for i, r := range rs {
		which := fmt.Sprintf("answer %d of %s (%d)", i+1, what, r.Status)
		remaining, reset, err := rateLimitHeaders(r, which)
		if err != nil {
			return err
		}
		if r.Status == http.StatusOK {
			if fits && remaining != int64(Limit-i-1) {
				return scenarios.Failf(fmt.Sprintf("RateLimit r=%d on %s: the requests left in the window after this one", Limit-i-1, which),
					"r counts down from the limit with each request of the client in the window, on whichever replica it lands.",
					"r=%d", remaining)
			}
			continue
		}
		seen429 = true
		if remaining != 0 {
			return scenarios.Failf("RateLimit r=0 on a 429", "A rejected client has no requests left in this window.", "r=%d", remaining)
		}
		ra, err := retryAfter(r, 1, int(Window.Seconds()), "a 429",
			"Send Retry-After with the seconds until the client's window ends, rounded up to a whole number (never 0).")
		if err != nil {
			return err
		}
		if int64(ra) != reset {
			return scenarios.Failf("RateLimit t equal to Retry-After on a 429", "Compute both from the same moment: the seconds until the window ends, rounded up.",
				"Retry-After: %d and RateLimit t=%d", ra, reset)
		}
	}
	if !seen429 {
		return scenarios.Failf(fmt.Sprintf("a 429 once a client passed %d requests", Limit), "Reject requests beyond the limit.", "answers: %s", statusList(rs))
	}
	if !fits {
		return unfitted(what, "the rounding of Retry-After")
	}
	return roundedUp(ctx, h, client, w)
}

// roundedUpAt are the moments into a window at which roundedUp asks again: 1.4 s and 0.4 s
// before the window ends, where rounding the seconds left up (2, 1) and rounding them to the
// nearest (1, 0) disagree, each with 0.4 s to spare before the answer changes.
var roundedUpAt = []time.Duration{600 * time.Millisecond, 1600 * time.Millisecond}

// roundedUp asks again for a client that used up its limit in window w, later in w, at each of
// roundedUpAt, and judges the answers (judgeRoundedUp).
func roundedUp(ctx context.Context, h *scenarios.Harness, client string, w window) error {
	asks := make([]ask, 0, len(roundedUpAt))
	for _, at := range roundedUpAt {
		if err := sleep(ctx, time.Until(w.start.Add(at))); err != nil {
			return err
		}
		sent := time.Now()
		r := h.Do(ctx, hit(client, 0))
		asks = append(asks, ask{sent: sent, answered: time.Now(), r: r})
	}
	return judgeRoundedUp(w, asks)
}

// ask is one request roundedUp sent: when it left, when its answer came, and the answer.
type ask struct {
	sent, answered time.Time
	r              scenarios.Response
}

// judgeRoundedUp checks that Retry-After and t on each ask's 429 are the seconds until w ends,
// rounded up. An ask answered within boundaryMargin of w's end may have been decided in the
// next window and says nothing. An ask whose sending and answer straddle a whole second before
// w's end has two right answers: anything else fails, but it cannot tell rounding up from
// rounding to the nearest, so the round is Inconclusive unless every ask was judged — a round
// that judged no rounding must not pass (round-to-nearest differs from rounding up at one ask
// only).
func judgeRoundedUp(w window, asks []ask) error {
	var unjudged []string
	for _, a := range asks {
		leftSent, leftAnswered := w.end.Sub(a.sent), w.end.Sub(a.answered)
		if a.answered.After(w.end.Add(-boundaryMargin)) {
			unjudged = append(unjudged, fmt.Sprintf("a request sent %s before the window ended was answered %s before it", leftSent.Round(time.Millisecond), leftAnswered.Round(time.Millisecond)))
			continue
		}
		what := fmt.Sprintf("a 429 answered %s before its window ends", leftAnswered.Round(10*time.Millisecond))
		if a.r.Status != http.StatusTooManyRequests {
			return scenarios.Failf(fmt.Sprintf("429 for a client that used up its %d requests earlier in the same window", Limit), hintFor(a.r), "%s", a.r.Describe())
		}
		hint := "Round the seconds until the Unix-aligned window ends up, never to the nearest: 1.4 s left is 2, 0.4 s left is 1."
		lo, hi := secondsUp(leftAnswered), secondsUp(leftSent)
		ra, err := retryAfter(a.r, lo, hi, what, hint)
		if err != nil {
			return err
		}
		_, reset, err := rateLimitHeaders(a.r, what)
		if err != nil {
			return err
		}
		if reset != int64(ra) {
			return scenarios.Failf(fmt.Sprintf("RateLimit t equal to Retry-After on %s", what), hint, "Retry-After: %d and RateLimit t=%d", ra, reset)
		}
		if lo != hi {
			unjudged = append(unjudged, fmt.Sprintf("a request sent %s before the window ended took %s, across a whole second", leftSent.Round(time.Millisecond), a.answered.Sub(a.sent).Round(time.Millisecond)))
		}
	}
	if len(asks) == 0 {
		unjudged = append(unjudged, "no request was sent")
	}
	if len(unjudged) > 0 {
		return scenarios.Inconclusivef("the rounding of Retry-After was not judged: %s", strings.Join(unjudged, "; "))
	}
	return nil
}

// secondsUp is d in whole seconds, rounded up.
func secondsUp(d time.Duration) int {
	return int((d + time.Second - 1) / time.Second)
}

// burstRounds and burstSize make an over-admission likely to show: each round sends three
// times the limit at once, half to each replica.
const (
	burstRounds = 2
	burstSize   = 3 * Limit
)

// loaded503s explains the 503s of a burst whose only wrong answers are 503s (only503s) by the
// machine, and says how, or returns "". Redis is up, so a 503 is the fail-closed answer of a
// Redis step that ran out its deadline (the brief asks for a few hundred milliseconds): the
// reference's 500 ms ran out in CI when other gradings left it too little CPU. A 503 counts as
// the machine's when it came no later than the machine stood still (Stall.Explains), or the
// machine gave less than half a CPU (Stall.Slowed). On a responsive machine the same 503s fail.
func loaded503s(rs []scenarios.Response, stall scenarios.Stall) string {
	var slowest time.Duration
	n := 0
	for _, r := range rs {
		if r.Status == http.StatusServiceUnavailable {
			slowest = max(slowest, r.Duration)
			n++
		}
	}
	if !(stall.Explains(slowest, 0) || stall.Slowed(1)) {
		return ""
	}
	return fmt.Sprintf("%d answers were 503 (the slowest after %s) while Redis was up, but the machine was too busy to tell a slow Redis step from a wrong one (%s)",
		n, slowest.Round(time.Millisecond), stall)
}

// only503s reports whether a round's only wrong answers are 503s (at least one) and it admitted
// no more than its window, or two windows, allow: what a Redis step that ran out its deadline
// gives while Redis is up.
func only503s(rs []scenarios.Response, calls int, fits bool) bool {
	if calls > Limit && (fits || calls > 2*Limit) {
		return false
	}
	n := 0
	for _, r := range rs {
		switch {
		case r.Err == nil && (r.Status == http.StatusOK || r.Status == http.StatusTooManyRequests):
		case r.Err == nil && r.Status == http.StatusServiceUnavailable:
			n++
		default:
			return false
		}
	}
	return n > 0
}

// allAdmitted reports whether every answer was a 200.
func allAdmitted(rs []scenarios.Response) bool {
	return !slices.ContainsFunc(rs, func(r scenarios.Response) bool { return r.Err != nil || r.Status != http.StatusOK })
}

func burstAcrossReplicas(ctx context.Context, h *scenarios.Harness) error {
	since, err := h.Agent.LastCall(ctx)
	if err != nil {
		return err
	}
	fitted := 0
	for round := 1; round <= burstRounds; round++ {
		h.BeginTimeline() // a failure shows its own round: two would not fit in MaxTimeline
		var client string
		var rs []scenarios.Response
		watch := h.WatchStall(ctx)
		fits, err := fitWindow(ctx, func(ctx context.Context) {
			client = newClient("burst")
			rs = burst(ctx, h, client, burstSize)
		})
		stall := watch()
		if err != nil {
			return err
		}
		calls, err := admitted(ctx, h, since, client)
		if err != nil {
			return err
		}
		what := fmt.Sprintf("%d simultaneous requests of one client, spread over the replicas (round %d of %d)", burstSize, round, burstRounds)
		err = judgeRound(what, burstSize, rs, calls, fits, statusCounts)
		if err == nil {
			if fits {
				fitted++
			}
			continue
		}
		// A round that admitted more than the limit, or answered anything but 200, 429 and
		// 503, fails whatever the machine did.
		if !only503s(rs, len(calls), fits) {
			return err
		}
		if reason := loaded503s(rs, stall); reason != "" {
			return scenarios.Inconclusivef("%s: %v", reason, err)
		}
		// The stall probe answers without Redis: a machine that starves the Redis path (the
		// sidecar, the agent's proxy) but not /healthz escapes it (final12: the reference's
		// 500 ms Redis deadline ran out for 15 of 30). A client left broken by its own
		// timeouts answers 503 again at once; one that met a slow Redis admits a new client.
		if after := sequential(ctx, h, newClient("after"), 2*h.Replicas()); allAdmitted(after) {
			return scenarios.Inconclusivef("503s while Redis was up, but right after the burst every replica admitted a new client (%s): a Redis step slower than its deadline on a busy machine (%s): %v",
				statusCounts(after), stall, err)
		}
		return err
	}
	if fitted == 0 {
		return unfitted(fmt.Sprintf("none of %d rounds of %d simultaneous requests", burstRounds, burstSize), "whether more than the limit was admitted")
	}
	return nil
}

func clientIsolation(ctx context.Context, h *scenarios.Harness) error {
	since, err := h.Agent.LastCall(ctx)
	if err != nil {
		return err
	}
	var a, b string
	var ra, rb []scenarios.Response
	var againA scenarios.Response
	fits, err := fitWindow(ctx, func(ctx context.Context) {
		a, b = newClient("iso-a"), newClient("iso-b")
		ra = sequential(ctx, h, a, Limit+2)
		rb = sequential(ctx, h, b, Limit)
		againA = h.Do(ctx, hit(a, 0))
	})
	if err != nil {
		return err
	}
	callsA, err := admitted(ctx, h, since, a)
	if err != nil {
		return err
	}
	callsB, err := admitted(ctx, h, since, b)
	if err != nil {
		return err
	}
	if err := judgeRound(fmt.Sprintf("%d requests of client A, one after another", Limit+2), Limit+2, ra, callsA, fits, statusList); err != nil {
		return err
	}
	if ok, _, _ := tally(rb); fits && ok != Limit { // !fits: Inconclusive below, once B's answers are held to the contract
		return scenarios.Failf(fmt.Sprintf("all %d requests of client B admitted, right after client A used up its own limit", Limit),
			"Count each client separately: put the X-Client-Id in the Redis key.",
			"client B got %s", statusList(rb))
	}
	if err := judgeRound(fmt.Sprintf("%d requests of client B, one after another", Limit), Limit, rb, callsB, fits, statusList); err != nil {
		return err
	}
	if !fits {
		return unfitted(fmt.Sprintf("%d requests of client A then %d of client B", Limit+2, Limit), "whether one client's count holds back the other")
	}
	if againA.Err != nil || againA.Status != http.StatusTooManyRequests {
		return scenarios.Failf("429 for client A again after client B's requests", "Client B's requests must not change client A's count.", "%s", againA.Describe())
	}
	return nil
}

// pollEvery is how often a limited client retries in recovery_after_window.
const pollEvery = 250 * time.Millisecond

// recoverOffset is how far into a window the limited client's round starts in
// recovery_after_window: past the middle, so the Unix-aligned window ends within a second of
// its 429 — sooner than a window counted from the client's first request would.
const recoverOffset = 1100 * time.Millisecond

func recoveryAfterWindow(ctx context.Context, h *scenarios.Harness) error {
	since, err := h.Agent.LastCall(ctx)
	if err != nil {
		return err
	}
	var client string
	var rs []scenarios.Response
	w, fits, err := fitWindowAt(ctx, recoverOffset, func(ctx context.Context) {
		client = newClient("recover")
		rs = sequential(ctx, h, client, Limit+1)
	})
	if err != nil {
		return err
	}
	calls, err := admitted(ctx, h, since, client)
	if err != nil {
		return err
	}
	if err := judgeRound(fmt.Sprintf("%d requests of one client sent one after another", Limit+1), Limit+1, rs, calls, fits, statusList); err != nil {
		return err
	}
	for extra := 0; rs[len(rs)-1].Status != http.StatusTooManyRequests; extra++ {
		r := rs[len(rs)-1]
		if r.Err != nil || r.Status != http.StatusOK || extra > Limit || ctx.Err() != nil {
			return scenarios.Failf(fmt.Sprintf("a 429 once a client passed %d requests in a window", Limit), hintFor(r), "answers: %s", statusList(rs))
		}
		rs = append(rs, h.Do(ctx, hit(client, 0)))
	}
	limitedAt := time.Now()
	limited := rs[len(rs)-1]
	ra, err := retryAfter(limited, 1, int(Window.Seconds()), "a 429",
		"Send Retry-After with the seconds until the client's window ends, rounded up to a whole number (never 0).")
	if err != nil {
		return err
	}
	if fits {
		// The round ran inside w, more than a second after w began: the 429 came less than a
		// second before w ends, so both Retry-After and t are 1.
		_, reset, err := rateLimitHeaders(limited, "the 429")
		if err != nil {
			return err
		}
		if ra != 1 || reset != 1 {
			return notAligned(w, limitedAt, ra, reset, calls[0].Start)
		}
	}
	due := limitedAt.Add(time.Duration(ra) * time.Second)

	// Keep retrying, as impatient clients do; the first request sent after Retry-After has
	// passed must be admitted.
	var tries []scenarios.Response
	var back time.Time
	for back.IsZero() {
		if err := sleep(ctx, pollEvery); err != nil {
			return err
		}
		sent := time.Now()
		r := h.Do(ctx, hit(client, len(tries)%h.Replicas()+1))
		tries = append(tries, r)
		switch {
		case r.Err == nil && r.Status == http.StatusOK:
			back = sent
		case r.Err != nil || r.Status != http.StatusTooManyRequests:
			return scenarios.Failf("200 or 429 for a limited client's retries", hintFor(r), "%s", r.Describe())
		case !sent.Before(due):
			return stillLimited(ctx, h, client, windowAt(limitedAt), calls[0].Start, limitedAt, ra, sent, tries)
		}
	}
	// The new window gives the full limit again.
	more := sequential(ctx, h, client, Limit-1)
	if windowAt(back).end.After(time.Now()) {
		if ok, _, _ := tally(more); ok != Limit-1 {
			return scenarios.Failf(fmt.Sprintf("%d requests admitted in the window after the limit was reached", Limit),
				"Each window starts a fresh count; rejected requests of the last window do not carry over.",
				"answers after the first admitted one: %s", statusList(more))
		}
	}
	calls, err = admitted(ctx, h, since, client)
	if err != nil {
		return err
	}
	if err := spanBound(calls, client); err != nil {
		return err
	}
	if !fits {
		return unfitted(fmt.Sprintf("%d requests of one client from %s into a window", Limit+1, recoverOffset), "whether Retry-After counts to the end of the Unix-aligned window")
	}
	return nil
}

// judgeNeverAnswered judges a replica restarted while Redis refused connections that had not
// answered /healthz at all (firstAnswer zero) after waited: it must keep running and answer
// 503, so one that waits for Redis before it listens fails, unless the machine was too slowed
// to tell: the probe got a fifth of a CPU or less (a start that takes ~1.5 s with a CPU to
// spare would then take 7.5 s or more), or the machine stood still for 3 s (a pause of a
// second, common at the test command's load, does not hide 10 s of silence).
func judgeNeverAnswered(firstAnswer time.Time, waited time.Duration, stall scenarios.Stall, replica int) error {
	switch {
	case !firstAnswer.IsZero():
		return nil
	case stall.Slowed(5) || stall.Max() >= 3*time.Second:
		return scenarios.Inconclusivef("replica %d, restarted while Redis refused connections, answered no GET /healthz in %s, but the machine was too slow to tell (%s)", replica, waited.Round(100*time.Millisecond), stall)
	}
	return scenarios.Failf(fmt.Sprintf("replica %d, restarted while Redis refuses connections, to answer GET /healthz 503 until it reaches Redis", replica),
		"Start listening at once and answer /healthz 503 while Redis is not reachable: connect to Redis lazily or retry in the background, never before serving.",
		"no answer to GET /healthz for %s after the restart", waited.Round(100*time.Millisecond))
}

// clock renders a moment for a learner, to the millisecond.
func clock(t time.Time) string { return t.UTC().Format("15:04:05.000") }

// notAligned explains a 429 whose Retry-After or t does not count to the end of the Unix-aligned
// window w. first is when the downstream got the client's first admitted request: a Retry-After
// that counts to a window's length after it shows a window begun by the client's first request.
func notAligned(w window, limitedAt time.Time, ra int, reset int64, first time.Time) error {
	expected := fmt.Sprintf("Retry-After: 1 and RateLimit t=1 on a 429 answered at %s: the Unix-aligned window [%s, %s) in which the client used up its limit ends %s later",
		clock(limitedAt), clock(w.start), clock(w.end), w.end.Sub(limitedAt).Round(time.Millisecond))
	hint := "Windows are aligned to Unix time, the same for every client: window n = floor(unix_ms / 2000) ends at (n+1)·2000 ms. Send the seconds until then, rounded up, in both Retry-After and t."
	if anchored := int(math.Ceil(first.Add(Window).Sub(limitedAt).Seconds())); ra == anchored && ra != 1 {
		hint = fmt.Sprintf("Your window runs %s from the client's first request (the downstream got it at %s), not from the Unix-aligned boundary: a client that starts late in a window must still be reset at its end. Key the count by the window number n = floor(unix_ms / 2000), the same for every client, and send the seconds until (n+1)·2000 ms.",
			Window, clock(first))
	}
	return scenarios.Failf(expected, hint, "Retry-After: %d and RateLimit t=%d", ra, reset)
}

// stillLimited diagnoses a limited client refused after its Retry-After had passed: it keeps
// retrying until a window's length after the client's first admitted request (first, from the
// downstream's record) to tell a window that began with that request from one that each
// refused request pushes back.
func stillLimited(ctx context.Context, h *scenarios.Harness, client string, w window, first, limitedAt time.Time, ra int, refusedAt time.Time, tries []scenarios.Response) error {
	expected := fmt.Sprintf("a request sent %s after a 429 with Retry-After: %d to be admitted: the Unix-aligned window [%s, %s) that limited the client had ended",
		refusedAt.Sub(limitedAt).Round(10*time.Millisecond), ra, clock(w.start), clock(w.end))
	end := first.Add(Window + 300*time.Millisecond)
	var back time.Time
	for back.IsZero() && time.Now().Before(end) {
		if err := sleep(ctx, pollEvery); err != nil {
			return err
		}
		sent := time.Now()
		r := h.Do(ctx, hit(client, len(tries)%h.Replicas()+1))
		tries = append(tries, r)
		if r.Err == nil && r.Status == http.StatusOK {
			back = sent
		}
	}
	switch {
	case back.IsZero():
		return scenarios.Failf(expected,
			"A refused request must not push the window back. Count each request in the window it arrives in — key the count by the window number n = floor(unix_ms / 2000) — and let the key expire after that window, whatever the client keeps sending.",
			"429 to every retry until %s, %s after the window ended (retries every %s since the 429: %s)",
			clock(time.Now()), time.Since(w.end).Round(10*time.Millisecond), pollEvery, statusList(tries))
	case !back.Before(first.Add(Window - 300*time.Millisecond)):
		return scenarios.Failf(expected,
			fmt.Sprintf("Your window runs %s from the client's first request, not from the Unix-aligned boundary. Key the count by the window number n = floor(unix_ms / 2000), the same for every client, and send the seconds until (n+1)·2000 ms in Retry-After.", Window),
			"429 until %s: admitted again only %s after the client's first admitted request (%s), %s after the aligned window ended (retries every %s: %s)",
			clock(back), back.Sub(first).Round(10*time.Millisecond), clock(first), back.Sub(w.end).Round(10*time.Millisecond), pollEvery, statusList(tries))
	default:
		return scenarios.Failf(expected,
			"Retry-After must say when the client's window ends: the first request after it is admitted.",
			"429, admitted again only at %s (retries every %s since the 429: %s)", clock(back), pollEvery, statusList(tries))
	}
}

func redisDown(ctx context.Context, h *scenarios.Harness) error {
	return redisFault(ctx, h, agent.Fault{Kind: agent.FaultDown}, agent.Fault{Kind: agent.FaultUp}, "Redis refuses connections")
}

func redisSilent(ctx context.Context, h *scenarios.Harness) error {
	return redisFault(ctx, h, agent.Fault{Kind: agent.FaultTimeout}, agent.Fault{Kind: agent.FaultClear}, "Redis does not answer")
}

// outageRequests is how many requests each Redis fault gets: one per replica, as each has its
// own connections to lose.
const outageRequests = 2

// redisFault applies fault to the Redis link, holds the app to a quick 503 with nothing
// admitted, lifts the fault with restore and waits for every replica to admit again.
func redisFault(ctx context.Context, h *scenarios.Harness, fault, restore agent.Fault, while string) error {
	since, err := h.Agent.LastCall(ctx)
	if err != nil {
		return err
	}
	client := newClient("outage")
	if err := h.Agent.Fault(ctx, "redis", fault); err != nil {
		return fmt.Errorf("redis fault: %w", err)
	}
	// After a failure below, Redis is given back before the grader checks on the replicas;
	// restoring once more after the restore below changes nothing.
	defer restoreRedis(ctx, h, restore)
	for i := range outageRequests {
		req := hit(client, i%h.Replicas()+1)
		req.Timeout = OutageDeadline + 3*time.Second
		r := h.Do(ctx, req)
		if r.Err != nil || r.Duration > OutageDeadline {
			return scenarios.Failf(fmt.Sprintf("an answer within %s while %s, measured from outside", OutageDeadline, while),
				fmt.Sprintf("Your answer took %s. Give the whole Redis step of a request — every attempt, reconnection and retry included — one deadline of a few hundred milliseconds, do not queue commands while disconnected, and answer 503 when it passes: with 500 ms, a service answers in 0.5–0.7 s even on a busy machine.",
					r.Duration.Round(10*time.Millisecond)),
				"%s (replica %d)", r.DescribeTook(), req.Replica)
		}
		if r.Status != http.StatusServiceUnavailable {
			hint := "Answer 503 when the limiter cannot reach Redis."
			if r.Status == http.StatusOK {
				hint = "Fail closed: when the limiter cannot count a request, it must not admit it."
			}
			return scenarios.Failf(fmt.Sprintf("503 Service Unavailable while %s", while), hint, "%s", r.Describe())
		}
		if _, err := retryAfter(r, 1, 1, "a 503", "Send Retry-After: 1 with the 503."); err != nil {
			return err
		}
	}
	// The service is alive while Redis is gone: it answers, with 503s. Its /healthz says so.
	for replica := 1; replica <= h.Replicas(); replica++ {
		r := h.Do(ctx, scenarios.Request{Path: "/healthz", Replica: replica, Timeout: 2 * time.Second})
		if r.Err != nil || r.Status != http.StatusOK {
			return scenarios.Failf(fmt.Sprintf("GET /healthz 200 on replica %d while %s: once a replica has reached Redis, /healthz stays 200 whatever Redis does", replica, while),
				"Keep /healthz about the process, not about Redis: answer 200 once the first connection to Redis has worked, and do not ask Redis again on each call. While Redis is gone the service is alive and answers 503 by itself.",
				"%s, while the same replica answered /api/resource with 503 as it should", r.Describe())
		}
	}
	calls, err := admitted(ctx, h, since, client)
	if err != nil {
		return err
	}
	if len(calls) > 0 {
		return scenarios.Failf(fmt.Sprintf("no call to the downstream while %s", while),
			"Fail closed: when the limiter cannot count a request, it must not admit it.",
			"%d call(s) for %s", len(calls), client)
	}

	if err := h.Agent.Fault(ctx, "redis", restore); err != nil {
		return fmt.Errorf("redis restore: %w", err)
	}
	upAt := time.Now()
	for replica := 1; replica <= h.Replicas(); replica++ {
		var last scenarios.Response
		ok := h.WaitFor(ctx, max(time.Until(upAt.Add(RecoveryWithin)), 0), 200*time.Millisecond, func(ctx context.Context) bool {
			req := hit(newClient("back"), replica)
			req.Timeout = 2 * time.Second
			last = h.Do(ctx, req)
			return last.Err == nil && last.Status == http.StatusOK
		})
		if !ok {
			return scenarios.Failf(fmt.Sprintf("replica %d to admit requests again within %s after Redis recovered", replica, RecoveryWithin),
				"Let the Redis client reconnect by itself, and drop a connection whose command timed out: its late replies would be read as the answers to later commands.",
				"still %s", last.Describe())
		}
	}
	return nil
}

// restoreRedis lifts a Redis fault as a scenario ends, also when it failed with the fault in
// place, so that the grader's health check after the scenario sees the app, not the fault.
// Lifting a fault twice is harmless.
func restoreRedis(ctx context.Context, h *scenarios.Harness, restore agent.Fault) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = h.Agent.Fault(ctx, "redis", restore) // the next scenario's reset clears it anyway
}

// readyOnlyWithRedis restarts one replica while Redis refuses connections: it must keep running
// and answer /healthz 503 — it has never reached Redis — until Redis is back, then become ready
// and admit requests within RecoveryWithin.
func readyOnlyWithRedis(ctx context.Context, h *scenarios.Harness) error {
	replica := h.Replicas()
	svc := scenarios.Replica(replica)
	if err := h.Agent.Fault(ctx, "redis", agent.Fault{Kind: agent.FaultDown}); err != nil {
		return fmt.Errorf("redis fault: %w", err)
	}
	defer restoreRedis(ctx, h, agent.Fault{Kind: agent.FaultUp})
	if err := h.Target.Kill(ctx, svc, "SIGKILL"); err != nil {
		return fmt.Errorf("stop replica %d: %w", replica, err)
	}
	if _, err := h.Target.Wait(ctx, svc); err != nil {
		return fmt.Errorf("wait for replica %d to stop: %w", replica, err)
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	started := make(chan error, 1)
	startedAt := time.Now()
	go func() { started <- h.Target.Start(sctx, svc) }() // returns once /healthz answers 200
	defer func() {
		cancel()
		<-started
	}()

	// While Redis refuses connections: half a second of /healthz answers, never a 200.
	const watch, watchCap = 500 * time.Millisecond, 10 * time.Second
	var firstAnswer time.Time
	var seen []string
	stalled := h.WatchStall(ctx)
	for time.Since(startedAt) < watchCap && (firstAnswer.IsZero() || time.Since(firstAnswer) < watch) {
		r := h.Do(ctx, scenarios.Request{Path: "/healthz", Replica: replica, Timeout: time.Second})
		if r.Err == nil {
			if firstAnswer.IsZero() {
				firstAnswer = time.Now()
			}
			if len(seen) == 0 || seen[len(seen)-1] != statusWord(r) {
				seen = append(seen, statusWord(r))
			}
		}
		if r.Err == nil && r.Status == http.StatusOK {
			probe := h.Do(ctx, hit(newClient("ready"), replica))
			return scenarios.Failf(fmt.Sprintf("GET /healthz 503 on replica %d, restarted while Redis refuses connections: it has never reached Redis", replica),
				"Answer /healthz 503 until your first connection to Redis works (a PING that succeeds), then 200: the grader sends traffic as soon as /healthz says 200.",
				"200 %s after the restart, while /api/resource on the same replica answered %s", time.Since(startedAt).Round(10*time.Millisecond), probe.Describe())
		}
		select {
		case err := <-started:
			started <- err // for the deferred wait
			if err != nil {
				if f, ok := scenarios.AsFailure(err); ok {
					f.Expected = fmt.Sprintf("replica %d, restarted while Redis refuses connections, to keep running and answer /healthz 503 until it reaches Redis", replica)
					f.Hint = "Never crash because Redis is not there yet: connect lazily or retry in the background, and answer 503 meanwhile."
					return f
				}
				return err
			}
		case <-time.After(100 * time.Millisecond):
		}
	}
	if err := judgeNeverAnswered(firstAnswer, time.Since(startedAt), stalled(), replica); err != nil {
		return err
	}
	if err := h.Agent.Fault(ctx, "redis", agent.Fault{Kind: agent.FaultUp}); err != nil {
		return fmt.Errorf("redis restore: %w", err)
	}
	upAt := time.Now()
	select {
	case err := <-started:
		started <- err
		if err != nil {
			return err
		}
	case <-time.After(RecoveryWithin):
		return scenarios.Failf(fmt.Sprintf("replica %d to answer /healthz 200 within %s after Redis accepted connections again", replica, RecoveryWithin),
			"Keep retrying the connection to Redis in the background (every few hundred milliseconds), and answer /healthz 200 as soon as it works.",
			"/healthz answered %s since the restart, still not 200 after %s", strings.Join(seen, " then "), RecoveryWithin)
	}
	var last scenarios.Response
	ok := h.WaitFor(ctx, max(time.Until(upAt.Add(RecoveryWithin)), 0), 200*time.Millisecond, func(ctx context.Context) bool {
		req := hit(newClient("ready"), replica)
		req.Timeout = 2 * time.Second
		last = h.Do(ctx, req)
		return last.Err == nil && last.Status == http.StatusOK
	})
	if !ok {
		return scenarios.Failf(fmt.Sprintf("replica %d, once /healthz said 200, to admit requests within %s after Redis came back", replica, RecoveryWithin),
			"Say ready only when the limiter can count: after your first successful connection to Redis.", "still %s", last.Describe())
	}
	return nil
}
