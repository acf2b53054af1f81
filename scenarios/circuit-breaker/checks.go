package circuitbreaker

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/agent"
)

func passthrough(ctx context.Context, h *scenarios.Harness) error {
	since, err := closeBreaker(ctx, h)
	if err != nil {
		return err
	}
	// One request after another, then a few at once: each is one call, its answer passed on.
	for _, symbol := range []string{"ACME", "GLOBX", "HF1"} {
		r := quote(ctx, h, symbol)
		calls, err := callsSince(ctx, h, since)
		if err != nil {
			return err
		}
		if err := expectOneCallEach(calls, "one quote of "+symbol, symbol, 1); err != nil {
			return err
		}
		if err := expectPassthrough(r, calls, symbol); err != nil {
			return err
		}
		since = calls[0].Seq
	}
	const together = 6
	rs := h.Concurrent(ctx, together, func(i int) scenarios.Request { return quoteRequest(fmt.Sprintf("C%d", i+1)) })
	calls, err := callsSince(ctx, h, since)
	if err != nil {
		return err
	}
	if len(calls) != together {
		return scenarios.Failf(fmt.Sprintf("exactly %d downstream calls for %d quotes requested at the same time", together, together),
			"While the breaker is closed, call the downstream once for every request, concurrent ones included.",
			"%d call(s): %s (answers: %s)", len(calls), describeCalls(calls), statuses(rs))
	}
	for i, r := range rs {
		if err := expectPassthrough(r, calls, fmt.Sprintf("C%d", i+1)); err != nil {
			return err
		}
	}
	since = calls[len(calls)-1].Seq

	// A request without a symbol is the client's mistake: no call.
	r := h.Do(ctx, scenarios.Request{Path: "/api/quote"})
	if r.Status != http.StatusBadRequest {
		return scenarios.Failf("400 Bad Request for GET /api/quote without a symbol", "Check the symbol before calling the downstream.", "%s", r.Describe())
	}
	if calls, err := callsSince(ctx, h, since); err != nil {
		return err
	} else if len(calls) > 0 {
		return scenarios.Failf("no downstream call for a request without a symbol", "Answer 400 before calling the downstream.", "%s", describeCalls(calls))
	}

	// Three failures of different kinds, each tried exactly once (fewer than the threshold).
	for _, f := range []failure{serverError, slowAnswer} {
		if err := downstream(ctx, h, f.behaviour); err != nil {
			return err
		}
		r := quote(ctx, h, "FAIL")
		if err := expectFailure(r, f); err != nil {
			return err
		}
		calls, err := callsSince(ctx, h, since)
		if err != nil {
			return err
		}
		if err := expectOneCallEach(calls, "one request while the downstream "+f.what, "FAIL", 1); err != nil {
			return err
		}
		since = calls[0].Seq
	}
	if err := downstream(ctx, h, agent.DownstreamBehaviour{}); err != nil {
		return err
	}
	if err := h.Agent.Fault(ctx, "downstream", agent.Fault{Kind: agent.FaultDown}); err != nil {
		return fmt.Errorf("take the downstream link down: %w", err)
	}
	r = quote(ctx, h, "DOWN")
	if late := DownstreamTimeout + TimeoutSlack; r.Err != nil || r.Duration > late || r.Status != http.StatusBadGateway {
		return scenarios.Failf(fmt.Sprintf("502 Bad Gateway within %s when the downstream refuses connections", late),
			"Treat a connection error like a 5xx: answer 502 (and count it as a failure).",
			"%s after %s", r.Describe(), r.Duration.Round(time.Millisecond))
	}
	if err := h.Agent.Fault(ctx, "downstream", agent.Fault{Kind: agent.FaultClear}); err != nil {
		return fmt.Errorf("bring the downstream link back: %w", err)
	}
	// Three failures are below the threshold: the next request goes through.
	r = quote(ctx, h, "BACK")
	calls, err = callsSince(ctx, h, since)
	if err != nil {
		return err
	}
	if r.Status == http.StatusServiceUnavailable {
		return scenarios.Failf(fmt.Sprintf("the breaker to stay closed after 3 failures (it opens at %d consecutive ones)", Threshold),
			"Open the breaker only at the fifth consecutive failure.", "%s", r.Describe())
	}
	if err := expectOneCallEach(calls, "one request once the downstream is healthy again", "BACK", 1); err != nil {
		return err
	}
	return expectPassthrough(r, calls, "BACK")
}

