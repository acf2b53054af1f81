package ratelimiter

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/agent"
)

// Slug names the challenge in the catalog and in templates/.
const Slug = "rate-limiter"

// Scenarios returns the challenge's scenario table in the order it runs: the limit itself
// first, Redis faults last.
func Scenarios() []scenarios.Scenario {
	return []scenarios.Scenario{
		{Slug: "basic_limit", Title: "One client's requests are admitted up to the limit, then refused with 429, across both replicas", Weight: 15, Visibility: scenarios.Public, Run: basicLimit},
		{Slug: "rejection_headers", Title: "Answers carry RateLimit-Policy and RateLimit; a 429 carries Retry-After", Weight: 15, Visibility: scenarios.Public, Run: rejectionHeaders},
		{Slug: "burst_across_replicas", Title: "A burst spread over both replicas admits no more than the limit", Weight: 20, Visibility: scenarios.Public, Run: burstAcrossReplicas},
		{Slug: "client_isolation", Title: "A client over its limit does not use up another client's", Weight: 15, Visibility: scenarios.Public, Run: clientIsolation},
		{Slug: "recovery_after_window", Title: "A client retrying while limited is admitted again once Retry-After has passed", Weight: 10, Visibility: scenarios.Public, Run: recoveryAfterWindow},
		{Slug: "redis_outage", Title: "With Redis down, requests get a quick 503 and nothing is admitted; service resumes when it is back", Weight: 15, Visibility: scenarios.Public, Run: redisDown},
		{Slug: "redis_unresponsive", Title: "With Redis silent, requests still get a quick 503; service resumes when it answers again", Weight: 10, Visibility: scenarios.Hidden, Run: redisSilent},
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
	} {
		r := h.Do(ctx, hit(c.id, 0))
		if r.Err != nil || r.Status != http.StatusBadRequest {
			return scenarios.Failf("400 Bad Request for a request with "+c.what,
				"Validate X-Client-Id (1 to 64 letters, digits, '.', '_' or '-') before counting it or calling the downstream.",
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
	if fits {
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
	}
	return nil
}

func rejectionHeaders(ctx context.Context, h *scenarios.Harness) error {
	since, err := h.Agent.LastCall(ctx)
	if err != nil {
		return err
	}
	n := Limit + 1
	var client string
	var rs []scenarios.Response
	fits, err := fitWindow(ctx, func(ctx context.Context) {
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
	return nil
}

// burstRounds and burstSize make an over-admission likely to show: each round sends three
// times the limit at once, half to each replica.
const (
	burstRounds = 2
	burstSize   = 3 * Limit
)

func burstAcrossReplicas(ctx context.Context, h *scenarios.Harness) error {
	since, err := h.Agent.LastCall(ctx)
	if err != nil {
		return err
	}
	for round := 1; round <= burstRounds; round++ {
		var client string
		var rs []scenarios.Response
		fits, err := fitWindow(ctx, func(ctx context.Context) {
			client = newClient("burst")
			rs = burst(ctx, h, client, burstSize)
		})
		if err != nil {
			return err
		}
		calls, err := admitted(ctx, h, since, client)
		if err != nil {
			return err
		}
		what := fmt.Sprintf("%d simultaneous requests of one client, spread over the replicas (round %d of %d)", burstSize, round, burstRounds)
		if err := judgeRound(what, burstSize, rs, calls, fits, statusCounts); err != nil {
			return err
		}
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
	if ok, _, _ := tally(rb); fits && ok != Limit {
		return scenarios.Failf(fmt.Sprintf("all %d requests of client B admitted, right after client A used up its own limit", Limit),
			"Count each client separately: put the X-Client-Id in the Redis key.",
			"client B got %s", statusList(rb))
	}
	if err := judgeRound(fmt.Sprintf("%d requests of client B, one after another", Limit), Limit, rb, callsB, fits, statusList); err != nil {
		return err
	}
	if fits && (againA.Err != nil || againA.Status != http.StatusTooManyRequests) {
		return scenarios.Failf("429 for client A again after client B's requests", "Client B's requests must not change client A's count.", "%s", againA.Describe())
	}
	return nil
}

// pollEvery is how often a limited client retries in recovery_after_window.
const pollEvery = 250 * time.Millisecond

func recoveryAfterWindow(ctx context.Context, h *scenarios.Harness) error {
	since, err := h.Agent.LastCall(ctx)
	if err != nil {
		return err
	}
	var client string
	var rs []scenarios.Response
	fits, err := fitWindow(ctx, func(ctx context.Context) {
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
	ra, err := retryAfter(rs[len(rs)-1], 1, int(Window.Seconds()), "a 429",
		"Send Retry-After with the seconds until the client's window ends, rounded up to a whole number (never 0).")
	if err != nil {
		return err
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
			return scenarios.Failf(fmt.Sprintf("a request sent %s after a 429 with Retry-After: %d to be admitted", sent.Sub(limitedAt).Round(10*time.Millisecond), ra),
				"Retry-After must say when the client's window ends. A rejected request must not push the window back: key the count by the window's number (Unix time / 2 s), or set the key's expiry only when the key is created.",
				"%s (retries every %s since the 429: %s)", r.Describe(), pollEvery, statusList(tries))
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
	return spanBound(calls, client)
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
	bound := OutageDeadline + OutageSlack
	for i := range outageRequests {
		req := hit(client, i%h.Replicas()+1)
		req.Timeout = bound + 2*time.Second
		r := h.Do(ctx, req)
		if r.Err != nil || r.Duration > bound {
			return scenarios.Failf(fmt.Sprintf("an answer within %s while %s", OutageDeadline, while),
				"Give every Redis call a short deadline (a few hundred milliseconds), do not queue commands while disconnected, and answer 503 when it passes.",
				"%s after %s", r.Describe(), r.Duration.Round(time.Millisecond))
		}
		if r.Status != http.StatusServiceUnavailable {
			hint := "Answer 503 when the limiter cannot reach Redis."
			if r.Status == http.StatusOK {
				hint = "Fail closed: when the limiter cannot count a request, it must not admit it."
			}
			return scenarios.Failf(fmt.Sprintf("503 Service Unavailable while %s", while), hint, "%s", r.Describe())
		}
		if _, err := retryAfter(r, 1, int(Window.Seconds()), "a 503", "Send Retry-After: 1 with the 503."); err != nil {
			return err
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
