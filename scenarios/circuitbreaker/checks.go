package circuitbreaker

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/agent"
)

func passthrough(ctx context.Context, h *scenarios.Harness) error {
	from, err := closeBreaker(ctx, h)
	if err != nil {
		return err
	}
	since := from.seq
	// One request after another, then a few at once: each is one call, its answer passed on.
	// AT&T must reach the downstream URL-encoded, or the downstream reads the symbol "AT".
	for _, symbol := range []string{"ACME", "AT&T", "HF1"} {
		r := quote(ctx, h, symbol)
		calls, err := h.DownstreamCalls(ctx, since)
		if err != nil {
			return err
		}
		if err := expectOneCallEach(calls, "one quote of "+symbol, []string{symbol}, 1); err != nil {
			return err
		}
		if err := expectPassthrough(r, calls, symbol); err != nil {
			return err
		}
		since = calls[0].Seq
	}
	const together = 6
	rs := h.Concurrent(ctx, together, func(i int) scenarios.Request { return quoteRequest(fmt.Sprintf("C%d", i+1)) })
	calls, err := h.DownstreamCalls(ctx, since)
	if err != nil {
		return err
	}
	if len(calls) != together {
		return scenarios.Failf(fmt.Sprintf("exactly %d downstream calls for %d quotes requested at the same time", together, together),
			"While the breaker is closed, call the downstream once for every request, concurrent ones included.",
			"%d call(s): %s (answers: %s)", len(calls), describeCalls(calls), scenarios.StatusCounts(rs))
	}
	for i, r := range rs {
		if err := expectPassthrough(r, calls, fmt.Sprintf("C%d", i+1)); err != nil {
			return err
		}
	}
	since = calls[len(calls)-1].Seq

	// A request without a symbol, or with an empty one, is the client's mistake: no call.
	for _, c := range []struct{ path, what string }{
		{"/api/quote", "without a symbol"},
		{"/api/quote?symbol=", "with an empty symbol"},
	} {
		r := h.Do(ctx, scenarios.Request{Path: c.path})
		if r.Status != http.StatusBadRequest {
			return scenarios.Failf(fmt.Sprintf("400 Bad Request for GET %s (a request %s)", c.path, c.what),
				"Check that the symbol is present and not empty before calling the downstream.", "%s", r.Describe())
		}
		if calls, err := h.DownstreamCalls(ctx, since); err != nil {
			return err
		} else if len(calls) > 0 {
			return scenarios.Failf(fmt.Sprintf("no downstream call for a request %s", c.what), "Answer 400 before calling the downstream.", "%s", describeCalls(calls))
		}
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
		calls, err := h.DownstreamCalls(ctx, since)
		if err != nil {
			return err
		}
		if err := expectOneCallEach(calls, "one request while the downstream "+f.what, []string{"FAIL"}, 1); err != nil {
			return err
		}
		since = calls[0].Seq
	}
	if err := apply(ctx, h, refused); err != nil {
		return err
	}
	r := quote(ctx, h, "DOWN")
	if late := DownstreamTimeout + TimeoutSlack; r.Err != nil || r.Duration > late || r.Status != http.StatusBadGateway {
		return scenarios.Failf(fmt.Sprintf("502 Bad Gateway within %s when the downstream refuses connections", late),
			"Treat a connection error like a 5xx: answer 502 (and count it as a failure).",
			"%s", r.DescribeTook())
	}
	if err := h.DownstreamLink(ctx, true); err != nil {
		return err
	}
	// Three failures are below the threshold: the next request goes through.
	r = quote(ctx, h, "BACK")
	calls, err = h.DownstreamCalls(ctx, since)
	if err != nil {
		return err
	}
	if r.Status == http.StatusServiceUnavailable {
		return scenarios.Failf(fmt.Sprintf("the breaker to stay closed after 3 failures (it opens at %d consecutive ones)", Threshold),
			"Open the breaker only at the fifth consecutive failure.", "%s", r.Describe())
	}
	if err := expectOneCallEach(calls, "one request once the downstream is healthy again", []string{"BACK"}, 1); err != nil {
		return err
	}
	return expectPassthrough(r, calls, "BACK")
}

