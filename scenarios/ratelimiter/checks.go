package ratelimiter

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/agent"
)

// The contract's numbers; the brief states each one.
const (
	// Limit is how many requests one client may make in one window.
	Limit = 10
	// Window is the length of a fixed window. Windows are aligned to Unix time: window k is
	// [k·Window, (k+1)·Window).
	Window = 2 * time.Second
	// PolicyName names the one quota policy in RateLimit-Policy and RateLimit.
	PolicyName = "default"
	// OutageDeadline is how soon the app must answer 503 while Redis is unreachable, measured
	// from outside with nothing added for a loaded machine: the references, with a 500 ms Redis
	// deadline, answered a silent Redis in 0.50–0.68 s and a refusing one in 0.10–0.15 s, 160
	// times each on the 2-core machine with every core busy (load average 19).
	OutageDeadline = time.Second
	// RecoveryWithin is how soon after Redis is back every replica must admit requests again.
	RecoveryWithin = 5 * time.Second
)

const (
	resourcePath = "/api/resource"
	clientHeader = "X-Client-Id"
	workPath     = "/work" // what the app calls at the downstream for an admitted request
)

// newClient returns a client id no earlier request used, so its count starts at zero.
func newClient(prefix string) string {
	return "hf-" + prefix + "-" + scenarios.RandomHex(5)
}

// hit is one request of client to the limited route; replica 0 spreads requests round-robin.
func hit(client string, replica int) scenarios.Request {
	r := scenarios.Request{Path: resourcePath, Replica: replica, Timeout: 5 * time.Second}
	if client != "" {
		r.Header = map[string]string{clientHeader: client}
	}
	return r
}

// sequential sends n requests of client one after the other, round-robin over the replicas.
func sequential(ctx context.Context, h *scenarios.Harness, client string, n int) []scenarios.Response {
	out := make([]scenarios.Response, 0, n)
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		out = append(out, h.Do(ctx, hit(client, i%h.Replicas()+1)))
	}
	return out
}

// burst sends n requests of client at once, spread evenly over the replicas. The connections
// are opened first (n GET /healthz at once, kept alive): dialled during the burst, its requests
// reached the replicas spread out on a busy machine, one after another, and a GET-then-INCR
// limiter (broken-get-then-incr) passed 3 of 4 gradings with 4 busy loops on the 2 cores.
func burst(ctx context.Context, h *scenarios.Harness, client string, n int) []scenarios.Response {
	h.Concurrent(ctx, n, func(int) scenarios.Request { return scenarios.Request{Path: "/healthz", Timeout: 5 * time.Second} })
	return h.Concurrent(ctx, n, func(int) scenarios.Request { return hit(client, 0) })
}

// window is one fixed window [start, end) of Unix time.
type window struct{ start, end time.Time }

func windowAt(t time.Time) window {
	w := Window.Nanoseconds()
	ns := t.UnixNano()
	start := time.Unix(0, ns-ns%w)
	return window{start: start, end: start.Add(Window)}
}

// boundaryMargin keeps the harness clear of a window's edges: the apps read the same kernel
// clock as the harness, but a request sent at the very edge may be decided on either side.
const boundaryMargin = 40 * time.Millisecond

// nextWindow sleeps until offset (at least boundaryMargin) into a window that had only just
// begun when it was called, and returns that window. Every round starts in a window of its own,
// so no round inherits a count from the one before, even in an app that (wrongly) counts every
// client together.
func nextWindow(ctx context.Context, offset time.Duration) (window, error) {
	offset = max(offset, boundaryMargin)
	now := time.Now()
	at := windowAt(now).end.Add(offset)
	if now.Before(windowAt(now).start.Add(boundaryMargin)) {
		at = windowAt(now).start.Add(offset)
	}
	if err := sleep(ctx, time.Until(at)); err != nil {
		return window{}, err
	}
	return windowAt(at), nil
}

// fitAttempts bounds how often a round is sent again because it ran across a window boundary.
const fitAttempts = 3

