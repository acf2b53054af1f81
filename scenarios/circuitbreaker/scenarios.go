package circuitbreaker

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/agent"
)

// Slug names the challenge in the catalog and in templates/.
const Slug = "circuit-breaker"

// The contract's numbers (README.md states each one).
const (
	// DownstreamTimeout is the deadline of one downstream call; past it the app answers 504.
	DownstreamTimeout = 500 * time.Millisecond
	// Threshold is how many consecutive failures open the breaker.
	Threshold = 5
	// Cooldown is how long the breaker stays open before it lets a probe through.
	Cooldown = time.Second
	// RetryAfter is the Retry-After value of a 503 while open: the cooldown in whole seconds.
	RetryAfter = "1"
)

// What the harness allows for a shared, loaded machine when it judges timings from outside.
const (
	// TimeoutSlack is added to DownstreamTimeout before a 504 (or the 502 of a refused
	// connection) counts as late.
	TimeoutSlack = time.Second
	// FastMedian and FastMax bound the answers while open (the brief asks for 50 ms; an app that
	// waits for the downstream takes at least DownstreamTimeout).
	FastMedian = 100 * time.Millisecond
	FastMax    = 400 * time.Millisecond
	// openWindow is how long after the breaker opened the harness keeps sending requests that
	// must be refused quickly one after another: well inside the cooldown, even if the app's
	// answers are late.
	openWindow = 400 * time.Millisecond
	// LateInCooldown is how long before the cooldown's earliest possible end the harness sends
	// its last request that must still be refused: the room a request has to reach the app on a
	// loaded machine. A breaker that reopens 250 ms or more early lets it through.
	LateInCooldown = 250 * time.Millisecond
	// afterCooldown is how long past the cooldown's latest possible end the harness waits before
	// it expects a probe to be let through.
	afterCooldown = 150 * time.Millisecond
	// probeLatency is how long the downstream takes to answer a probe that succeeds: long enough
	// for a burst to arrive while it is in flight, well inside DownstreamTimeout.
	probeLatency = 250 // ms
	// burst is how many requests the concurrent checks send at once.
	burst = 10
	// arrivalSkew is how far apart two requests released together may reach the app on a
	// loaded machine (seen: 30 ms at a load of 40 on 2 cores). A request whose control came
	// back this long before the probe's answer had reached the app while the probe ran.
	arrivalSkew = 100 * time.Millisecond
)

// quotePrefix is the downstream path the app calls.
const quotePrefix = "/quote"

// Scenarios returns the challenge's scenario table in the order it runs. probe_failure_reopens
// runs last: a breaker that a failed probe leaves stuck refuses everything after it, and the
// scenarios that follow would only report that again.
func Scenarios() []scenarios.Scenario {
	return []scenarios.Scenario{
		{Slug: "passthrough_and_errors", Title: "A healthy downstream is called once per request; its failures map to 502 and 504 without retries", Weight: 10, Visibility: scenarios.Public, Run: passthrough},
		{Slug: "opens_after_threshold", Title: "Five consecutive failures, whatever their symbols, open the one breaker: 503 with Retry-After for every symbol, no downstream calls, for the whole cooldown", Weight: 20, Visibility: scenarios.Public, Run: opensAfterThreshold},
		{Slug: "fail_fast_under_latency", Title: "Timeouts count as failures: a slow downstream opens the breaker and the app answers fast", Weight: 15, Visibility: scenarios.Public, Run: failFastUnderLatency},
		{Slug: "single_half_open_probe", Title: "After the cooldown exactly one probe reaches the downstream, the others get a fast 503, and its success closes the breaker", Weight: 20, Visibility: scenarios.Public, Run: singleProbe},
		{Slug: "recovers_under_traffic", Title: "Under steady traffic the breaker closes one cooldown after it opened", Weight: 10, Visibility: scenarios.Public, Run: recoversUnderTraffic},
		{Slug: "consecutive_failures_only", Title: "Any answer below 500 is passed on and resets the failure count: four failures then a 200, four then a 404, four then a 200 keep it closed", Weight: 5, Visibility: scenarios.Hidden, Run: consecutiveFailures},
		{Slug: "retry_storm", Title: "A burst against a failing downstream costs at most one call per request, and none once open", Weight: 10, Visibility: scenarios.Public, Run: retryStorm},
		{Slug: "probe_failure_reopens", Title: "Refused connections count as failures, and a probe that fails — a 5xx, its deadline, a refused connection — opens the breaker for another full cooldown", Weight: 10, Visibility: scenarios.Hidden, Run: probeFailureReopens},
	}
}

