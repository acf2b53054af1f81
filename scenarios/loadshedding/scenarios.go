package loadshedding

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/agent"
)

// Slug names the challenge in the catalog and in templates/.
const Slug = "load-shedding"

// The contract's numbers (README.md states each one).
const (
	// Limit is how many requests the app admits at once: its permits.
	Limit = 4
	// MaxWait is the longest a request may wait for a permit before it is shed.
	MaxWait = 100 * time.Millisecond
	// Deadline is the deadline of one downstream call; past it the app answers 504.
	Deadline = time.Second
	// RetryAfter is the Retry-After value of a 503.
	RetryAfter = "1"
	// MaxID is the longest id the app accepts.
	MaxID = 64
)

// What the harness allows for a shared, loaded machine when it judges timings from outside.
const (
	// FastMedian and FastMax bound the 503s beyond their controls (the brief asks for MaxWait;
	// an app that queues takes as long as the work it waits for).
	FastMedian = 250 * time.Millisecond
	FastMax    = 600 * time.Millisecond
	// AdmitWithin bounds how long after its control came back an admitted request's downstream
	// call may start: MaxWait and the room a request has to reach the app on a loaded machine.
	// A request queued behind a permit starts when a call of saturateLatency ends.
	AdmitWithin = 400 * time.Millisecond
	// HealthWithin bounds a health check's answer while every permit is held.
	HealthWithin = 500 * time.Millisecond
	// RecoverAfter is how long after the last admitted answer came back the harness expects a
	// permit to be free again.
	RecoverAfter = 150 * time.Millisecond
	// TimeoutSlack is added to Deadline before a 504 (or the 502 of a refused connection) counts
	// as late.
	TimeoutSlack = time.Second
)

// What the scenarios do.
const (
	// settleGap is how long settle waits between its tries: one Retry-After and a little.
	settleGap = 1100 * time.Millisecond
	// answerWait is how long the harness waits for any answer: longer than a queue of a burst
	// takes to drain, so that a queue is judged by its delays, not as silence.
	answerWait = 6 * time.Second
	// The downstream's latencies (ms): served within the limit; held while saturated (well inside
	// Deadline, longer than AdmitWithin); the load that recovers.
	serveLatency    = 300
	saturateLatency = 700
	recoverLatency  = 500
	// overload is how many requests sheds_beyond_limit sends at once; recoverLoad how many
	// recovers_when_load_drops does; healthChecks how many health checks are sent while saturated.
	overload     = 12
	recoverLoad  = 8
	healthChecks = 5
)

// Scenarios returns the challenge's scenario table in the order it runs.
// permits_released_on_failures runs last: an app that loses its permits refuses everything after
// it, and the scenarios that follow would only report that again.
func Scenarios() []scenarios.Scenario {
	return []scenarios.Scenario{
		{Slug: "serves_within_limit", Title: "Up to four requests at once are each served with one downstream call; a bad request gets 400 without one", Weight: 15, Visibility: scenarios.Public, Run: servesWithinLimit},
		{Slug: "sheds_beyond_limit", Title: "Twelve requests at once against a slow downstream: at most four in flight, the rest get a fast 503 with Retry-After", Weight: 30, Visibility: scenarios.Public, Run: shedsBeyondLimit},
		{Slug: "health_while_saturated", Title: "GET /healthz answers 200 at once while every permit is taken", Weight: 15, Visibility: scenarios.Public, Run: healthWhileSaturated},
		{Slug: "recovers_when_load_drops", Title: "Once the admitted work is done, the next request is served: no cool-down after shedding", Weight: 20, Visibility: scenarios.Public, Run: recoversWhenLoadDrops},
		{Slug: "permits_released_on_failures", Title: "Permits come back after 5xx answers, deadlines and refused connections: four of each, then four requests at once are all served", Weight: 20, Visibility: scenarios.Hidden, Run: permitsReleasedOnFailures},
	}
}