func opensAfterThreshold(ctx context.Context, h *scenarios.Harness) error {
	from, err := closeBreaker(ctx, h)
	if err != nil {
		return err
	}
	// Five failures for five symbols: the downstream is one service, and its breaker is one.
	failing := []string{"TRIP-A", "TRIP-B", "TRIP-C", "TRIP-D", "TRIP-E"}
	t, err := trip(ctx, h, from, serverError, failing...)
	if err != nil {
		return err
	}
	err = expectOpen(ctx, h, openCheck{since: t.seq, openedBy: t.openedBy(), from: t.fifthRecv,
		symbols: []string{"TRIP-F", "TRIP-A", "TRIP-G", "TRIP-E"}, late: true, failure: serverError, failedCall: t.fifthCall,
		what: fmt.Sprintf("right after %d consecutive failures for %d different symbols (the downstream answers 503)", Threshold, len(failing)),
		hint: "Once the breaker is open, answer 503 to every request, whatever its symbol, without calling the downstream until the 1 s cooldown has passed."})
	if _, ok := scenarios.AsFailure(err); ok {
		scoped, derr := breakerPerSymbol(ctx, h, t, failing)
		if derr != nil {
			return derr
		}
		if scoped != nil {
			return scoped
		}
	}
	return err
}

// breakerPerSymbol tells, after a breaker that five failures of five symbols did not open, whether
// five failures of one symbol open it: the mark of one breaker per symbol. It returns the
// learner's failure if so, nil otherwise.
func breakerPerSymbol(ctx context.Context, h *scenarios.Harness, t tripped, failing []string) (*scenarios.Failure, error) {
	leaked, err := h.DownstreamCalls(ctx, t.seq)
	if err != nil || len(leaked) == 0 {
		return nil, err
	}
	const symbol = "TRIP-H"
	since, err := h.Agent.LastCall(ctx)
	if err != nil {
		return nil, err
	}
	for i := 1; i <= Threshold; i++ {
		if r := quote(ctx, h, symbol); r.Status != http.StatusBadGateway {
			return nil, nil
		}
	}
	r := quote(ctx, h, symbol)
	calls, err := h.DownstreamCalls(ctx, since)
	if err != nil || r.Status != http.StatusServiceUnavailable || len(calls) != Threshold {
		return nil, err
	}
	return &scenarios.Failure{
		Expected: fmt.Sprintf("one breaker for every symbol: %d consecutive failures for %s open it, and then every request gets 503 without a downstream call, whatever its symbol",
			Threshold, strings.Join(failing, ", ")),
		Actual: fmt.Sprintf("after those %d failures the downstream still got %d call(s): %s; yet %d failures of %s alone did open a breaker (request %d for %s got 503 without a call)",
			Threshold, len(leaked), describeCalls(leaked), Threshold, symbol, Threshold+1, symbol),
		Hint: "Keep one breaker for the whole downstream — one failure count and one state, shared by every symbol: when the quote service fails, it fails for all of them.",
	}, nil
}

func failFastUnderLatency(ctx context.Context, h *scenarios.Harness) error {
	from, err := closeBreaker(ctx, h)
	if err != nil {
		return err
	}
	t, err := trip(ctx, h, from, slowAnswer, "SLOW")
	if err != nil {
		return err
	}
	return expectOpen(ctx, h, openCheck{since: t.seq, openedBy: t.openedBy(), from: t.fifthRecv, symbols: []string{"SLOW"},
		late: true, failure: slowAnswer, failedCall: t.fifthCall,
		what: fmt.Sprintf("right after %d consecutive timeouts (the downstream takes 3 s to answer)", Threshold),
		hint: "A call that passes its 500 ms deadline is a failure like a 5xx: count it, and once the breaker is open answer 503 without calling the downstream."})
}