// quote asks the app for a quote.
func quote(ctx context.Context, h *scenarios.Harness, symbol string) scenarios.Response {
	return h.Do(ctx, quoteRequest(symbol))
}

// timed is an answer whose speed the harness judges, with the control sent alongside it: a
// GET /healthz to the same replica, released at the same moment.
type timed struct {
	scenarios.Response
	// Beyond is how much longer the answer took than its control (0 if not longer): the app's
	// own delay. A loaded machine stalls the harness, the network and the app for both
	// requests alike; a breaker that waits for something before it refuses makes only the
	// quote wait. A control that was not a 200 does not count: Beyond is then the answer's
	// whole duration.
	Beyond time.Duration
	// At is when the answer came back; ControlAt when the control's 200 did (zero if it was
	// not a 200): by then the app was answering, and the quote sent with it had most likely
	// reached it too.
	At, ControlAt time.Time
}

// quotesTimed sends each request together with its control, all released at once, and returns
// the answers in order.
func quotesTimed(ctx context.Context, h *scenarios.Harness, reqs []scenarios.Request) []timed {
	n := len(reqs)
	rs := make([]scenarios.Response, 2*n)
	at := make([]time.Time, 2*n)
	var ready, done sync.WaitGroup
	gate := make(chan struct{})
	ready.Add(2 * n)
	done.Add(2 * n)
	for i := range 2 * n {
		go func() {
			defer done.Done()
			r := scenarios.Request{Path: "/healthz"}
			if i < n {
				r = reqs[i]
			}
			r.Replica = i%n%h.Replicas() + 1
			ready.Done()
			select {
			case <-gate:
			case <-ctx.Done():
				rs[i] = scenarios.Response{Err: ctx.Err()}
				return
			}
			rs[i] = h.Do(ctx, r)
			at[i] = time.Now()
		}()
	}
	ready.Wait()
	close(gate)
	done.Wait()
	out := make([]timed, n)
	for i := range n {
		out[i] = timed{Response: rs[i], Beyond: rs[i].Duration, At: at[i]}
		if c := rs[n+i]; c.Err == nil && c.Status == http.StatusOK {
			out[i].Beyond = max(0, rs[i].Duration-c.Duration)
			out[i].ControlAt = at[n+i]
		}
	}
	return out
}

// quoteTimed is quotesTimed for one request.
func quoteTimed(ctx context.Context, h *scenarios.Harness, symbol string) timed {
	return quotesTimed(ctx, h, []scenarios.Request{quoteRequest(symbol)})[0]
}

func quoteRequest(symbol string) scenarios.Request {
	return scenarios.Request{Path: "/api/quote?symbol=" + url.QueryEscape(symbol)}
}

// downstream sets how the downstream answers /quote; the zero behaviour makes it healthy again.
func downstream(ctx context.Context, h *scenarios.Harness, b agent.DownstreamBehaviour) error {
	return h.SetDownstream(ctx, quotePrefix, b)
}

// closed is the breaker's state when a scenario starts judging.
type closed struct {
	seq    int  // the downstream's last call number once the breaker is closed
	probed bool // the breaker was open and a probe closed it just now
}