func servesWithinLimit(ctx context.Context, h *scenarios.Harness) error {
	since, err := settle(ctx, h)
	if err != nil {
		return err
	}
	if err := downstream(ctx, h, agent.DownstreamBehaviour{LatencyMS: serveLatency}); err != nil {
		return err
	}
	// One request, then Limit at once: each admitted, served, one call each.
	for _, batch := range [][]string{{"serve-1"}, ids("together", Limit)} {
		answers := burst(ctx, h, batch, false)
		calls, err := h.DownstreamCalls(ctx, since)
		if err != nil {
			return err
		}
		what := fmt.Sprintf("%d request(s) at once while the downstream takes %d ms", len(batch), serveLatency)
		for _, a := range answers {
			if a.Status != http.StatusOK {
				hint := "Admit a request while a permit is free, call the downstream and return its answer."
				if a.Status == http.StatusServiceUnavailable {
					hint = fmt.Sprintf("Shed only when all %d permits are taken: %d requests at once are all admitted.", Limit, Limit)
				}
				return scenarios.Failf(fmt.Sprintf("200 with the downstream's answer for each of %s", what), hint,
					"for id %s: %s (answers: %s)", a.ID, a.DescribeTook(), statuses(answers))
			}
		}
		if err := expectOnceEach(answers, calls, what); err != nil {
			return err
		}
		for _, a := range answers {
			if err := expectPassthrough(a, calls); err != nil {
				return err
			}
		}
		since = calls[len(calls)-1].Seq
	}

	// Bad requests are the client's mistake: 400, no call.
	for _, bad := range []struct {
		body []byte
		what string
	}{
		{[]byte(`{}`), "without an id"},
		{[]byte(`{"id": ""}`), "with an empty id"},
		{scenarios.JSON(map[string]string{"id": strings.Repeat("x", MaxID+1)}), fmt.Sprintf("with an id of %d characters", MaxID+1)},
		{[]byte(`not json`), "whose body is not JSON"},
	} {
		r := h.Do(ctx, scenarios.Request{Method: http.MethodPost, Path: workRoute, Body: bad.body})
		if r.Status != http.StatusBadRequest {
			return scenarios.Failf(fmt.Sprintf("400 Bad Request for a request %s", bad.what),
				fmt.Sprintf("Check the body before anything else: JSON with an id of 1 to %d characters.", MaxID), "%s", r.Describe())
		}
		if calls, err := h.DownstreamCalls(ctx, since); err != nil {
			return err
		} else if len(calls) > 0 {
			return scenarios.Failf(fmt.Sprintf("no downstream call for a request %s", bad.what), "Answer 400 before calling the downstream.", "%s", describeCalls(calls))
		}
	}
	return nil
}

// expectPassthrough checks a 200's body is the downstream's answer to the call for its id.
func expectPassthrough(a timed, calls []agent.Call) error {
	var body struct {
		Seq  int    `json:"seq"`
		Path string `json:"path"`
	}
	if err := scenarios.Decode(a.Response, &body, "the downstream's answer"); err != nil {
		return err
	}
	for _, c := range calls {
		if c.Seq == body.Seq && idOf(c) == a.ID && body.Path == c.Path {
			return nil
		}
	}
	return scenarios.Failf(fmt.Sprintf("the body of the downstream's answer to the call for id %s, unchanged", a.ID),
		"Return the downstream's JSON body as it is, with 200.", "%s", a.Describe())
}

