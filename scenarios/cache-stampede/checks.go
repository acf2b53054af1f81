package cachestampede

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/agent"
)

const stampedeHint = "Only one request may fill a missing product: take a per-product lock in Redis (SET lock-key token NX PX …), " +
	"check the cache again once you hold it, and let every other request wait for the value. With two replicas, a lock or " +
	"request coalescing inside one process still lets each process call the origin."

func readThrough(ctx context.Context, h *scenarios.Harness) error {
	since, err := h.Agent.LastCall(ctx)
	if err != nil {
		return err
	}
	id := newID("basic")
	v1, err := expectProduct(get(ctx, h, id, 1, 0), id, "the first read of a product")
	if err != nil {
		return err
	}
	calls, err := originCalls(ctx, h, since, id)
	if err != nil {
		return err
	}
	if len(calls) != 1 {
		return scenarios.Failf("exactly 1 origin call (GET /products/"+id+") for the first read of a product",
			"On a miss, call $DOWNSTREAM_URL/products/{id} once and store its answer in Redis.", "%d origin calls", len(calls))
	}
	// The other replica must find what the first one stored.
	r2 := get(ctx, h, id, 2, 0)
	v2, err := expectProduct(r2, id, "a second read, on the other replica, right after the first")
	if err != nil {
		return err
	}
	if calls, err = originCalls(ctx, h, since, id); err != nil {
		return err
	}
	if len(calls) != 1 || v2 != v1 {
		return scenarios.Failf(fmt.Sprintf("a second read within the 2 s TTL, on the other replica, to be served from the cache: version %d and no new origin call", v1),
			"Keep the cache in Redis, where every replica sees it, and store each value with a 2 s TTL.",
			"version %d, %d origin calls in total", v2, len(calls))
	}
	if err := flush(ctx, h); err != nil {
		return err
	}
	r3 := get(ctx, h, id, 1, 0)
	v3, err := expectProduct(r3, id, "a read after the cache was flushed")
	if err != nil {
		return err
	}
	if calls, err = originCalls(ctx, h, since, id); err != nil {
		return err
	}
	if len(calls) != 2 || v3 <= v1 {
		return scenarios.Failf(fmt.Sprintf("the first read after Redis was flushed to come from the origin: a new origin call and a version above %d", v1),
			"Flushing Redis is how the cache is purged: keep no copy of products in process memory.",
			"version %d, %d origin calls in total", v3, len(calls))
	}
	return nil
}

func hotKeyFlush(ctx context.Context, h *scenarios.Harness) error {
	if err := slowOrigin(ctx, h); err != nil {
		return err
	}
	id := newID("hot")
	since, err := h.Agent.LastCall(ctx)
	if err != nil {
		return err
	}
	if _, err := expectProduct(get(ctx, h, id, 1, 0), id, "the first read of a hot product"); err != nil {
		return err
	}
	for round := 1; round <= stampedeRounds; round++ {
		before, err := originCalls(ctx, h, since, id)
		if err != nil {
			return err
		}
		if err := flush(ctx, h); err != nil {
			return err
		}
		rs := h.Concurrent(ctx, stampedeRequests, func(int) scenarios.Request {
			return scenarios.Request{Path: productPath(id)}
		})
		what := fmt.Sprintf("%d concurrent reads of one product after the cache was flushed (round %d of %d)", stampedeRequests, round, stampedeRounds)
		versions := map[int64]int{}
		for _, r := range rs {
			v, err := expectProduct(r, id, "each of "+what)
			if err != nil {
				if f, ok := scenarios.AsFailure(err); ok {
					f.Actual += " (all answers: " + statusSummary(rs) + ")"
				}
				return err
			}
			versions[v]++
		}
		all, err := originCalls(ctx, h, since, id)
		if err != nil {
			return err
		}
		fresh := all[len(before):]
		// A fill that expired meanwhile may be refilled: only calls that started within the TTL
		// of the first fill's end belong to this flush.
		var stampede []agent.Call
		for _, c := range fresh {
			if len(stampede) == 0 || stampede[0].End.IsZero() || c.Start.Before(stampede[0].End.Add(CacheTTL)) {
				stampede = append(stampede, c)
			}
		}
		if len(stampede) != 1 {
			return scenarios.Failf("exactly 1 origin call for "+what, stampedeHint,
				"%d origin calls for the product, up to %d of them in flight at the same time", len(stampede), maxInFlight(stampede))
		}
		for v := range versions {
			if v <= int64(len(before)) {
				return scenarios.Failf("every answer after the flush to carry a version fetched after it (above "+fmt.Sprint(len(before))+")",
					"Flushing Redis is how the cache is purged: keep no copy of products in process memory.",
					"%d answers with version %d", versions[v], v)
			}
		}
	}
	return nil
}