func singleProbe(ctx context.Context, h *scenarios.Harness) error {
	from, err := closeBreaker(ctx, h)
	if err != nil {
		return err
	}
	t, err := trip(ctx, h, from, serverError, "PROBE")
	if err != nil {
		return err
	}
	// The downstream has recovered but is slow: the probe stays in flight while the burst lands.
	if err := downstream(ctx, h, agent.DownstreamBehaviour{LatencyMS: probeLatency}); err != nil {
		return err
	}
	// Open the connections the burst will use now: dialled during the burst, some of its
	// requests reach the app a few hundred milliseconds after the others on a loaded machine,
	// after the probe's answer.
	h.Concurrent(ctx, 2*burst, func(int) scenarios.Request { return scenarios.Request{Path: "/healthz"} })
	if err := scenarios.SleepUntil(ctx, t.probeDue()); err != nil {
		return err
	}
	reqs := make([]scenarios.Request, burst)
	for i := range reqs {
		reqs[i] = quoteRequest("PROBE")
	}
	answers := quotesTimed(ctx, h, reqs)
	rs := make([]scenarios.Response, burst)
	for i, a := range answers {
		rs[i] = a.Response
	}
	calls, err := h.DownstreamCalls(ctx, t.seq)
	if err != nil {
		return err
	}
	wait := t.probeDue().Sub(t.fifthRecv)
	if len(calls) == 0 {
		return scenarios.Failf(fmt.Sprintf("one of %d requests sent together %s after the breaker opened to reach the downstream as a probe", burst, wait),
			"After the 1 s cooldown, let the first request through as a probe.",
			"no downstream call; answers: %s", scenarios.StatusCounts(rs))
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
			"%d calls started before the probe's answer: %s (answers: %s)", len(during)+1, describeCalls(calls), scenarios.StatusCounts(rs))
	}
	var refusedIn, letThrough []timed
	for i, r := range rs {
		switch r.Status {
		case http.StatusOK:
			letThrough = append(letThrough, answers[i])
		case http.StatusServiceUnavailable:
			if got := r.Header.Get("Retry-After"); got != RetryAfter {
				return scenarios.Failf(fmt.Sprintf("the same 503 with Retry-After: %s for the requests that arrive while the probe is in flight", RetryAfter),
					"While the probe runs the breaker is as good as open: answer 503 with Retry-After: 1, as while open.", "Retry-After %q", got)
			}
			refusedIn = append(refusedIn, answers[i])
		default:
			return scenarios.Failf("200 for the probe and 503 for the requests that arrived while it was in flight",
				"Requests that are not the probe get 503 at once.", "%s (answers: %s)", r.Describe(), scenarios.StatusCounts(rs))
		}
	}
	if len(letThrough) == 0 {
		return scenarios.Failf(fmt.Sprintf("200 for the probe: the downstream answered it in %d ms, within the 500 ms deadline", probeLatency),
			"Give the probe the same 500 ms deadline as any call, and return its answer.", "answers: %s", scenarios.StatusCounts(rs))
	}
	// Every call after the probe's started once its answer was in (checked above). A request let
	// through besides the probe waited for it if the app answered the control sent with it
	// well before the probe's answer: the app was answering while the probe was in flight, so
	// the request had reached it. One whose control came back later may have reached the app
	// only after the answer, on a loaded machine, and a closed breaker rightly lets it through.
	answering := end.Add(-arrivalSkew)
	var waited []timed
	for _, a := range letThrough {
		if seqOf(a.Response) != probe.Seq && (a.ControlAt.IsZero() || a.ControlAt.Before(answering)) {
			waited = append(waited, a)
		}
	}
	if len(waited) > 0 {
		fastest := waited[0].Duration
		for _, r := range waited {
			fastest = min(fastest, r.Duration)
		}
		return scenarios.Failf(fmt.Sprintf("a fast 503 for the %d requests that arrived with the probe, while it was in flight (the downstream took %d ms to answer it)", burst-1, probeLatency),
			"Decide every request at once from the breaker's state: while the probe is in flight answer the others 503 straight away, without waiting for its result (a lock held across the probe's call makes them wait).",
			"%d of them were answered 200 after %s or more, each with a downstream call that started only after the probe's answer: %s (answers: %s)",
			len(waited), fastest.Round(time.Millisecond), describeCalls(calls), scenarios.StatusCounts(rs))
	}
	// The 503s must not wait for the probe either. Under load, refusals that contend for one
	// lock come back slower than their controls, but not after the probe's answer: most of them
	// coming back only then, while the app answered their controls before it, waited for it.
	var refusedLate []timed
	for _, a := range refusedIn {
		if a.At.After(end) && (a.ControlAt.IsZero() || a.ControlAt.Before(answering)) {
			refusedLate = append(refusedLate, a)
		}
	}
	if len(refusedLate) > 0 && 2*len(refusedLate) >= len(refusedIn) {
		fastest := refusedLate[0].Duration
		for _, r := range refusedLate {
			fastest = min(fastest, r.Duration)
		}
		return scenarios.Failf(fmt.Sprintf("a 503 at once for the requests that arrived while the probe was in flight (the downstream took %d ms to answer it), without waiting for its result", probeLatency),
			"Do not make the other requests wait for the probe: refuse them from the breaker's state alone.",
			"%d of the %d 503s came back only after the probe's answer, after %s or more, though the app answered the GET /healthz sent with each before it (answers: %s)",
			len(refusedLate), len(refusedIn), fastest.Round(time.Millisecond), scenarios.StatusCounts(rs))
	}
	if err := halfOpenUntested(len(refusedIn), len(waited), len(letThrough)); err != nil {
		return err
	}
	return expectClosed(ctx, h, "after a successful probe")
}