// closeBreaker makes sure the breaker is closed before a scenario judges anything (the app keeps
// its breaker between scenarios).
func closeBreaker(ctx context.Context, h *scenarios.Harness) (closed, error) {
	const attempts = 3
	var last scenarios.Response
	for i := 1; i <= attempts; i++ {
		last = quote(ctx, h, "SETUP")
		if last.Status == http.StatusOK {
			seq, err := h.Agent.LastCall(ctx)
			return closed{seq: seq, probed: i > 1}, err
		}
		if i < attempts {
			if err := scenarios.SleepUntil(ctx, time.Now().Add(Cooldown+100*time.Millisecond)); err != nil {
				return closed{}, err
			}
		}
	}
	return closed{}, scenarios.Failf(
		fmt.Sprintf("the breaker to close once the downstream is healthy: a request sent more than %s after the previous one to be let through and answered 200", Cooldown),
		"After the cooldown let one request through to the downstream as a probe, and close the breaker when it succeeds.",
		"%d requests %s apart, the last answered %s", attempts, Cooldown+100*time.Millisecond, last.Describe())
}

// failure is how a scenario makes the downstream fail, and what the app must answer.
type failure struct {
	behaviour agent.DownstreamBehaviour
	refuse    bool   // the downstream's link is down: connections are refused
	what      string // "answers 503"
	status    int    // what the app answers
	latency   time.Duration
}

var (
	serverError = failure{behaviour: agent.DownstreamBehaviour{Status: http.StatusServiceUnavailable}, what: "answers 503", status: http.StatusBadGateway}
	slowAnswer  = failure{behaviour: agent.DownstreamBehaviour{LatencyMS: 3000}, what: "takes 3 s to answer", status: http.StatusGatewayTimeout, latency: DownstreamTimeout}
	hangs       = failure{behaviour: agent.DownstreamBehaviour{Hang: true}, what: "never answers", status: http.StatusGatewayTimeout, latency: DownstreamTimeout}
	refused     = failure{refuse: true, what: "refuses connections", status: http.StatusBadGateway}
)

// apply makes the downstream fail as f says.
func apply(ctx context.Context, h *scenarios.Harness, f failure) error {
	if err := downstream(ctx, h, f.behaviour); err != nil {
		return err
	}
	if f.refuse {
		return h.DownstreamLink(ctx, false)
	}
	return nil
}

// tripped is when the breaker opened, as the harness saw it.
type tripped struct {
	seq       int       // the downstream's last call number after the fifth failure
	fifthSend time.Time // the fifth failing request was sent: the breaker opened later
	fifthRecv time.Time // its answer came back: the breaker opened earlier
	fifthCall time.Time // when the downstream got the fifth failing call (zero: it got none)
	latency   time.Duration
}

// openedBy is the earliest the breaker's cooldown can end: it opened after the fifth failing
// request was sent, and a contract-abiding app took at least the failure's latency to see it.
func (t tripped) openedBy() time.Time { return t.fifthSend.Add(t.latency) }

// probeDue is when a probe must be let through: the breaker opened before the fifth answer came
// back, so its cooldown has surely ended by then.
func (t tripped) probeDue() time.Time { return t.fifthRecv.Add(Cooldown + afterCooldown) }