// fitWindow runs send (which sends one round of requests for a fresh client) at the start of a
// window until the whole round, from its first request to its last answer, falls inside that
// window, at most fitAttempts times. It reports whether the last round fitted: a round that never
// fitted (a very loaded machine) is judged by the looser bound of two windows.
func fitWindow(ctx context.Context, send func(ctx context.Context)) (bool, error) {
	_, fits, err := fitWindowAt(ctx, 0, send)
	return fits, err
}

// fitWindowAt is fitWindow with rounds that start offset into their window; it also returns
// the window of the last round.
func fitWindowAt(ctx context.Context, offset time.Duration, send func(ctx context.Context)) (window, bool, error) {
	for attempt := 1; ; attempt++ {
		w, err := nextWindow(ctx, offset)
		if err != nil {
			return window{}, false, err
		}
		send(ctx)
		if err := ctx.Err(); err != nil {
			return window{}, false, err
		}
		if time.Now().Before(w.end) {
			return w, true, nil
		}
		if attempt == fitAttempts {
			return w, false, nil
		}
	}
}

// admitted returns the downstream calls after since that were made for client: the ground
// truth of its admitted requests. A call that names the client but is not GET /work?client=…
// is the learner's mistake.
func admitted(ctx context.Context, h *scenarios.Harness, since int, client string) ([]agent.Call, error) {
	calls, err := h.Agent.Calls(ctx, since)
	if err != nil {
		return nil, fmt.Errorf("read downstream calls: %w", err)
	}
	var out []agent.Call
	for _, c := range calls {
		q, _ := url.ParseQuery(c.Query)
		if c.Method == http.MethodGet && c.Path == workPath && q.Get("client") == client {
			out = append(out, c)
			continue
		}
		if strings.Contains(c.Path, client) || strings.Contains(c.Query, client) {
			return nil, scenarios.Failf(fmt.Sprintf("each admitted request to call GET $DOWNSTREAM_URL/work?client=%s", client),
				"Call the downstream with exactly that method, path and query parameter: the grader counts these calls.",
				"a call %s %s?%s", c.Method, c.Path, c.Query)
		}
	}
	return out, nil
}

// tally counts 200 and 429 answers and returns the first answer that is neither.
func tally(rs []scenarios.Response) (ok, limited int, other *scenarios.Response) {
	for i, r := range rs {
		switch {
		case r.Err == nil && r.Status == http.StatusOK:
			ok++
		case r.Err == nil && r.Status == http.StatusTooManyRequests:
			limited++
		case other == nil:
			other = &rs[i]
		}
	}
	return ok, limited, other
}

// statusList renders answers in order for a learner: "200 200 429 429".
func statusList(rs []scenarios.Response) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = statusWord(r)
	}
	return strings.Join(parts, " ")
}

// statusCounts renders answers as counts for a learner: "200×14, 429×16".
func statusCounts(rs []scenarios.Response) string {
	counts := map[string]int{}
	var order []string
	for _, r := range rs {
		w := statusWord(r)
		if counts[w] == 0 {
			order = append(order, w)
		}
		counts[w]++
	}
	slices.Sort(order)
	parts := make([]string, len(order))
	for i, w := range order {
		parts[i] = fmt.Sprintf("%s×%d", w, counts[w])
	}
	return strings.Join(parts, ", ")
}

func statusWord(r scenarios.Response) string {
	switch {
	case r.Err != nil && r.TimedOut():
		return "timeout"
	case r.Err != nil:
		return "no-answer"
	}
	return strconv.Itoa(r.Status)
}

func hintFor(r scenarios.Response) string {
	switch {
	case r.Err != nil && r.TimedOut():
		return "The request hung. Give every Redis and downstream call a deadline."
	case r.Err != nil:
		return "The app dropped the connection. Look at its log for a panic or crash."
	case r.Status == http.StatusServiceUnavailable:
		return "Redis is up during this scenario. Give Redis calls a deadline that a busy machine can meet (a few hundred milliseconds), and answer /healthz 200 only once your first Redis connection works."
	case r.Status >= 500:
		return "The app answered with a server error; its log usually says why."
	}
	return "Answer 200 to an admitted request (after its downstream call) and 429 to a rejected one."
}