// halfOpenUntested is single_half_open_probe's round when no request besides the probe was
// judged: none refused, and every one let through may have reached the app only after the
// probe's answer (its control came back late, on a loaded machine), so whether the app made
// them wait for the probe (broken-probe-holds-lock) was not tested: Inconclusive, not a pass.
func halfOpenUntested(refused, waited, letThrough int) error {
	if refused > 0 || waited > 0 || letThrough <= 1 {
		return nil
	}
	return scenarios.Inconclusivef("none of the %d requests sent with the probe was refused, and each may have reached the app only after the probe's answer (the GET /healthz sent with it came back late): whether they waited for the probe was not judged", letThrough-1)
}

// seqOf reads the downstream's call number from an answer passed on (0 if it has none).
func seqOf(r scenarios.Response) int {
	var body struct {
		Seq int `json:"seq"`
	}
	if json.Unmarshal(r.Body, &body) != nil {
		return 0
	}
	return body.Seq
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
		calls, err := h.DownstreamCalls(ctx, since)
		if err != nil {
			return err
		}
		if err := expectOneCallEach(calls, fmt.Sprintf("request %d of 3 %s", i, what), []string{"AFTER"}, 1); err != nil {
			return err
		}
		if err := expectPassthrough(r, calls, "AFTER"); err != nil {
			return err
		}
		since = calls[0].Seq
	}
	return nil
}

func recoversUnderTraffic(ctx context.Context, h *scenarios.Harness) error {
	from, err := closeBreaker(ctx, h)
	if err != nil {
		return err
	}
	t, err := trip(ctx, h, from, serverError, "STEADY")
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
		if err := scenarios.SleepUntil(ctx, time.Now().Add(interval)); err != nil {
			return err
		}
	}
	return expectClosed(ctx, h, "after a probe under steady traffic")
}

// consecutiveFailures sends three rounds of four failures, each ended by an answer below 500: a
// 200, a 404 (the downstream's answer, passed on), a 200. None of them may open the breaker.
func consecutiveFailures(ctx context.Context, h *scenarios.Harness) error {
	from, err := closeBreaker(ctx, h)
	if err != nil {
		return err
	}
	since := from.seq
	const failures = Threshold - 1
	previous := 0 // the answer below 500 that ended the round before (0: none yet)
	for _, answer := range []int{http.StatusOK, http.StatusNotFound, http.StatusOK} {
		if err := downstream(ctx, h, serverError.behaviour); err != nil {
			return err
		}
		for i := 1; i <= failures; i++ {
			r := quote(ctx, h, "STREAK")
			if r.Status == http.StatusServiceUnavailable {
				expected := fmt.Sprintf("failure %d of %d to be tried (502): only %d consecutive failures open the breaker", i, failures, Threshold)
				hint := "Count consecutive failures from a closed breaker and open at the fifth."
				switch {
				case previous == http.StatusOK:
					expected = fmt.Sprintf("failure %d of %d after a 200 to be tried (502): the 200 reset the count, and only %d consecutive failures open the breaker", i, failures, Threshold)
					hint = "Reset the consecutive-failure count on every success."
				case previous != 0:
					expected = fmt.Sprintf("failure %d of %d after a %d to be tried (502): the %d reset the count, and only %d consecutive failures open the breaker", i, failures, previous, previous, Threshold)
					hint = fmt.Sprintf("A %d is the downstream's answer, not its failure: any status below 500 is a success and resets the count to 0. Count only 5xx answers, connection errors and deadlines.", previous)
				}
				return scenarios.Failf(expected, hint, "%s", r.Describe())
			}
			if err := expectFailure(r, serverError); err != nil {
				return err
			}
		}
		if err := downstream(ctx, h, agent.DownstreamBehaviour{Status: answer}); err != nil {
			return err
		}
		r := quote(ctx, h, "STREAK")
		if r.Status == http.StatusServiceUnavailable {
			return scenarios.Failf(fmt.Sprintf("the request after %d failures (fewer than %d) to be tried: the downstream answers %d", failures, Threshold, answer),
				"Open the breaker only at the fifth consecutive failure.", "%s", r.Describe())
		}
		calls, err := h.DownstreamCalls(ctx, since)
		if err != nil {
			return err
		}
		if answer == http.StatusOK {
			err = expectPassthrough(r, calls, "STREAK")
		} else {
			err = expectRelayed(r, calls, "STREAK", answer)
		}
		if err != nil {
			return err
		}
		previous = answer
	}
	calls, err := h.DownstreamCalls(ctx, since)
	if err != nil {
		return err
	}
	return expectOneCallEach(calls, fmt.Sprintf("three rounds of %d failures and an answer below 500", failures), []string{"STREAK"}, 3*(failures+1))
}