func stampedeLatency(ctx context.Context, h *scenarios.Harness) error {
	if err := slowOrigin(ctx, h); err != nil {
		return err
	}
	id := newID("p95")
	if _, err := expectProduct(get(ctx, h, id, 1, 0), id, "the first read of a hot product"); err != nil {
		return err
	}
	var durations []time.Duration
	for round := 1; round <= latencyRounds; round++ {
		if err := flush(ctx, h); err != nil {
			return err
		}
		rs := h.Concurrent(ctx, stampedeRequests, func(int) scenarios.Request {
			return scenarios.Request{Path: productPath(id)}
		})
		for _, r := range rs {
			if _, err := expectProduct(r, id, fmt.Sprintf("each of %d concurrent reads after a flush", stampedeRequests)); err != nil {
				if f, ok := scenarios.AsFailure(err); ok {
					f.Actual += " (all answers: " + statusSummary(rs) + ")"
				}
				return err
			}
			durations = append(durations, r.Duration)
		}
	}
	if p95 := percentile(durations, 0.95); p95 > latencyP95 {
		return scenarios.Failf(fmt.Sprintf("95%% of %d reads after a flush answered within %s (origin latency %s)", len(durations), ms(latencyP95), ms(OriginLatency)),
			"A request waiting for another's fill should see the value soon after it is stored: check every 10–50 ms (or wake up on a signal), not every second.",
			"95th percentile %s, median %s, slowest %s", ms(p95), ms(percentile(durations, 0.5)), ms(percentile(durations, 1)))
	}
	return nil
}

func distinctProducts(ctx context.Context, h *scenarios.Harness) error {
	if err := slowOrigin(ctx, h); err != nil {
		return err
	}
	since, err := h.Agent.LastCall(ctx)
	if err != nil {
		return err
	}
	ids := make([]string, distinctKeys)
	for i := range ids {
		ids[i] = newID(fmt.Sprintf("k%d", i))
	}
	// Request i reads ids[i/perKey] on alternating replicas, so each product is asked of both.
	rs := h.Concurrent(ctx, distinctKeys*perKey, func(i int) scenarios.Request {
		return scenarios.Request{Path: productPath(ids[i/perKey]), Replica: i%h.Replicas() + 1}
	})
	what := fmt.Sprintf("%d different cold products read at once, %d requests each (origin latency %s)", distinctKeys, perKey, ms(OriginLatency))
	for i, r := range rs {
		if _, err := expectProduct(r, ids[i/perKey], "each of "+what); err != nil {
			if f, ok := scenarios.AsFailure(err); ok {
				f.Actual += " (all answers: " + statusSummary(rs) + ")"
			}
			return err
		}
	}
	slowest := percentile(durationsOf(rs), 1)
	if slowest > distinctMax {
		return scenarios.Failf(fmt.Sprintf("every answer within %s for %s", ms(distinctMax), what),
			"Lock each product on its own key (e.g. lock:product:{id}): one lock for every product makes them wait for each other.",
			"the slowest took %s", ms(slowest))
	}
	var first, last time.Time
	for _, id := range ids {
		calls, err := originCalls(ctx, h, since, id)
		if err != nil {
			return err
		}
		if len(calls) != 1 {
			return scenarios.Failf("exactly 1 origin call per product for "+what, stampedeHint,
				"%d origin calls for product %s", len(calls), id)
		}
		if first.IsZero() || calls[0].Start.Before(first) {
			first = calls[0].Start
		}
		if calls[0].Start.After(last) {
			last = calls[0].Start
		}
	}
	if spread := last.Sub(first); spread > distinctSpread {
		return scenarios.Failf(fmt.Sprintf("the %d products' origin calls to run in parallel: all started within %s of the first", distinctKeys, ms(distinctSpread)),
			"Lock each product on its own key (e.g. lock:product:{id}): one lock for every product makes them wait for each other.",
			"the last one started %s after the first", ms(spread))
	}
	return nil
}