// judgeRound holds one client's round of n requests to the contract: every answer 200 or 429,
// one downstream call per 200 and none per 429, and exactly the limit admitted when the round
// fitted in one window (between the limit and twice the limit when it did not).
func judgeRound(what string, n int, rs []scenarios.Response, calls []agent.Call, fits bool, describe func([]scenarios.Response) string) error {
	ok, _, other := tally(rs)
	if other != nil {
		return scenarios.Failf(fmt.Sprintf("200 or 429 for each of %s", what), hintFor(*other),
			"%s (all answers: %s)", other.Describe(), describe(rs))
	}
	lo, hi := min(n, Limit), min(n, Limit)
	span := fmt.Sprintf("one %s window", Window)
	if !fits {
		hi, span = min(n, 2*Limit), fmt.Sprintf("two consecutive %s windows (the round ran across a window boundary)", Window)
	}
	if len(calls) > hi {
		return scenarios.Failf(fmt.Sprintf("at most %d of %s admitted (calls at the downstream) in %s", hi, what, span),
			"Keep each client's count in Redis, where both replicas see it, and raise it atomically (INCR, a Lua script or MULTI/EXEC) before deciding: a GET followed by a SET lets simultaneous requests all read the old count.",
			"%d calls reached the downstream (answers: %s)", len(calls), describe(rs))
	}
	if len(calls) < lo {
		return scenarios.Failf(fmt.Sprintf("the first %d of %s admitted", lo, what),
			fmt.Sprintf("Admit a client's first %d requests of each window; count only the requests of that client.", Limit),
			"%d calls reached the downstream (answers: %s)", len(calls), describe(rs))
	}
	if ok != len(calls) {
		return scenarios.Failf("one downstream call for each 200 and none for a 429",
			"Call the downstream once for each admitted request, before answering 200, and never for a rejected one.",
			"%d answers 200 and %d calls at the downstream (answers: %s)", ok, len(calls), describe(rs))
	}
	return nil
}

// spanBound checks the bound that holds whatever the windows' alignment: at most twice the limit
// in any Window-long span of downstream arrivals.
func spanBound(calls []agent.Call, client string) error {
	for i := range calls {
		n := 0
		for j := i; j < len(calls) && calls[j].Start.Sub(calls[i].Start) < Window; j++ {
			n++
		}
		if n > 2*Limit {
			return scenarios.Failf(fmt.Sprintf("at most %d calls at the downstream for one client in any %s span (two windows' worth)", 2*Limit, Window),
				"Count every request of the client in the window it arrived in, in Redis, and reject once the count passes the limit.",
				"%d calls for %s within %s of %s", n, client, Window, calls[i].Start.Format("15:04:05.000"))
		}
	}
	return nil
}

// sfItem is the one member of a RateLimit or RateLimit-Policy field: a quoted policy name and
// integer parameters, in the structured-field syntax of RFC 8941.
type sfItem struct {
	name   string
	params map[string]int64
}

func (it sfItem) String() string {
	var b strings.Builder
	b.WriteString(strconv.Quote(it.name))
	keys := make([]string, 0, len(it.params))
	for k := range it.params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, ";%s=%d", k, it.params[k])
	}
	return b.String()
}