// probeFailureReopens opens the breaker with refused connections, then fails three probes in a
// row, one of each kind the brief names — a 5xx, the deadline, a refused connection — and holds
// the app to reopening after each; the fourth probe finds the downstream healthy and closes it.
func probeFailureReopens(ctx context.Context, h *scenarios.Harness) error {
	from, err := closeBreaker(ctx, h)
	if err != nil {
		return err
	}
	t, err := trip(ctx, h, from, refused, "REOPEN")
	if err != nil {
		return err
	}
	if err := expectOpen(ctx, h, openCheck{since: t.seq, openedBy: t.openedBy(), from: t.fifthRecv, symbols: []string{"REOPEN"}, failure: refused,
		what: fmt.Sprintf("right after %d consecutive refused connections (the downstream is reachable again)", Threshold),
		hint: "A refused connection is a failure like a 5xx: count it, open the breaker at the fifth in a row, and answer 503 without calling the downstream."}); err != nil {
		return err
	}
	due := t.probeDue()
	previous := fmt.Sprintf("the breaker opened on %d refused connections, and it stays open one cooldown", Threshold)
	var lastProbe time.Time // when the downstream got the last failed probe (zero: it got none)
	for _, f := range []failure{serverError, hangs, refused} {
		if err := apply(ctx, h, f); err != nil {
			return err
		}
		if err := scenarios.SleepUntil(ctx, due); err != nil {
			return err
		}
		since, err := h.Agent.LastCall(ctx)
		if err != nil {
			return err
		}
		probeSend := time.Now()
		r := quote(ctx, h, "REOPEN")
		probeRecv := time.Now()
		if f.refuse {
			if err := h.DownstreamLink(ctx, true); err != nil {
				return err
			}
		}
		if r.Status == http.StatusServiceUnavailable {
			return notProbed(ctx, h, since, due, previous, lastProbe)
		}
		if err := expectFailure(r, f); err != nil {
			return err
		}
		calls, err := h.DownstreamCalls(ctx, since)
		if err != nil {
			return err
		}
		failedCall := time.Time{}
		if !f.refuse {
			if err := expectOneCallEach(calls, "the probe", []string{"REOPEN"}, 1); err != nil {
				return err
			}
			since, failedCall = calls[0].Seq, calls[0].Start
		}
		// Any call now is one too many: the downstream answers 503 and records it.
		if err := downstream(ctx, h, serverError.behaviour); err != nil {
			return err
		}
		if err := expectOpen(ctx, h, openCheck{since: since, openedBy: probeSend.Add(f.latency), from: probeRecv, symbols: []string{"REOPEN"},
			late: f.latency > 0, failure: f, failedCall: failedCall,
			what: fmt.Sprintf("right after the probe failed (the downstream %s, the app answered %d)", f.what, r.Status),
			hint: "A failed probe — a 5xx, a refused connection or its deadline — opens the breaker again for a full cooldown: answer 503 without calling the downstream."}); err != nil {
			return err
		}
		// The next probe is due one cooldown after the last refused request: never too early,
		// even for a breaker that (wrongly) restarts its cooldown on refused requests.
		due = time.Now().Add(Cooldown + afterCooldown)
		previous = fmt.Sprintf("the probe before it failed — the downstream %s, the app answered %d — and that opens the breaker for one more cooldown only", f.what, r.Status)
		lastProbe = failedCall
	}
	if err := downstream(ctx, h, agent.DownstreamBehaviour{}); err != nil {
		return err
	}
	if err := scenarios.SleepUntil(ctx, due); err != nil {
		return err
	}
	since, err := h.Agent.LastCall(ctx)
	if err != nil {
		return err
	}
	if r := quote(ctx, h, "REOPEN"); r.Status == http.StatusServiceUnavailable {
		return notProbed(ctx, h, since, due, previous, lastProbe)
	} else if r.Status != http.StatusOK {
		return scenarios.Failf("200 for a probe that finds the downstream healthy again", "Return the probe's answer, and close the breaker when it succeeds.", "%s", r.Describe())
	}
	// Closed by the probe, with a failure count of 0: four failures in a row leave it closed.
	if err := downstream(ctx, h, serverError.behaviour); err != nil {
		return err
	}
	for i := 1; i <= Threshold-1; i++ {
		r := quote(ctx, h, "REOPEN")
		if r.Status == http.StatusServiceUnavailable {
			return scenarios.Failf(fmt.Sprintf("failure %d of %d right after a successful probe to be tried (502): the probe closes the breaker with a failure count of 0", i, Threshold-1),
				"When the probe succeeds, close the breaker and set its failure count to 0: the failures that opened it are history.", "%s", r.Describe())
		}
		if err := expectFailure(r, serverError); err != nil {
			return err
		}
	}
	return nil
}

