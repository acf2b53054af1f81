package circuitbreaker

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
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
	// TimeoutSlack is added to DownstreamTimeout before a 504 counts as late.
	TimeoutSlack = time.Second
	// FastMedian and FastMax bound the answers while open (the brief asks for 50 ms; an app that
	// waits for the downstream takes at least DownstreamTimeout).
	FastMedian = 100 * time.Millisecond
	FastMax    = 400 * time.Millisecond
	// openWindow is how long after the breaker opened the harness keeps sending requests that
	// must be refused: well inside the cooldown, even if the app's answers are late.
	openWindow = 400 * time.Millisecond
	// afterCooldown is how long past the cooldown's latest possible end the harness waits before
	// it expects a probe to be let through.
	afterCooldown = 150 * time.Millisecond
	// probeLatency is how long the downstream takes to answer a probe that succeeds: long enough
	// for a burst to arrive while it is in flight, well inside DownstreamTimeout.
	probeLatency = 250 // ms
	// burst is how many requests the concurrent checks send at once.
	burst = 10
)

// quotePrefix is the downstream path the app calls.
const quotePrefix = "/quote"

// Scenarios returns the challenge's scenario table in the order it runs.
func Scenarios() []scenarios.Scenario {
	return []scenarios.Scenario{
		{Slug: "passthrough_and_errors", Title: "A healthy downstream is called once per request; its failures map to 502 and 504 without retries", Weight: 10, Visibility: scenarios.Public, Run: passthrough},
		{Slug: "opens_after_threshold", Title: "Five consecutive failures open the breaker: 503 with Retry-After, and no downstream calls", Weight: 20, Visibility: scenarios.Public, Run: opensAfterThreshold},
		{Slug: "fail_fast_under_latency", Title: "Timeouts count as failures: a slow downstream opens the breaker and the app answers fast", Weight: 15, Visibility: scenarios.Public, Run: failFastUnderLatency},
		{Slug: "single_half_open_probe", Title: "After the cooldown exactly one probe reaches the downstream, and its success closes the breaker", Weight: 20, Visibility: scenarios.Public, Run: singleProbe},
		{Slug: "probe_failure_reopens", Title: "A failed probe opens the breaker for another cooldown", Weight: 10, Visibility: scenarios.Hidden, Run: probeFailureReopens},
		{Slug: "recovers_under_traffic", Title: "Under steady traffic the breaker closes one cooldown after it opened", Weight: 10, Visibility: scenarios.Public, Run: recoversUnderTraffic},
		{Slug: "consecutive_failures_only", Title: "A success resets the failure count: four failures, a success, four failures keep it closed", Weight: 5, Visibility: scenarios.Hidden, Run: consecutiveFailures},
		{Slug: "retry_storm", Title: "A burst against a failing downstream costs at most one call per request, and none once open", Weight: 10, Visibility: scenarios.Public, Run: retryStorm},
	}
}

// quote asks the app for a quote.
func quote(ctx context.Context, h *scenarios.Harness, symbol string) scenarios.Response {
	return h.Do(ctx, quoteRequest(symbol))
}

func quoteRequest(symbol string) scenarios.Request {
	return scenarios.Request{Path: "/api/quote?symbol=" + url.QueryEscape(symbol)}
}

// downstream sets how the downstream answers /quote; the zero behaviour makes it healthy again.
func downstream(ctx context.Context, h *scenarios.Harness, b agent.DownstreamBehaviour) error {
	b.PathPrefix = quotePrefix
	if err := h.Agent.Downstream(ctx, b); err != nil {
		return fmt.Errorf("set downstream behaviour: %w", err)
	}
	return nil
}

func callsSince(ctx context.Context, h *scenarios.Harness, seq int) ([]agent.Call, error) {
	calls, err := h.Agent.Calls(ctx, seq)
	if err != nil {
		return nil, fmt.Errorf("read downstream calls: %w", err)
	}
	return calls, nil
}

// sleepUntil waits until t or the end of ctx.
func sleepUntil(ctx context.Context, t time.Time) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Until(t)):
		return nil
	}
}