func shedsBeyondLimit(ctx context.Context, h *scenarios.Harness) error {
	since, err := settle(ctx, h)
	if err != nil {
		return err
	}
	if err := downstream(ctx, h, agent.DownstreamBehaviour{LatencyMS: saturateLatency}); err != nil {
		return err
	}
	// Open the connections the burst will use now: dialled during the burst, some of its requests
	// reach the app long after their controls on a loaded machine, and look queued.
	h.Concurrent(ctx, 2*overload, func(int) scenarios.Request { return scenarios.Request{Path: "/healthz", Replica: 1} })
	watch := h.WatchStall(ctx)
	answers := burst(ctx, h, ids("burst", overload), true)
	stall := watch()
	calls, err := h.DownstreamCalls(ctx, since)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("%d requests at once while the downstream takes %d ms", overload, saturateLatency)
	if err := expectLimit(calls, what); err != nil {
		return err
	}
	var shed, served []timed
	for _, a := range answers {
		switch {
		case a.Status == http.StatusServiceUnavailable:
			if err := expectShed(a); err != nil {
				return err
			}
			shed = append(shed, a)
		case admitted(a.Response):
			served = append(served, a)
		default:
			return scenarios.Failf(fmt.Sprintf("200 (or 504) for the requests admitted and 503 for the others, of %s", what),
				"Admit up to 4 requests and answer every other one 503 with Retry-After: 1.", "for id %s: %s (answers: %s)", a.ID, a.DescribeTook(), statuses(answers))
		}
	}
	if err := expectOnceEach(answers, calls, what); err != nil {
		return err
	}
	if len(shed) > 0 {
		if err := slowSheds(shed, "of "+what, saturateLatency*time.Millisecond, stall); err != nil {
			return err
		}
	}
	// An admitted request starts its work at once; one that waited for another's permit (a
	// queue) starts when a call of saturateLatency ends.
	got := byID(calls)
	var waited []string
	for _, a := range served {
		c := got[a.ID][0]
		base := a.ControlAt
		if base.IsZero() {
			base = a.At.Add(-a.Duration)
		}
		if late := c.Start.Sub(base); late > AdmitWithin {
			waited = append(waited, fmt.Sprintf("%s started %s after the GET /healthz sent with it came back, answered %d after %s", a.ID, late.Round(time.Millisecond), a.Status, a.Duration.Round(time.Millisecond)))
		}
	}
	if len(waited) > 0 {
		return scenarios.Failf(fmt.Sprintf("every admitted request of %s to start its downstream call within %s of arriving (the grader allows %s from the moment the GET /healthz sent with it came back), and every other one shed", what, MaxWait, AdmitWithin),
			fmt.Sprintf("Do not queue requests behind the %d permits: a request that finds none free waits %s at most, then gets 503 with Retry-After: 1. A queue makes every request slower as load grows, and serves clients that have already given up.", Limit, MaxWait),
			"%d of them waited for a permit: %s (answers: %s)", len(waited), strings.Join(waited, "; "), statuses(answers))
	}
	if len(shed) == 0 {
		return scenarios.Failf(fmt.Sprintf("503 for the requests of %s beyond the %d admitted", what, Limit),
			"Answer 503 with Retry-After: 1 when no permit is free.", "answers: %s", statuses(answers))
	}
	return nil
}

func healthWhileSaturated(ctx context.Context, h *scenarios.Harness) error {
	since, err := settle(ctx, h)
	if err != nil {
		return err
	}
	if err := downstream(ctx, h, agent.DownstreamBehaviour{LatencyMS: saturateLatency}); err != nil {
		return err
	}
	var fill []timed
	var wg sync.WaitGroup
	wg.Go(func() { fill = burst(ctx, h, ids("hold", Limit), false) })
	defer wg.Wait()

	// Wait until the downstream has Limit calls in flight: every permit is held.
	var held []agent.Call
	full := h.WaitFor(ctx, 2*saturateLatency*time.Millisecond, 10*time.Millisecond, func(ctx context.Context) bool {
		calls, err := h.DownstreamCalls(ctx, since)
		if err != nil {
			return false
		}
		held = held[:0]
		for _, c := range calls {
			if c.End.IsZero() {
				held = append(held, c)
			}
		}
		return len(held) >= Limit
	})
	if !full {
		wg.Wait()
		for _, a := range fill {
			if !admitted(a.Response) {
				return scenarios.Failf(fmt.Sprintf("%d requests at once to be admitted while nothing else is in flight (the downstream takes %d ms)", Limit, saturateLatency),
					fmt.Sprintf("Shed only when all %d permits are taken.", Limit), "for id %s: %s (answers: %s)", a.ID, a.DescribeTook(), statuses(fill))
			}
		}
		return scenarios.Inconclusivef("the %d requests meant to hold every permit were never in flight together (the machine spread them)", Limit)
	}

	watch := h.WatchStall(ctx)
	type check struct {
		sent time.Time
		r    scenarios.Response
	}
	var checks []check
	for range healthChecks {
		sent := time.Now()
		checks = append(checks, check{sent, h.Do(ctx, scenarios.Request{Path: "/healthz", Timeout: 3 * time.Second})})
	}
	stall := watch()
	wg.Wait()
	calls, err := h.DownstreamCalls(ctx, since)
	if err != nil {
		return err
	}
	// The permits were held until the first of the held calls ended: only checks sent before
	// then tested anything.
	var freed time.Time
	for _, c := range calls {
		if c.End.IsZero() {
			continue
		}
		if freed.IsZero() || c.End.Before(freed) {
			freed = c.End
		}
	}
	// The app's own /healthz is what is judged here: the machine's stall is the agent's and the
	// harness's.
	machine := max(stall.Agent, stall.Harness)
	judged := 0
	for i, c := range checks {
		if !freed.IsZero() && !c.sent.Before(freed) {
			break
		}
		judged++
		expected := fmt.Sprintf("200 within %s for GET /healthz while all %d permits are held (the downstream takes %d ms to answer them)", HealthWithin, Limit, saturateLatency)
		hint := "Keep health checks outside the limit: they take no permit and never wait for one. A service that sheds its own health checks under load gets taken out of rotation by its load balancer, and the other replicas get its traffic on top of theirs."
		if c.r.Err != nil || c.r.Status != http.StatusOK {
			return scenarios.Failf(expected, hint, "health check %d of %d: %s", i+1, healthChecks, c.r.DescribeTook())
		}
		if c.r.Duration > HealthWithin {
			if c.r.Duration <= HealthWithin+machine {
				return scenarios.Inconclusivef("health check %d took %s while the machine stood still (%s)", i+1, c.r.Duration, stall)
			}
			return scenarios.Failf(expected, hint, "health check %d of %d: %s", i+1, healthChecks, c.r.DescribeTook())
		}
	}
	if judged == 0 {
		return scenarios.Inconclusivef("no health check was sent while the permits were held (the machine stalled: %s)", stall)
	}
	return nil
}

