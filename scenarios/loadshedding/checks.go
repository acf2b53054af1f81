package loadshedding

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/agent"
)

// workPath is the downstream path the app calls; workRoute the app's own.
const (
	workPath  = "/work"
	workRoute = "/api/work"
)

// workRequest asks the app to do the work named id.
func workRequest(id string) scenarios.Request {
	return scenarios.Request{Method: http.MethodPost, Path: workRoute, Body: scenarios.JSON(map[string]string{"id": id}),
		Timeout: answerWait}
}

// downstream sets how the downstream answers /work; the zero behaviour makes it healthy again.
func downstream(ctx context.Context, h *scenarios.Harness, b agent.DownstreamBehaviour) error {
	return h.SetDownstream(ctx, workPath, b)
}

// idOf reads the id a call carried in its JSON body ("" if it carried none).
func idOf(c agent.Call) string {
	var body struct {
		ID string `json:"id"`
	}
	if json.Unmarshal([]byte(c.Body), &body) != nil {
		return ""
	}
	return body.ID
}

// settle waits until the app serves a request, as every scenario does first: a request to a
// healthy downstream, sent again RetryAfter later while it is shed, three at most. It returns
// the downstream's last call number once one was served, from which the scenario counts its own
// calls. An answer other than 200 or 503 fails at once: no wait would change it.
func settle(ctx context.Context, h *scenarios.Harness) (int, error) {
	const attempts = 3
	var last scenarios.Response
	for i := 1; i <= attempts; i++ {
		last = h.Do(ctx, workRequest(fmt.Sprintf("settle-%d", i)))
		switch {
		case last.Status == http.StatusOK:
			return h.Agent.LastCall(ctx)
		case last.Err != nil || last.Status != http.StatusServiceUnavailable:
			return 0, scenarios.Failf("200 with the downstream's answer for a request while nothing is in flight and the downstream is healthy",
				fmt.Sprintf("Serve POST %s: take a permit, call POST $DOWNSTREAM_URL%s with the request's id, and return the downstream's 200 answer.", workRoute, workPath),
				"%s", last.DescribeTook())
		}
		if i < attempts {
			if err := scenarios.SleepUntil(ctx, time.Now().Add(settleGap)); err != nil {
				return 0, err
			}
		}
	}
	return 0, scenarios.Failf(
		fmt.Sprintf("a request to be served once nothing is in flight and the downstream is healthy: %d requests %s apart, after each one's Retry-After", attempts, settleGap),
		"Release a permit on every path out of a request — success, a 5xx, a refused connection, the deadline — (a defer, a finally), and do not keep refusing once the work in flight is done.",
		"all %d shed, the last one answered %s", attempts, last.Describe())
}

// timed is an answer whose speed the harness judges, with the control sent alongside it: a
// GET /healthz released at the same moment.
type timed struct {
	scenarios.Response
	ID string
	// Beyond is how much longer the answer took than its control (0 if not longer): the app's
	// own delay. A loaded machine stalls the harness, the network and the app for both requests
	// alike; a limiter that waits for a permit makes only the work wait. A control that got no
	// HTTP answer does not count: Beyond is then the answer's whole duration.
	Beyond time.Duration
	// At is when the answer came back; ControlAt when the control's answer did (zero if it got
	// none): by then the app was answering, and the request sent with it had most likely reached
	// it too.
	At, ControlAt time.Time
}

// burst sends a work request for each id, all released at once, and returns the answers in
// order. With controls, each is sent together with a GET /healthz, whose answer judges its speed
// (timed's Beyond and ControlAt). A scenario that needs every permit for its own requests sends
// none: an app that (wrongly) counts its health checks against the limit would shed them.
func burst(ctx context.Context, h *scenarios.Harness, ids []string, controls bool) []timed {
	n := len(ids)
	all := n
	if controls {
		all = 2 * n
	}
	rs := make([]scenarios.Response, all)
	at := make([]time.Time, all)
	var ready, done sync.WaitGroup
	gate := make(chan struct{})
	ready.Add(all)
	done.Add(all)
	for i := range all {
		go func() {
			defer done.Done()
			r := scenarios.Request{Path: "/healthz", Replica: 1}
			if i < n {
				r = workRequest(ids[i])
				r.Replica = 1
			}
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
		out[i] = timed{Response: rs[i], ID: ids[i], Beyond: rs[i].Duration, At: at[i]}
		if c := rs[min(n+i, all-1)]; controls && c.Err == nil {
			out[i].Beyond = max(0, rs[i].Duration-c.Duration)
			out[i].ControlAt = at[n+i]
		}
	}
	return out
}

// ids returns n ids: prefix-1, prefix-2, …
func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i+1)
	}
	return out
}