// trip makes the downstream fail and sends Threshold requests one after another from a closed
// breaker, for symbols in turn: each must be tried (one downstream call each) and answered with
// f.status. A refused link is brought back up afterwards, the downstream then answering 503.
func trip(ctx context.Context, h *scenarios.Harness, from closed, f failure, symbols ...string) (tripped, error) {
	if err := apply(ctx, h, f); err != nil {
		return tripped{}, err
	}
	t := tripped{latency: f.latency}
	for i := 1; i <= Threshold; i++ {
		symbol := symbols[(i-1)%len(symbols)]
		t.fifthSend = time.Now()
		r := quote(ctx, h, symbol)
		t.fifthRecv = time.Now()
		if r.Status == http.StatusServiceUnavailable {
			hint := "Count consecutive failures from a closed breaker and open at the fifth; a success resets the count."
			if from.probed && i > 1 {
				hint = fmt.Sprintf("The breaker opened after %d failure(s), right after a successful probe had closed it (this scenario's first request was refused, the next one let through and answered 200): when a probe succeeds, close the breaker with a failure count of 0.", i-1)
			}
			return t, scenarios.Failf(
				fmt.Sprintf("request %d of %d, while the downstream %s, to be tried (%d): the breaker opens only after %d consecutive failures", i, Threshold, f.what, f.status, Threshold),
				hint, "%s", r.Describe())
		}
		if err := expectFailure(r, f); err != nil {
			return t, err
		}
	}
	if f.refuse {
		if err := downstream(ctx, h, serverError.behaviour); err != nil {
			return t, err
		}
		if err := h.DownstreamLink(ctx, true); err != nil {
			return t, err
		}
		seq, err := h.Agent.LastCall(ctx)
		t.seq = seq
		return t, err
	}
	calls, err := h.DownstreamCalls(ctx, from.seq)
	if err != nil {
		return t, err
	}
	if err := expectOneCallEach(calls, fmt.Sprintf("%d requests while the downstream %s", Threshold, f.what), symbols, Threshold); err != nil {
		return t, err
	}
	t.seq, t.fifthCall = calls[len(calls)-1].Seq, calls[len(calls)-1].Start
	return t, nil
}

// expectFailure checks the app's answer to one request that the downstream failed.
func expectFailure(r scenarios.Response, f failure) error {
	if f.status == http.StatusGatewayTimeout || f.refuse {
		if late := DownstreamTimeout + TimeoutSlack; r.Err != nil || r.Duration > late {
			return scenarios.Failf(fmt.Sprintf("an answer within %s while the downstream %s", late, f.what),
				"Give every downstream call a 500 ms deadline, answer 504 when it passes and 502 when the connection fails.",
				"%s", r.DescribeTook())
		}
	}
	if r.Status != f.status {
		return scenarios.Failf(fmt.Sprintf("%d %s when the downstream %s", f.status, http.StatusText(f.status), f.what),
			"Answer 502 when the downstream answers 5xx or the connection fails, and 504 when it does not answer within 500 ms.",
			"%s", r.Describe())
	}
	return nil
}

// expectOneCallEach checks that the downstream got exactly n calls for n requests made one after
// another, for symbols in turn.
func expectOneCallEach(calls []agent.Call, what string, symbols []string, n int) error {
	if len(calls) != n {
		hint := "Call the downstream exactly once per request: no retries inside a request."
		if len(calls) < n {
			hint = "While the breaker is closed every request must call the downstream (no caching, no early opening)."
		}
		return scenarios.Failf(fmt.Sprintf("exactly %d downstream call(s) for %s", n, what), hint,
			"%d call(s): %s", len(calls), describeCalls(calls))
	}
	for i, c := range calls {
		want := symbols[i%len(symbols)]
		if c.Method == http.MethodGet && c.Path == quotePrefix && symbolOf(c) == want {
			continue
		}
		hint := "Call GET $DOWNSTREAM_URL/quote with the client's symbol as the symbol query parameter."
		if c.Path == quotePrefix && url.QueryEscape(want) != want && strings.Contains(c.Query, "symbol="+want) {
			// The downstream's record holds the raw query: the symbol arrived unencoded.
			hint = fmt.Sprintf("URL-encode the symbol in the query string (url.QueryEscape, encodeURIComponent, urllib.parse.quote): %q must travel as symbol=%s, and sent as it is the downstream reads %q.",
				want, url.QueryEscape(want), symbolOf(c))
		}
		return scenarios.Failf(fmt.Sprintf("GET %s?symbol=%s at the downstream for %s", quotePrefix, url.QueryEscape(want), what), hint,
			"%s, which the downstream read as symbol %q", describeCalls([]agent.Call{c}), symbolOf(c))
	}
	return nil
}