// notProbed diagnoses a request refused when a probe was due (sent at due, more than a cooldown
// after the breaker last opened): it asks once more one cooldown later and reads the
// downstream's record to tell a breaker that never probes again from one that is merely slow.
func notProbed(ctx context.Context, h *scenarios.Harness, since int, due time.Time, previous string, lastProbe time.Time) error {
	again := time.Now().Add(Cooldown + afterCooldown)
	if err := scenarios.SleepUntil(ctx, again); err != nil {
		return err
	}
	r := quote(ctx, h, "REOPEN")
	calls, err := h.DownstreamCalls(ctx, since)
	if err != nil {
		return err
	}
	expected := fmt.Sprintf("a request sent more than %s after the breaker's last refusal to be let through as a probe: %s", Cooldown, previous)
	if r.Status == http.StatusServiceUnavailable && len(calls) == 0 {
		actual := fmt.Sprintf("503, and 503 again %s later, with no downstream call in between", again.Sub(due).Round(100*time.Millisecond))
		if !lastProbe.IsZero() {
			actual += fmt.Sprintf(" nor since the failed probe's call %s earlier", time.Since(lastProbe).Round(100*time.Millisecond))
		}
		return scenarios.Failf(expected,
			"When the probe fails in any way — a 5xx, a refused connection, or its 500 ms deadline passing — open the breaker again and start a new 1 s cooldown. A breaker left half-open after a failed probe refuses every request and never probes again.",
			"%s: the breaker is stuck", actual)
	}
	return scenarios.Failf(expected,
		"After a failed probe, wait one cooldown (1 s, counted from the failure), then let the next request through as a probe.",
		"503; %s later: %s", again.Sub(due).Round(100*time.Millisecond), r.Describe())
}

func retryStorm(ctx context.Context, h *scenarios.Harness) error {
	from, err := closeBreaker(ctx, h)
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
		case http.StatusBadGateway, http.StatusGatewayTimeout:
			// A 504: on a loaded machine 20 calls at once can pass their 500 ms deadline
			// before the downstream's 503 is in. Tried and failed either way.
			tried++
		case http.StatusServiceUnavailable:
		default:
			return scenarios.Failf(fmt.Sprintf("502 (or 504) or 503 for each of %d requests sent together while the downstream answers 503", n),
				"Answer 502 for a failed call, 504 for one past its deadline, and 503 once the breaker is open.", "%s (answers: %s)", r.Describe(), scenarios.StatusCounts(first))
		}
	}
	if tried < Threshold {
		return scenarios.Failf(fmt.Sprintf("at least %d of %d requests sent together to be tried (502 or 504) before the breaker opens", Threshold, n),
			"Open the breaker at the fifth consecutive failure, not before.", "answers: %s", scenarios.StatusCounts(first))
	}
	second := h.Concurrent(ctx, n, build)
	calls, err := h.DownstreamCalls(ctx, from.seq)
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
			"%d call(s) during the second burst (answers: %s)", len(afterOpen), scenarios.StatusCounts(second))
	}
	if len(inCooldown) > n {
		return scenarios.Failf(fmt.Sprintf("at most %d downstream calls for two bursts of %d requests (one call per request at most, none once the breaker is open)", n, n),
			"Do not retry a failed call inside a request: the breaker is what protects the downstream, and retries multiply the load on it.",
			"%d calls", len(inCooldown))
	}
	return nil
}