func opensAfterThreshold(ctx context.Context, h *scenarios.Harness) error {
	since, err := closeBreaker(ctx, h)
	if err != nil {
		return err
	}
	t, err := trip(ctx, h, since, serverError, "TRIP")
	if err != nil {
		return err
	}
	return expectOpen(ctx, h, t.seq, t.openedBy(), t.fifthRecv, "TRIP",
		fmt.Sprintf("right after %d consecutive failures (the downstream answers 503)", Threshold),
		"Once the breaker is open, answer 503 without calling the downstream until the 1 s cooldown has passed.")
}

func failFastUnderLatency(ctx context.Context, h *scenarios.Harness) error {
	since, err := closeBreaker(ctx, h)
	if err != nil {
		return err
	}
	t, err := trip(ctx, h, since, slowAnswer, "SLOW")
	if err != nil {
		return err
	}
	return expectOpen(ctx, h, t.seq, t.openedBy(), t.fifthRecv, "SLOW",
		fmt.Sprintf("right after %d consecutive timeouts (the downstream takes 3 s to answer)", Threshold),
		"A call that passes its 500 ms deadline is a failure like a 5xx: count it, and once the breaker is open answer 503 without calling the downstream.")
}

func singleProbe(ctx context.Context, h *scenarios.Harness) error {
	since, err := closeBreaker(ctx, h)
	if err != nil {
		return err
	}
	t, err := trip(ctx, h, since, serverError, "PROBE")
	if err != nil {
		return err
	}
	// The downstream has recovered but is slow: the probe stays in flight while the burst lands.
	if err := downstream(ctx, h, agent.DownstreamBehaviour{LatencyMS: probeLatency}); err != nil {
		return err
	}
	if err := sleepUntil(ctx, t.probeDue()); err != nil {
		return err
	}
	rs := h.Concurrent(ctx, burst, func(int) scenarios.Request { return quoteRequest("PROBE") })
	calls, err := callsSince(ctx, h, t.seq)
	if err != nil {
		return err
	}
	wait := t.probeDue().Sub(t.fifthRecv)
	if len(calls) == 0 {
		return scenarios.Failf(fmt.Sprintf("one of %d requests sent together %s after the breaker opened to reach the downstream as a probe", burst, wait),
			"After the 1 s cooldown, let the first request through as a probe.",
			"no downstream call; answers: %s", statuses(rs))
	}
	probe := calls[0]
	end := probe.End
	if end.IsZero() {
		end = probe.Start.Add(probeLatency * time.Millisecond)
	}
	var during []agent.Call
	for _, c := range calls[1:] {
		if c.Start.Before(end) {
			during = append(during, c)
		}
	}
	if len(during) > 0 {
		return scenarios.Failf(fmt.Sprintf("exactly one downstream call while the probe was in flight (the downstream took %d ms to answer it), for %d requests sent together after the cooldown", probeLatency, burst),
			"In half-open let exactly one request through; answer 503 to every other request until the probe's result is in.",
			"%d calls started before the probe's answer: %s (answers: %s)", len(during)+1, describeCalls(calls), statuses(rs))
	}
	ok := 0
	for _, r := range rs {
		switch r.Status {
		case http.StatusOK:
			ok++
		case http.StatusServiceUnavailable:
		default:
			return scenarios.Failf("200 for the probe and 503 for the requests that arrived while it was in flight",
				"Requests that are not the probe get 503 at once.", "%s (answers: %s)", r.Describe(), statuses(rs))
		}
	}
	if ok == 0 {
		return scenarios.Failf(fmt.Sprintf("200 for the probe: the downstream answered it in %d ms, within the 500 ms deadline", probeLatency),
			"Give the probe the same 500 ms deadline as any call, and return its answer.", "answers: %s", statuses(rs))
	}
	return expectClosed(ctx, h, "after a successful probe")
}