func symbolOf(c agent.Call) string {
	q, _ := url.ParseQuery(c.Query)
	return q.Get("symbol")
}

// openCheck is what expectOpen holds the app to while the breaker must be open.
type openCheck struct {
	since    int       // the downstream's last call number when the breaker opened
	openedBy time.Time // the earliest moment it can have opened: no probe is due before openedBy + Cooldown
	from     time.Time // when the harness learnt it was open (the failure's answer came back)
	symbols  []string  // the requests' symbols, in turn
	what     string    // "right after 5 consecutive failures (…)"
	hint     string    // for an answer other than 503
	// late also sends one request LateInCooldown before the cooldown can end: it must still be
	// refused. failure names what opened the breaker and failedCall when the downstream got
	// that failing call (zero if it got none), for the diagnosis.
	late       bool
	failure    failure
	failedCall time.Time
}

// expectOpen sends requests while the breaker must be open — up to six one after another, and
// with late one more near the end of the cooldown — and checks each gets 503 with Retry-After,
// fast, and that the downstream got no call before the cooldown could end.
func expectOpen(ctx context.Context, h *scenarios.Harness, o openCheck) error {
	end := o.from.Add(openWindow)
	if limit := o.openedBy.Add(Cooldown - 300*time.Millisecond); limit.Before(end) {
		end = limit
	}
	sent := 0
	ask := func() (timed, string) {
		symbol := o.symbols[sent%len(o.symbols)]
		sent++
		return quoteTimed(ctx, h, symbol), symbol
	}
	var answers []timed
	lateJudged := !o.late // the late request was refused, or let through with an early call
	lateWhy := "it could not be sent in time: the requests before it ran past its moment"
	for i := 0; i < 6 && (i == 0 || time.Now().Before(end)); i++ {
		r, symbol := ask()
		if err := expectRefused(r.Response, symbol, o); err != nil {
			return withCalls(ctx, h, err, o.since)
		}
		answers = append(answers, r)
	}
	if lateAt := o.openedBy.Add(Cooldown - LateInCooldown); o.late && time.Now().Before(lateAt) {
		if err := scenarios.SleepUntil(ctx, lateAt); err != nil {
			return err
		}
		r, symbol := ask()
		if r.Status == http.StatusServiceUnavailable {
			if err := expectRefused(r.Response, symbol, o); err != nil {
				return withCalls(ctx, h, err, o.since)
			}
			answers = append(answers, r)
			lateJudged = true
		} else if err := lateLetThrough(ctx, h, o, r.Response, symbol, lateAt); err != nil {
			return err
		} else {
			lateWhy = "it was let through, but its call reached the downstream only after the cooldown could have ended (a slow hop)"
		}
	}
	calls, err := h.DownstreamCalls(ctx, o.since)
	if err != nil {
		return err
	}
	var during []agent.Call
	for _, c := range calls {
		if c.Start.Before(o.openedBy.Add(Cooldown)) {
			during = append(during, c)
		}
	}
	if len(during) > 0 {
		return scenarios.Failf(fmt.Sprintf("no downstream call for the %d request(s) %s", sent, o.what),
			"While the breaker is open, answer 503 from the breaker alone: do not call the downstream.",
			"%d call(s): %s", len(during), describeCalls(during))
	}
	if f := slowRefusals(answers, fmt.Sprintf("503 answers %s within 50 ms", o.what), "Decide from the breaker's state alone, before any network call or wait."); f != nil {
		return f
	}
	if !lateJudged {
		// A breaker whose cooldown starts late (broken-cooldown-from-arrival) is caught only by
		// this request: a round without it must not pass.
		return scenarios.Inconclusivef("the request meant for %s before the cooldown could end was not judged: %s", LateInCooldown, lateWhy)
	}
	return nil
}