func recoversWhenLoadDrops(ctx context.Context, h *scenarios.Harness) error {
	since, err := settle(ctx, h)
	if err != nil {
		return err
	}
	if err := downstream(ctx, h, agent.DownstreamBehaviour{LatencyMS: recoverLatency}); err != nil {
		return err
	}
	// As in sheds_beyond_limit: connections dialled during the burst spread it on a busy machine.
	h.Concurrent(ctx, recoverLoad, func(int) scenarios.Request { return scenarios.Request{Path: "/healthz", Replica: 1} })
	load := burst(ctx, h, ids("load", recoverLoad), false)
	watch := h.WatchStall(ctx)
	var last time.Time
	shed := 0
	for _, a := range load {
		switch {
		case admitted(a.Response):
			if a.At.After(last) {
				last = a.At
			}
		case a.Status == http.StatusServiceUnavailable:
			shed++
		}
	}
	if last.IsZero() {
		watch()
		return scenarios.Failf(fmt.Sprintf("%d of %d requests at once to be admitted (the downstream takes %d ms)", Limit, recoverLoad, recoverLatency),
			fmt.Sprintf("Admit up to %d requests at once.", Limit), "answers: %s", statuses(load))
	}
	if shed == 0 {
		calls, err := h.DownstreamCalls(ctx, since)
		if err != nil {
			watch()
			return err
		}
		if err := judgeNothingShed(calls, fmt.Sprintf("%d requests at once while the downstream takes %d ms", recoverLoad, recoverLatency)); err != nil {
			watch()
			return err
		}
	}
	if err := downstream(ctx, h, agent.DownstreamBehaviour{LatencyMS: serveLatency}); err != nil {
		watch()
		return err
	}
	if err := scenarios.SleepUntil(ctx, last.Add(RecoverAfter)); err != nil {
		watch()
		return err
	}
	r := h.Do(ctx, workRequest("back-1"))
	stall := watch()
	if r.Status != http.StatusOK {
		if r.Status == http.StatusServiceUnavailable && stall.Max() >= RecoverAfter {
			return scenarios.Inconclusivef("a request sent %s after the load's last answer was shed while the machine stood still (%s)", RecoverAfter, stall)
		}
		hint := "Release each permit as soon as its request's answer is decided, and admit the next request as soon as one is free: no cool-down, no window of refusals after shedding."
		return scenarios.Failf(fmt.Sprintf("200 for a request sent %s after the last of %d requests at once (%d of them shed) was answered: nothing is in flight any more", RecoverAfter, recoverLoad, shed),
			hint, "%s", r.DescribeTook())
	}
	since2, err := h.Agent.LastCall(ctx)
	if err != nil {
		return err
	}
	if err := scenarios.SleepUntil(ctx, time.Now().Add(RecoverAfter)); err != nil {
		return err
	}
	again := burst(ctx, h, ids("again", Limit), false)
	for _, a := range again {
		if a.Status != http.StatusOK {
			return scenarios.Failf(fmt.Sprintf("200 for each of %d requests at once once the load has dropped", Limit),
				fmt.Sprintf("Every permit comes back when its request is answered: after the load, all %d are free again.", Limit),
				"for id %s: %s (answers: %s)", a.ID, a.DescribeTook(), statuses(again))
		}
	}
	calls, err := h.DownstreamCalls(ctx, since)
	if err != nil {
		return err
	}
	all := slices.Concat(load, []timed{{Response: r, ID: "back-1"}}, again)
	if err := expectOnceEach(all, calls, fmt.Sprintf("%d requests at once, then 1, then %d", recoverLoad, Limit)); err != nil {
		return err
	}
	after, err := h.DownstreamCalls(ctx, since2)
	if err != nil {
		return err
	}
	return expectLimit(after, fmt.Sprintf("%d requests at once", Limit))
}