// expectClosed checks, with a healthy downstream, that three requests one after another are each
// tried once and answered 200.
func expectClosed(ctx context.Context, h *scenarios.Harness, what string) error {
	if err := downstream(ctx, h, agent.DownstreamBehaviour{}); err != nil {
		return err
	}
	since, err := h.Agent.LastCall(ctx)
	if err != nil {
		return err
	}
	for i := 1; i <= 3; i++ {
		r := quote(ctx, h, "AFTER")
		if r.Status == http.StatusServiceUnavailable {
			return scenarios.Failf(fmt.Sprintf("the breaker closed %s: request %d of 3 to reach the healthy downstream", what, i),
				"When the probe succeeds, close the breaker and reset the failure count.", "%s", r.Describe())
		}
		calls, err := callsSince(ctx, h, since)
		if err != nil {
			return err
		}
		if err := expectOneCallEach(calls, fmt.Sprintf("request %d of 3 %s", i, what), "AFTER", 1); err != nil {
			return err
		}
		if err := expectPassthrough(r, calls, "AFTER"); err != nil {
			return err
		}
		since = calls[0].Seq
	}
	return nil
}

func probeFailureReopens(ctx context.Context, h *scenarios.Harness) error {
	since, err := closeBreaker(ctx, h)
	if err != nil {
		return err
	}
	t, err := trip(ctx, h, since, serverError, "REOPEN")
	if err != nil {
		return err
	}
	if err := sleepUntil(ctx, t.probeDue()); err != nil {
		return err
	}
	probeSend := time.Now()
	r := quote(ctx, h, "REOPEN")
	probeRecv := time.Now()
	if r.Status == http.StatusServiceUnavailable {
		return scenarios.Failf(fmt.Sprintf("a probe to be let through %s after the breaker opened", t.probeDue().Sub(t.fifthRecv)),
			"Measure the 1 s cooldown from the moment the breaker opened, then let one request through.", "%s", r.Describe())
	}
	if err := expectFailure(r, serverError); err != nil {
		return err
	}
	calls, err := callsSince(ctx, h, t.seq)
	if err != nil {
		return err
	}
	if err := expectOneCallEach(calls, "the probe", "REOPEN", 1); err != nil {
		return err
	}
	if err := expectOpen(ctx, h, calls[0].Seq, probeSend, probeRecv, "REOPEN", "right after the probe failed",
		"A failed probe opens the breaker again for a full cooldown: answer 503 without calling the downstream."); err != nil {
		return err
	}
	// The next probe, one cooldown later, finds the downstream healthy. The wait counts from the
	// last refused request rather than the failed probe: that is never too early.
	refusedUntil := time.Now()
	if err := downstream(ctx, h, agent.DownstreamBehaviour{}); err != nil {
		return err
	}
	if err := sleepUntil(ctx, refusedUntil.Add(Cooldown+afterCooldown)); err != nil {
		return err
	}
	r = quote(ctx, h, "REOPEN")
	if r.Status != http.StatusOK {
		return scenarios.Failf(fmt.Sprintf("the next probe, more than %s after the failed one, to be let through and answered 200 (the downstream is healthy again)", Cooldown+afterCooldown),
			"After a failed probe, wait one more cooldown, then let the next request through as a probe.", "%s", r.Describe())
	}
	return nil
}

func recoversUnderTraffic(ctx context.Context, h *scenarios.Harness) error {
	since, err := closeBreaker(ctx, h)
	if err != nil {
		return err
	}
	t, err := trip(ctx, h, since, serverError, "STEADY")
	if err != nil {
		return err
	}
	if err := downstream(ctx, h, agent.DownstreamBehaviour{}); err != nil {
		return err
	}
	const interval = 100 * time.Millisecond
	within := Cooldown + time.Second
	deadline := t.fifthRecv.Add(within)
	refused := 0
	for {
		r := quote(ctx, h, "STEADY")
		if r.Status == http.StatusOK {
			break
		}
		if r.Status != http.StatusServiceUnavailable {
			return scenarios.Failf("503 while the breaker is open, then 200 once a probe finds the downstream healthy",
				"While open answer 503; after the cooldown let one request through.", "%s", r.Describe())
		}
		refused++
		if time.Now().After(deadline) || refused >= 40 {
			return scenarios.Failf(fmt.Sprintf("a request to be let through as a probe within %s of the breaker opening, with a request every %s meanwhile", within, interval),
				"Measure the cooldown from the moment the breaker opened: a request refused while open must not restart it.",
				"%d requests refused with 503 over %s", refused, time.Since(t.fifthRecv).Round(time.Millisecond))
		}
		if err := sleepUntil(ctx, time.Now().Add(interval)); err != nil {
			return err
		}
	}
	return expectClosed(ctx, h, "after a probe under steady traffic")
}