func durationsOf(rs []scenarios.Response) []time.Duration {
	out := make([]time.Duration, len(rs))
	for i, r := range rs {
		out[i] = r.Duration
	}
	return out
}

// timed is one answer of the steady flow and when it arrived.
type timed struct {
	resp scenarios.Response
	at   time.Time
}

func expiryUnderLoad(ctx context.Context, h *scenarios.Harness) error {
	if err := slowOrigin(ctx, h); err != nil {
		return err
	}
	id := newID("ttl")
	since, err := h.Agent.LastCall(ctx)
	if err != nil {
		return err
	}
	if _, err := expectProduct(get(ctx, h, id, 1, 0), id, "the first read of a product"); err != nil {
		return err
	}
	warm, err := originCalls(ctx, h, since, id)
	if err != nil {
		return err
	}

	// Two requests (one per replica) every tick for flowFor: the TTL passes twice meanwhile.
	var (
		mu  sync.Mutex
		got []timed
		wg  sync.WaitGroup
	)
	tick := time.NewTicker(flowEvery)
	stop := time.After(flowFor)
flow:
	for {
		select {
		case <-ctx.Done():
			break flow
		case <-stop:
			break flow
		case <-tick.C:
			for replica := 1; replica <= h.Replicas(); replica++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := get(ctx, h, id, replica, WaitLimit+OriginTimeout)
					mu.Lock()
					got = append(got, timed{r, time.Now()})
					mu.Unlock()
				}()
			}
		}
	}
	tick.Stop()
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}

	all, err := originCalls(ctx, h, since, id)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("%s of steady reads of one product (%d per %s, origin latency %s, TTL %s)", ms(flowFor), h.Replicas(), ms(flowEvery), ms(OriginLatency), ms(CacheTTL))
	responses := make([]scenarios.Response, len(got))
	for i, t := range got {
		responses[i] = t.resp
	}
	for _, t := range got {
		v, err := expectProduct(t.resp, id, "each of "+what)
		if err != nil {
			if f, ok := scenarios.AsFailure(err); ok {
				f.Actual += " (all answers: " + statusSummary(responses) + ")"
			}
			return err
		}
		if v > int64(len(all)) {
			return scenarios.Failf("versions the origin produced", "Answer the origin's \"version\" as it was.",
				"version %d, but the origin was called %d times", v, len(all))
		}
		fetched := all[v-1].End
		if age := t.at.Sub(fetched); !fetched.IsZero() && age > MaxAge+ageSlack {
			return scenarios.Failf(fmt.Sprintf("no answer to carry a value fetched from the origin more than %s earlier", ms(MaxAge)),
				"Store each value with a TTL: fresh for 2 s; stale-while-revalidate may serve it for 2 s more, never longer.",
				"version %d, fetched %s before the answer", v, ms(age))
		}
	}
	flowCalls := all[len(warm):]
	if len(flowCalls) > flowMaxCalls {
		return scenarios.Failf(fmt.Sprintf("at most %d origin calls during %s", flowMaxCalls, what), stampedeHint,
			"%d origin calls, up to %d of them in flight at the same time", len(flowCalls), maxInFlight(flowCalls))
	}
	if n := maxInFlight(all); n > 1 {
		return scenarios.Failf("at most 1 origin call for a product in flight at any time, across both replicas", stampedeHint,
			"%d origin calls for the product in flight at the same time", n)
	}
	return nil
}