// slowRefusals judges how fast the app refused (answers non-empty): by the time each answer
// took beyond its control, a median under FastMedian and every one under FastMax. It returns
// the learner's failure, or nil.
func slowRefusals(answers []timed, expected, hint string) *scenarios.Failure {
	beyond := make([]time.Duration, len(answers))
	took := make([]time.Duration, len(answers))
	for i, a := range answers {
		beyond[i], took[i] = a.Beyond, a.Duration
	}
	median, slowest := spread(beyond)
	if median <= FastMedian && slowest <= FastMax {
		return nil
	}
	tookMedian, tookSlowest := spread(took)
	return &scenarios.Failure{
		Expected: fmt.Sprintf("%s (measured from outside on a shared machine, beyond the time a GET /healthz sent alongside took: the grader allows a median of %s and at most %s)", expected, FastMedian, FastMax),
		Actual: fmt.Sprintf("median %s, slowest %s beyond /healthz over %d answers (they took a median of %s, the slowest %s)",
			median.Round(time.Millisecond), slowest.Round(time.Millisecond), len(answers), tookMedian.Round(time.Millisecond), tookSlowest.Round(time.Millisecond)),
		Hint: hint,
	}
}

// expectRefused checks one answer while the breaker must be open: 503 with Retry-After: 1.
func expectRefused(r scenarios.Response, symbol string, o openCheck) error {
	if r.Status != http.StatusServiceUnavailable {
		return scenarios.Failf(fmt.Sprintf("503 Service Unavailable at once for a request %s", o.what), o.hint,
			"for symbol %s: %s", symbol, r.DescribeTook())
	}
	if got := r.Header.Get("Retry-After"); got != RetryAfter {
		return scenarios.Failf(fmt.Sprintf("a Retry-After: %s header on the 503 while the breaker is open", RetryAfter),
			"Send Retry-After with the seconds until a probe may be tried, rounded up: 1 with a 1 s cooldown.",
			"Retry-After %q", got)
	}
	return nil
}

// withCalls adds to a learner's failure what the downstream received since the breaker opened:
// whether the request that was not refused reached the downstream.
func withCalls(ctx context.Context, h *scenarios.Harness, err error, since int) error {
	f, ok := scenarios.AsFailure(err)
	if !ok {
		return err
	}
	calls, cerr := h.DownstreamCalls(ctx, since)
	if cerr != nil {
		return cerr
	}
	if len(calls) == 0 {
		f.Actual += "; the downstream got no call"
	} else {
		f.Actual += fmt.Sprintf("; the downstream got %d call(s) since the breaker opened: %s", len(calls), describeCalls(calls))
	}
	return f
}

// lateLetThrough judges a request sent LateInCooldown before the cooldown could end that was
// not refused. The downstream's record decides: a call that started before the cooldown could
// end shows the breaker reopened early; a request that reached the app only after it could
// have ended (a slow hop on a loaded machine) proves nothing: nil, and expectOpen's round is
// then Inconclusive.
func lateLetThrough(ctx context.Context, h *scenarios.Harness, o openCheck, r scenarios.Response, symbol string, sent time.Time) error {
	calls, err := h.DownstreamCalls(ctx, o.since)
	if err != nil {
		return err
	}
	var early *agent.Call
	for i, c := range calls {
		if c.Start.Before(o.openedBy.Add(Cooldown)) {
			early = &calls[i]
			break
		}
	}
	if early == nil {
		if len(calls) > 0 {
			return nil
		}
		return withCalls(ctx, h, expectRefused(r, symbol, o), o.since)
	}
	expected := fmt.Sprintf("the breaker to stay open for its whole %s cooldown: a request sent %s after it opened (at the earliest) to get 503, without a call",
		Cooldown, sent.Sub(o.openedBy).Round(time.Millisecond))
	actual := fmt.Sprintf("%s; the downstream got a call at most %s after the breaker opened: %s",
		r.DescribeTook(), early.Start.Sub(o.openedBy).Round(time.Millisecond), describeCalls([]agent.Call{*early}))
	hint := "Keep the breaker open for the whole 1 s cooldown, measured from the moment it opened, before letting a probe through."
	if o.failure.latency > 0 && !o.failedCall.IsZero() {
		// The failure that opened it was a deadline: the call started latency before it failed.
		actual += fmt.Sprintf(" — %s after the failing call that opened it started, but only %s after its %s deadline passed",
			early.Start.Sub(o.failedCall).Round(time.Millisecond), early.Start.Sub(o.failedCall.Add(o.failure.latency)).Round(time.Millisecond), o.failure.latency)
		hint = fmt.Sprintf("The cooldown counts from the moment the breaker opened: when the failing call's %s deadline passed, not when that request arrived or its call started.", o.failure.latency)
	}
	return scenarios.Failf(expected, hint, "%s", actual)
}