func consecutiveFailures(ctx context.Context, h *scenarios.Harness) error {
	since, err := closeBreaker(ctx, h)
	if err != nil {
		return err
	}
	const failures = Threshold - 1
	for round := 1; round <= 2; round++ {
		if err := downstream(ctx, h, serverError.behaviour); err != nil {
			return err
		}
		for i := 1; i <= failures; i++ {
			r := quote(ctx, h, "STREAK")
			if r.Status == http.StatusServiceUnavailable {
				return scenarios.Failf(fmt.Sprintf("failure %d of %d after a success to be tried (502): only %d consecutive failures open the breaker", i, failures, Threshold),
					"Reset the consecutive-failure count on every success.", "%s", r.Describe())
			}
			if err := expectFailure(r, serverError); err != nil {
				return err
			}
		}
		if err := downstream(ctx, h, agent.DownstreamBehaviour{}); err != nil {
			return err
		}
		if r := quote(ctx, h, "STREAK"); r.Status != http.StatusOK {
			return scenarios.Failf(fmt.Sprintf("200 from a healthy downstream after %d failures (fewer than %d)", failures, Threshold),
				"Open the breaker only at the fifth consecutive failure.", "%s", r.Describe())
		}
	}
	calls, err := callsSince(ctx, h, since)
	if err != nil {
		return err
	}
	return expectOneCallEach(calls, fmt.Sprintf("two rounds of %d failures and a success", failures), "STREAK", 2*(failures+1))
}

func retryStorm(ctx context.Context, h *scenarios.Harness) error {
	since, err := closeBreaker(ctx, h)
	if err != nil {
		return err
	}
	if err := downstream(ctx, h, serverError.behaviour); err != nil {
		return err
	}
	const n = 2 * burst
	build := func(int) scenarios.Request { return quoteRequest("STORM") }
	start := time.Now()
	first := h.Concurrent(ctx, n, build)
	firstDone := time.Now()
	tried := 0
	for _, r := range first {
		switch r.Status {
		case http.StatusBadGateway:
			tried++
		case http.StatusServiceUnavailable:
		default:
			return scenarios.Failf(fmt.Sprintf("502 or 503 for each of %d requests sent together while the downstream answers 503", n),
				"Answer 502 for a failed call and 503 once the breaker is open.", "%s (answers: %s)", r.Describe(), statuses(first))
		}
	}
	if tried < Threshold {
		return scenarios.Failf(fmt.Sprintf("at least %d of %d requests sent together to be tried (502) before the breaker opens", Threshold, n),
			"Open the breaker at the fifth consecutive failure, not before.", "answers: %s", statuses(first))
	}
	second := h.Concurrent(ctx, n, build)
	calls, err := callsSince(ctx, h, since)
	if err != nil {
		return err
	}
	// The breaker opened after start, so no probe is due before start+Cooldown; it had opened by
	// the time the first burst's failures were answered.
	var inCooldown, afterOpen []agent.Call
	for _, c := range calls {
		if !c.Start.Before(start.Add(Cooldown)) {
			continue
		}
		inCooldown = append(inCooldown, c)
		if !c.Start.Before(firstDone) {
			afterOpen = append(afterOpen, c)
		}
	}
	if len(afterOpen) > 0 {
		return scenarios.Failf(fmt.Sprintf("no downstream call for a second burst of %d requests, sent once the first burst's failures had opened the breaker", n),
			"While the breaker is open, answer 503 from the breaker alone.",
			"%d call(s) during the second burst (answers: %s)", len(afterOpen), statuses(second))
	}
	if len(inCooldown) > n {
		return scenarios.Failf(fmt.Sprintf("at most %d downstream calls for two bursts of %d requests (one call per request at most, none once the breaker is open)", n, n),
			"Do not retry a failed call inside a request: the breaker is what protects the downstream, and retries multiply the load on it.",
			"%d calls", len(inCooldown))
	}
	return nil
}