func originFailure(ctx context.Context, h *scenarios.Harness) error {
	// A: the origin answers 500 to every request for this product.
	id := newID("fail")
	since, err := h.Agent.LastCall(ctx)
	if err != nil {
		return err
	}
	if err := h.Agent.Downstream(ctx, agent.DownstreamBehaviour{PathPrefix: originPath(id), Status: http.StatusInternalServerError}); err != nil {
		return err
	}
	rs := h.Concurrent(ctx, 8, func(int) scenarios.Request {
		return scenarios.Request{Path: productPath(id), Timeout: failureBound + 3*time.Second}
	})
	for _, r := range rs {
		if err := expectFailure(r, "each of 8 concurrent reads while the origin answers 500"); err != nil {
			return err
		}
	}
	if err := h.Agent.Downstream(ctx, agent.DownstreamBehaviour{PathPrefix: originPath(id)}); err != nil {
		return err
	}
	if err := expectRecovery(ctx, h, since, id, "after the origin answered 500 and recovered"); err != nil {
		return err
	}

	// B: the origin does not answer at all.
	id = newID("hang")
	if err := h.Agent.Downstream(ctx, agent.DownstreamBehaviour{PathPrefix: originPath(id), Hang: true}); err != nil {
		return err
	}
	r := get(ctx, h, id, 1, failureBound+3*time.Second)
	if err := expectFailure(r, "a read while the origin does not answer"); err != nil {
		return err
	}
	if err := h.Agent.Downstream(ctx, agent.DownstreamBehaviour{PathPrefix: originPath(id)}); err != nil {
		return err
	}
	return expectRecovery(ctx, h, since, id, "after the origin hung and recovered")
}

// expectFailure checks an error answer (502, 503 or 504) within failureBound.
func expectFailure(r scenarios.Response, what string) error {
	if r.Err == nil && (r.Status == http.StatusBadGateway || r.Status == http.StatusServiceUnavailable || r.Status == http.StatusGatewayTimeout) && r.Duration <= failureBound {
		return nil
	}
	hint := "Give the origin call a 2 s deadline; answer 502 for an origin error and 504 for a timeout, and never cache either."
	if r.Status == http.StatusOK {
		hint = "Nothing was cached for this product and the origin failed: there is no product to answer. Never cache an error as a value."
	}
	return scenarios.Failf(fmt.Sprintf("502, 503 or 504 within %s for %s", ms(failureBound), what), hint,
		"%s after %s", r.Describe(), ms(r.Duration))
}

// expectRecovery checks that the next read after the origin recovered is a fresh 200, quickly.
func expectRecovery(ctx context.Context, h *scenarios.Harness, since int, id, what string) error {
	r := get(ctx, h, id, 2, WaitLimit+OriginTimeout+time.Second)
	hint := "A failed fill must release its lock at once (delete it in a finally/defer), and the lock needs an expiry in case its holder dies."
	if r.Err != nil || r.Duration > recoveryBound || r.Status != http.StatusOK {
		return scenarios.Failf(fmt.Sprintf("200 within %s for the first read %s", ms(recoveryBound), what), hint,
			"%s after %s", r.Describe(), ms(r.Duration))
	}
	v, err := expectProduct(r, id, "the first read "+what)
	if err != nil {
		return err
	}
	calls, err := originCalls(ctx, h, since, id)
	if err != nil {
		return err
	}
	if v != int64(len(calls)) {
		return scenarios.Failf(fmt.Sprintf("the first read %s to come from a new origin call (version %d)", what, len(calls)),
			"Never cache an error as a value: after a failed fill the next request must call the origin again.",
			"version %d", v)
	}
	return nil
}