// byID groups calls by the id each carried.
func byID(calls []agent.Call) map[string][]agent.Call {
	out := map[string][]agent.Call{}
	for _, c := range calls {
		out[idOf(c)] = append(out[idOf(c)], c)
	}
	return out
}

// inFlight is the most calls the downstream had in flight at once (a call without an end is
// still in flight at now), and when that was first reached.
func inFlight(calls []agent.Call, now time.Time) (most int, at time.Time) {
	type edge struct {
		t     time.Time
		delta int
	}
	var edges []edge
	for _, c := range calls {
		end := c.End
		if end.IsZero() {
			end = now
		}
		edges = append(edges, edge{c.Start, 1}, edge{end, -1})
	}
	// Ends before starts at the same moment: a permit released and taken again is not two.
	sort.Slice(edges, func(i, j int) bool {
		if edges[i].t.Equal(edges[j].t) {
			return edges[i].delta < edges[j].delta
		}
		return edges[i].t.Before(edges[j].t)
	})
	n := 0
	for _, e := range edges {
		n += e.delta
		if n > most {
			most, at = n, e.t
		}
	}
	return most, at
}

// expectLimit checks the downstream never had more than Limit calls in flight at once.
func expectLimit(calls []agent.Call, what string) error {
	most, at := inFlight(calls, time.Now())
	if most <= Limit {
		return nil
	}
	return scenarios.Failf(fmt.Sprintf("at most %d downstream calls in flight at any moment for %s", Limit, what),
		fmt.Sprintf("Hold a permit for every request admitted (%d permits: a buffered channel, a semaphore, a counter the event loop checks and changes without an await in between) and answer 503 at once when none is free: without a limit, every request beyond it waits for the slow downstream too, and the pile grows until nobody is served.", Limit),
		"%d calls in flight at once: %s", most, describeCalls(during(calls, at)))
}

// during is the calls in flight at the moment at.
func during(calls []agent.Call, at time.Time) []agent.Call {
	var out []agent.Call
	for _, c := range calls {
		if !c.Start.After(at) && (c.End.IsZero() || c.End.After(at)) {
			out = append(out, c)
		}
	}
	return out
}

// expectOnceEach checks the work of each answered request was done as its answer says: exactly
// one call carrying its id for an admitted one, none for one shed (503) or refused (400), and
// no call for an id nobody sent.
func expectOnceEach(answers []timed, calls []agent.Call, what string) error {
	got := byID(calls)
	sent := map[string]bool{}
	for _, a := range answers {
		sent[a.ID] = true
		n := len(got[a.ID])
		switch {
		case admitted(a.Response) && n != 1:
			hint := "Call the downstream exactly once for every admitted request: no retries inside a request."
			if n == 0 {
				hint = fmt.Sprintf("Call POST $DOWNSTREAM_URL%s with the body {\"id\": \"<id>\"}, the client's id unchanged.", workPath)
			}
			return scenarios.Failf(fmt.Sprintf("exactly one downstream call carrying id %q for its request, answered %d (%s)", a.ID, a.Status, what),
				hint, "%d call(s) carrying it: %s", n, describeCalls(got[a.ID]))
		case !admitted(a.Response) && a.Err == nil && n > 0:
			return scenarios.Failf(fmt.Sprintf("no downstream call for the request with id %q, answered %d (%s)", a.ID, a.Status, what),
				"Decide before calling the downstream: a request that is shed (503) or refused (400) does no work.",
				"%d call(s) carrying it: %s", n, describeCalls(got[a.ID]))
		}
	}
	for id, cs := range got {
		if !sent[id] {
			return scenarios.Failf(fmt.Sprintf("every downstream call to carry the id of a request (%s)", what),
				fmt.Sprintf("Send POST $DOWNSTREAM_URL%s with the JSON body {\"id\": \"<id>\"}: the client's id, unchanged.", workPath),
				"%d call(s) carrying id %q: %s", len(cs), id, describeCalls(cs))
		}
	}
	return nil
}