// closeBreaker makes sure the breaker is closed before a scenario judges anything (the app keeps
// its breaker between scenarios), and returns the downstream's last call number once it is.
func closeBreaker(ctx context.Context, h *scenarios.Harness) (int, error) {
	const attempts = 3
	var last scenarios.Response
	for i := 1; i <= attempts; i++ {
		last = quote(ctx, h, "SETUP")
		if last.Status == http.StatusOK {
			return h.Agent.LastCall(ctx)
		}
		if i < attempts {
			if err := sleepUntil(ctx, time.Now().Add(Cooldown+100*time.Millisecond)); err != nil {
				return 0, err
			}
		}
	}
	return 0, scenarios.Failf(
		fmt.Sprintf("the breaker to close once the downstream is healthy: a request sent more than %s after the previous one to be let through and answered 200", Cooldown),
		"After the cooldown let one request through to the downstream as a probe, and close the breaker when it succeeds.",
		"%d requests %s apart, the last answered %s", attempts, Cooldown+100*time.Millisecond, last.Describe())
}

// failure is how a scenario makes the downstream fail, and what the app must answer.
type failure struct {
	behaviour agent.DownstreamBehaviour
	what      string // "answers 503"
	status    int    // what the app answers
	latency   time.Duration
}

var (
	serverError = failure{behaviour: agent.DownstreamBehaviour{Status: http.StatusServiceUnavailable}, what: "answers 503", status: http.StatusBadGateway}
	slowAnswer  = failure{behaviour: agent.DownstreamBehaviour{LatencyMS: 3000}, what: "takes 3 s to answer", status: http.StatusGatewayTimeout, latency: DownstreamTimeout}
)

// tripped is when the breaker opened, as the harness saw it.
type tripped struct {
	seq       int       // the downstream's last call number after the fifth failure
	fifthSend time.Time // the fifth failing request was sent: the breaker opened later
	fifthRecv time.Time // its answer came back: the breaker opened earlier
	latency   time.Duration
}

// openedBy is the earliest the breaker's cooldown can end: it opened after the fifth failing
// request was sent, and a contract-abiding app took at least the failure's latency to see it.
func (t tripped) openedBy() time.Time { return t.fifthSend.Add(t.latency) }

// probeDue is when a probe must be let through: the breaker opened before the fifth answer came
// back, so its cooldown has surely ended by then.
func (t tripped) probeDue() time.Time { return t.fifthRecv.Add(Cooldown + afterCooldown) }

// trip makes the downstream fail and sends Threshold requests one after another from a closed
// breaker: each must be tried (one downstream call each) and answered with f.status.
func trip(ctx context.Context, h *scenarios.Harness, since int, f failure, symbol string) (tripped, error) {
	if err := downstream(ctx, h, f.behaviour); err != nil {
		return tripped{}, err
	}
	t := tripped{latency: f.latency}
	for i := 1; i <= Threshold; i++ {
		t.fifthSend = time.Now()
		r := quote(ctx, h, symbol)
		t.fifthRecv = time.Now()
		if r.Status == http.StatusServiceUnavailable {
			return t, scenarios.Failf(
				fmt.Sprintf("request %d of %d, while the downstream %s, to be tried (%d): the breaker opens only after %d consecutive failures", i, Threshold, f.what, f.status, Threshold),
				"Count consecutive failures from a closed breaker and open at the fifth; a success resets the count.",
				"%s", r.Describe())
		}
		if err := expectFailure(r, f); err != nil {
			return t, err
		}
	}
	calls, err := callsSince(ctx, h, since)
	if err != nil {
		return t, err
	}
	if err := expectOneCallEach(calls, fmt.Sprintf("%d requests while the downstream %s", Threshold, f.what), symbol, Threshold); err != nil {
		return t, err
	}
	t.seq = calls[len(calls)-1].Seq
	return t, nil
}

// expectFailure checks the app's answer to one request that the downstream failed.
func expectFailure(r scenarios.Response, f failure) error {
	if f.status == http.StatusGatewayTimeout {
		if late := DownstreamTimeout + TimeoutSlack; r.Err != nil || r.Duration > late {
			return scenarios.Failf(fmt.Sprintf("an answer within %s while the downstream %s", late, f.what),
				"Give every downstream call a 500 ms deadline and answer 504 when it passes.",
				"%s after %s", r.Describe(), r.Duration.Round(time.Millisecond))
		}
	}
	if r.Status != f.status {
		return scenarios.Failf(fmt.Sprintf("%d %s when the downstream %s", f.status, http.StatusText(f.status), f.what),
			"Answer 502 when the downstream answers 5xx or the connection fails, and 504 when it does not answer within 500 ms.",
			"%s", r.Describe())
	}
	return nil
}