// parseItem parses a field holding exactly one item like `"default";q=10;w=2`. Spaces around
// the separators are tolerated; parameters must be integers.
func parseItem(field string) (sfItem, error) {
	s := strings.TrimSpace(field)
	if s == "" {
		return sfItem{}, errors.New("the header is missing")
	}
	if s[0] != '"' {
		return sfItem{}, errors.New(`it does not start with a quoted policy name such as "default"`)
	}
	var name strings.Builder
	i := 1
	for ; i < len(s) && s[i] != '"'; i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		name.WriteByte(s[i])
	}
	if i == len(s) {
		return sfItem{}, errors.New("the policy name's quote is not closed")
	}
	it := sfItem{name: name.String(), params: map[string]int64{}}
	rest := strings.TrimSpace(s[i+1:])
	for rest != "" {
		if rest[0] == ',' {
			return sfItem{}, errors.New("it lists more than one policy; send exactly one")
		}
		if rest[0] != ';' {
			return sfItem{}, fmt.Errorf("unexpected %q after the policy name (parameters start with ';')", rest)
		}
		rest = strings.TrimLeft(rest[1:], " \t")
		end := strings.IndexAny(rest, ";,")
		if end < 0 {
			end = len(rest)
		}
		param := strings.TrimSpace(rest[:end])
		rest = strings.TrimSpace(rest[end:])
		key, value, found := strings.Cut(param, "=")
		if !found || key == "" {
			return sfItem{}, fmt.Errorf("parameter %q is not key=integer", param)
		}
		v, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
		if err != nil {
			return sfItem{}, fmt.Errorf("parameter %q is not an integer", param)
		}
		it.params[strings.TrimSpace(key)] = v
	}
	return it, nil
}

// field returns every line of a header joined as one field value, as RFC 9110 combines them.
func field(h http.Header, name string) string {
	return strings.Join(h.Values(name), ", ")
}

// rateLimitHeaders checks a 200's or a 429's RateLimit-Policy and RateLimit fields and returns
// RateLimit's r (remaining) and t (seconds to the reset).
func rateLimitHeaders(r scenarios.Response, what string) (remaining, reset int64, err error) {
	wantPolicy := fmt.Sprintf(`"%s";q=%d;w=%d`, PolicyName, Limit, int(Window.Seconds()))
	hint := fmt.Sprintf(`Send RateLimit-Policy: %s and RateLimit: "%s";r=<requests left in this window>;t=<seconds until it ends> on every 200 and 429.`, wantPolicy, PolicyName)
	pol, perr := parseItem(field(r.Header, "RateLimit-Policy"))
	if perr == nil && (pol.name != PolicyName || pol.params["q"] != Limit || pol.params["w"] != int64(Window.Seconds())) {
		perr = fmt.Errorf("it says %s", pol)
	}
	if perr != nil {
		return 0, 0, scenarios.Failf(fmt.Sprintf("RateLimit-Policy: %s on %s", wantPolicy, what), hint,
			"RateLimit-Policy %q: %v", field(r.Header, "RateLimit-Policy"), perr)
	}
	rl, rerr := parseItem(field(r.Header, "RateLimit"))
	if rerr == nil {
		_, hasR := rl.params["r"]
		_, hasT := rl.params["t"]
		switch {
		case rl.name != PolicyName:
			rerr = fmt.Errorf("it names policy %q, not %q", rl.name, PolicyName)
		case !hasR || !hasT:
			rerr = errors.New("it needs both r and t")
		case rl.params["r"] < 0 || rl.params["r"] > Limit:
			rerr = fmt.Errorf("r=%d is outside 0…%d", rl.params["r"], Limit)
		case rl.params["t"] < 1 || rl.params["t"] > int64(Window.Seconds()):
			rerr = fmt.Errorf("t=%d is outside 1…%d (seconds until the window ends, rounded up)", rl.params["t"], int(Window.Seconds()))
		}
	}
	if rerr != nil {
		return 0, 0, scenarios.Failf(fmt.Sprintf(`RateLimit: "%s";r=…;t=… on %s`, PolicyName, what), hint,
			"RateLimit %q: %v", field(r.Header, "RateLimit"), rerr)
	}
	return rl.params["r"], rl.params["t"], nil
}

// retryAfter parses a Retry-After of whole seconds and checks it lies in lo…hi.
func retryAfter(r scenarios.Response, lo, hi int, what, hint string) (int, error) {
	raw := strings.TrimSpace(r.Header.Get("Retry-After"))
	n, err := strconv.Atoi(raw)
	if err != nil || n < lo || n > hi {
		expected := fmt.Sprintf("Retry-After with a whole number of seconds from %d to %d on %s", lo, hi, what)
		if lo == hi {
			expected = fmt.Sprintf("Retry-After: %d on %s", lo, what)
		}
		return 0, scenarios.Failf(expected, hint, "Retry-After %q", raw)
	}
	return n, nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