// admitted says whether an answer is one a request gets once admitted: its work was tried.
func admitted(r scenarios.Response) bool {
	return r.Err == nil && (r.Status == http.StatusOK || r.Status == http.StatusBadGateway || r.Status == http.StatusGatewayTimeout)
}

// expectShed checks a 503 carries Retry-After: 1.
func expectShed(a timed) error {
	if got := a.Header.Get("Retry-After"); got != RetryAfter {
		return scenarios.Failf(fmt.Sprintf("a Retry-After: %s header on every 503 for a request that found no free permit", RetryAfter),
			"Tell a shed client when to come back: send Retry-After: 1 with the 503.",
			"for id %s: Retry-After %q", a.ID, got)
	}
	return nil
}

// slowSheds judges how fast the app shed (answers non-empty): by the time each 503 took beyond
// its control, a median under FastMedian and every one under FastMax. A queue sheds no sooner
// than a permit frees, after a whole call of the slow downstream (queued, the downstream's
// latency): a median past FastMedian but short of that, while the machine stood still or gave
// less than half a CPU, is the machine's to explain, and the round Inconclusive. final12:
// reference-blind-ts shed with a median of 308 ms beyond /healthz at load ~20.
func slowSheds(answers []timed, what string, queued time.Duration, stall scenarios.Stall) error {
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
	if median < queued && slowest < queued && (stall.Explains(median, FastMedian) || stall.Slowed(float64(median)/float64(FastMedian))) {
		return scenarios.Inconclusivef("503s %s: median %s, slowest %s beyond /healthz, sooner than a queue sheds (%s) but past %s, while the machine was busy (%s)",
			what, median.Round(time.Millisecond), slowest.Round(time.Millisecond), queued, FastMedian, stall)
	}
	return scenarios.Failf(
		fmt.Sprintf("503 within %s for the requests %s that found no free permit (measured from outside on a shared machine, beyond the time a GET /healthz sent alongside took: the grader allows a median of %s and at most %s)", MaxWait, what, FastMedian, FastMax),
		fmt.Sprintf("Wait for a permit %s at most, then answer 503: a client that waits long to be refused has lost that time too, and a wait as long as the work itself is a queue.", MaxWait),
		"median %s, slowest %s beyond /healthz over %d answers (they took a median of %s, the slowest %s)",
		median.Round(time.Millisecond), slowest.Round(time.Millisecond), len(answers), tookMedian.Round(time.Millisecond), tookSlowest.Round(time.Millisecond))
}

// spread returns the median and the maximum of ds (non-empty).
func spread(ds []time.Duration) (median, slowest time.Duration) {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2], s[len(s)-1]
}

// statuses counts a burst's answers by status (scenarios.StatusCounts).
func statuses(as []timed) string {
	rs := make([]scenarios.Response, len(as))
	for i, a := range as {
		rs[i] = a.Response
	}
	return scenarios.StatusCounts(rs)
}

// describeCalls renders downstream calls for a learner: the id each carried, when it started
// relative to the first, how long it lasted, and what the downstream answered.
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
		if c.End.IsZero() {
			status = "still in flight"
		}
		at := ""
		if i > 0 {
			at = fmt.Sprintf(" +%s", c.Start.Sub(cs[0].Start).Round(time.Millisecond))
		}
		lasted := ""
		if !c.End.IsZero() {
			lasted = fmt.Sprintf(" (%s)", c.End.Sub(c.Start).Round(time.Millisecond))
		}
		parts = append(parts, fmt.Sprintf("%s %s id %q%s → %s%s", c.Method, c.Path, idOf(c), at, status, lasted))
	}
	return strings.Join(parts, "; ")
}