// expectOneCallEach checks that the downstream got exactly n calls for n requests for symbol.
func expectOneCallEach(calls []agent.Call, what, symbol string, n int) error {
	if len(calls) != n {
		hint := "Call the downstream exactly once per request: no retries inside a request."
		if len(calls) < n {
			hint = "While the breaker is closed every request must call the downstream (no caching, no early opening)."
		}
		return scenarios.Failf(fmt.Sprintf("exactly %d downstream call(s) for %s", n, what), hint,
			"%d call(s): %s", len(calls), describeCalls(calls))
	}
	for _, c := range calls {
		if c.Method != http.MethodGet || c.Path != quotePrefix || symbolOf(c) != symbol {
			return scenarios.Failf(fmt.Sprintf("GET %s?symbol=%s at the downstream for %s", quotePrefix, symbol, what),
				"Call GET $DOWNSTREAM_URL/quote with the client's symbol as the symbol query parameter.",
				"%s", describeCalls([]agent.Call{c}))
		}
	}
	return nil
}

func symbolOf(c agent.Call) string {
	q, _ := url.ParseQuery(c.Query)
	return q.Get("symbol")
}

// expectOpen sends requests while the breaker must be open (from `from` until the window closes,
// at most six, at least one) and checks each gets 503 with Retry-After, fast, and that none of
// them reached the downstream. openedBy bounds the cooldown: no probe can be due before
// openedBy + Cooldown. hint is for an answer other than 503.
func expectOpen(ctx context.Context, h *scenarios.Harness, since int, openedBy, from time.Time, symbol, what, hint string) error {
	end := from.Add(openWindow)
	if limit := openedBy.Add(Cooldown - 300*time.Millisecond); limit.Before(end) {
		end = limit
	}
	var durations []time.Duration
	for i := 0; i < 6 && (i == 0 || time.Now().Before(end)); i++ {
		r := quote(ctx, h, symbol)
		if r.Status != http.StatusServiceUnavailable {
			return scenarios.Failf(fmt.Sprintf("503 Service Unavailable at once for a request %s", what), hint,
				"%s after %s", r.Describe(), r.Duration.Round(time.Millisecond))
		}
		if got := r.Header.Get("Retry-After"); got != RetryAfter {
			return scenarios.Failf(fmt.Sprintf("a Retry-After: %s header on the 503 while the breaker is open", RetryAfter),
				"Send Retry-After with the seconds until a probe may be tried, rounded up: 1 with a 1 s cooldown.",
				"Retry-After %q", got)
		}
		durations = append(durations, r.Duration)
	}
	calls, err := callsSince(ctx, h, since)
	if err != nil {
		return err
	}
	var during []agent.Call
	for _, c := range calls {
		if c.Start.Before(openedBy.Add(Cooldown)) {
			during = append(during, c)
		}
	}
	if len(during) > 0 {
		return scenarios.Failf(fmt.Sprintf("no downstream call for the %d request(s) %s", len(durations), what),
			"While the breaker is open, answer 503 from the breaker alone: do not call the downstream.",
			"%d call(s): %s", len(during), describeCalls(during))
	}
	median, slowest := spread(durations)
	if median > FastMedian || slowest > FastMax {
		return scenarios.Failf(fmt.Sprintf("503 answers %s within 50 ms (the grader allows a median of %s and at most %s on a shared machine)", what, FastMedian, FastMax),
			"Decide from the breaker's state alone, before any network call or wait.",
			"median %s, slowest %s over %d answers", median.Round(time.Millisecond), slowest.Round(time.Millisecond), len(durations))
	}
	return nil
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

// statuses renders a burst's answers in short.
func statuses(rs []scenarios.Response) string {
	var parts []string
	for _, r := range rs {
		if r.Err != nil {
			parts = append(parts, "no answer")
			continue
		}
		parts = append(parts, fmt.Sprint(r.Status))
	}
	return strings.Join(parts, ", ")
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