// judgeNothingShed judges the load of recovers_when_load_drops when none of it was shed, from
// the downstream's calls for it. Fewer than Limit in flight together means its requests never
// took every permit at once (the machine spread them), so nothing was shed that a cool-down
// could follow, and the round is Inconclusive rather than a pass. Every permit taken and nothing
// shed is an app that queues the rest or has no limit (sheds_beyond_limit fails both), or a
// fifth request that came once a permit was free: the scenario judges on.
func judgeNothingShed(calls []agent.Call, what string) error {
	if most, _ := inFlight(calls, time.Now()); most < Limit {
		return scenarios.Inconclusivef("none of %s was shed, and at most %d of them were in flight at the downstream together: the machine spread them, so no cool-down after shedding was tested", what, most)
	}
	return nil
}

// stage is one step of permits_released_on_failures: Limit requests at once against a
// downstream that fails one way.
type stage struct {
	prefix string
	what   string // "answers 503"
	apply  func(ctx context.Context, h *scenarios.Harness) error
	status int
	// refused: the link is down, so the downstream records no call of the stage.
	refused bool
}

func permitsReleasedOnFailures(ctx context.Context, h *scenarios.Harness) error {
	since, err := settle(ctx, h)
	if err != nil {
		return err
	}
	behave := func(b agent.DownstreamBehaviour) func(ctx context.Context, h *scenarios.Harness) error {
		return func(ctx context.Context, h *scenarios.Harness) error { return downstream(ctx, h, b) }
	}
	stages := []stage{
		{"fail", "answers 503", behave(agent.DownstreamBehaviour{Status: http.StatusServiceUnavailable}), http.StatusBadGateway, false},
		{"hang", "never answers", behave(agent.DownstreamBehaviour{Hang: true}), http.StatusGatewayTimeout, false},
		// Again: a call given up at the deadline but never cancelled is still in flight at the
		// downstream when the next ones begin (checked after the stages).
		{"hang-again", "still never answers", behave(agent.DownstreamBehaviour{Hang: true}), http.StatusGatewayTimeout, false},
		{"down", "refuses connections", func(ctx context.Context, h *scenarios.Harness) error {
			if err := downstream(ctx, h, agent.DownstreamBehaviour{}); err != nil {
				return err
			}
			return h.DownstreamLink(ctx, false)
		}, http.StatusBadGateway, true},
		{"after", fmt.Sprintf("is healthy again and takes %d ms", serveLatency), func(ctx context.Context, h *scenarios.Harness) error {
			if err := h.DownstreamLink(ctx, true); err != nil {
				return err
			}
			return downstream(ctx, h, agent.DownstreamBehaviour{LatencyMS: serveLatency})
		}, http.StatusOK, false},
	}
	start := since
	var before []string // what the stages so far did
	for _, s := range stages {
		if err := s.apply(ctx, h); err != nil {
			return err
		}
		answers, every, err := stageAnswers(ctx, h, s)
		if err != nil {
			return err
		}
		for _, a := range answers {
			if a.Status == http.StatusServiceUnavailable {
				expected := fmt.Sprintf("%d requests at once while the downstream %s to be admitted (%d each): nothing else is in flight", Limit, s.what, s.status)
				if len(before) == 0 {
					return scenarios.Failf(expected, fmt.Sprintf("Shed only when all %d permits are taken: %d requests at once are all admitted.", Limit, Limit),
						"for id %s: %s (answers: %s), and again %s later", a.ID, a.Describe(), statuses(answers), settleGap)
				}
				return scenarios.Failf(expected,
					"Release the permit on every path out of a request — a 5xx, a refused connection, the deadline — not only after a success: a defer, a finally, or one place every answer goes through. Each permit lost makes the service shed more, until it refuses everything.",
					"for id %s: %s (answers: %s), and again %s later; before them: %s", a.ID, a.Describe(), statuses(answers), settleGap, strings.Join(before, ", then "))
			}
			if a.Status != s.status {
				return scenarios.Failf(fmt.Sprintf("%d for each of %d requests at once while the downstream %s", s.status, Limit, s.what),
					"Answer 502 when the downstream answers 5xx or the connection fails, 504 when it does not answer within 1 s, and its body with 200 otherwise.",
					"for id %s: %s (answers: %s)", a.ID, a.DescribeTook(), statuses(answers))
			}
			if late := Deadline + TimeoutSlack; s.status != http.StatusOK && a.Duration > late {
				return scenarios.Failf(fmt.Sprintf("an answer within %s while the downstream %s", late, s.what),
					"Give every downstream call a 1 s deadline, answer 504 when it passes and 502 when the connection fails.", "for id %s: %s", a.ID, a.DescribeTook())
			}
		}
		calls, err := h.DownstreamCalls(ctx, since)
		if err != nil {
			return err
		}
		// With the link down no call reaches the downstream's record: nothing to count.
		if !s.refused {
			if err := expectOnceEach(every, calls, fmt.Sprintf("%d requests at once while the downstream %s", Limit, s.what)); err != nil {
				return err
			}
		}
		if len(calls) > 0 {
			since = calls[len(calls)-1].Seq
		}
		before = append(before, fmt.Sprintf("%d requests answered %d while it %s", Limit, s.status, s.what))
	}
	// A call the service gave up at its deadline must end there: one only abandoned (a timer
	// raced against it, its connection left open) still runs at the downstream, without a
	// permit, beside the next requests' calls.
	calls, err := h.DownstreamCalls(ctx, start)
	if err != nil {
		return err
	}
	if most, at := inFlight(calls, time.Now()); most > Limit {
		return scenarios.Failf(fmt.Sprintf("at most %d downstream calls in flight at any moment, a call given up at its 1 s deadline included", Limit),
			"Cancel a downstream call when its deadline passes (an AbortSignal passed to fetch, the request's context, closing the connection), not only stop waiting for it: an abandoned call still runs at the downstream without a permit, and the limit no longer holds.",
			"%d calls in flight at once after %s: %s", most, strings.Join(before, ", then "), describeCalls(during(calls, at)))
	}
	return nil
}

// stageAnswers sends a stage's Limit requests at once, RecoverAfter after the previous answers
// came back. Answers shed then may be a permit released late on a loaded machine: the stage is
// sent again one Retry-After later, and what it gets then is the verdict (last). every holds the
// answers of both tries, whose work the downstream's record must match.
func stageAnswers(ctx context.Context, h *scenarios.Harness, s stage) (last, every []timed, err error) {
	for try := 1; try <= 2; try++ {
		wait := RecoverAfter
		if try > 1 {
			wait = settleGap
		}
		if err := scenarios.SleepUntil(ctx, time.Now().Add(wait)); err != nil {
			return nil, nil, err
		}
		last = burst(ctx, h, ids(fmt.Sprintf("%s%d", s.prefix, try), Limit), false)
		every = append(every, last...)
		if !slices.ContainsFunc(last, func(a timed) bool { return a.Status == http.StatusServiceUnavailable }) {
			break
		}
	}
	return last, every, nil
}