// spread returns the median and the maximum of ds (non-empty).
func spread(ds []time.Duration) (median, slowest time.Duration) {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2], s[len(s)-1]
}

// expectPassthrough checks a 200 whose body is the downstream's answer to the call for symbol.
func expectPassthrough(r scenarios.Response, calls []agent.Call, symbol string) error {
	if r.Status != http.StatusOK {
		return scenarios.Failf(fmt.Sprintf("200 for a quote of %s while the downstream is healthy", symbol),
			"Call the downstream and return its answer; only its failures are errors.", "%s", r.Describe())
	}
	var body struct {
		Seq  int    `json:"seq"`
		Path string `json:"path"`
	}
	if err := scenarios.Decode(r, &body, "the downstream's quote"); err != nil {
		return err
	}
	for _, c := range calls {
		if c.Seq == body.Seq && symbolOf(c) == symbol && body.Path == c.Path {
			return nil
		}
	}
	return scenarios.Failf(fmt.Sprintf("the body of the downstream's answer to GET /quote?symbol=%s, unchanged", symbol),
		"Return the downstream's JSON body as it is, with its status.",
		"%s", r.Describe())
}

// describeCalls renders downstream calls for a learner: when each started, relative to the
// first, and what the downstream answered.
func describeCalls(cs []agent.Call) string {
	if len(cs) == 0 {
		return "none"
	}
	var parts []string
	for i, c := range cs {
		if i == 6 {
			parts = append(parts, fmt.Sprintf("and %d more", len(cs)-6))
			break
		}
		status := "no answer (the caller gave up)"
		if c.Status != 0 {
			status = fmt.Sprint(c.Status)
		}
		at := ""
		if i > 0 {
			at = fmt.Sprintf(" +%s", c.Start.Sub(cs[0].Start).Round(time.Millisecond))
		}
		target := c.Path
		if c.Query != "" {
			target += "?" + c.Query
		}
		parts = append(parts, fmt.Sprintf("%s %s%s → %s", c.Method, target, at, status))
	}
	return strings.Join(parts, "; ")
}

// expectRelayed checks that an answer below 500 other than 200 — status and body — is the
// downstream's own answer to the call for symbol, passed on unchanged.
func expectRelayed(r scenarios.Response, calls []agent.Call, symbol string, status int) error {
	expected := fmt.Sprintf("%d with the downstream's own body for a quote of %s the downstream answered %d: an answer below 500 is passed on unchanged", status, symbol, status)
	if r.Status != status {
		hint := "Pass any downstream answer below 500 on with its status and body; only a 5xx, a connection error or the deadline is a failure (502 or 504)."
		return scenarios.Failf(expected, hint, "%s", r.Describe())
	}
	var body struct {
		Seq int `json:"seq"`
	}
	if err := scenarios.Decode(r, &body, "the downstream's answer"); err != nil {
		return err
	}
	for _, c := range calls {
		if c.Seq == body.Seq && symbolOf(c) == symbol && c.Status == status {
			return nil
		}
	}
	return scenarios.Failf(expected, "Return the downstream's body as it is, with its status.", "%s", r.Describe())
}
