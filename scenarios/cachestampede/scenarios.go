package cachestampede

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/agent"
)

// Slug names the challenge in the catalog and in templates/.
const Slug = "cache-stampede"

// The contract's numbers (templates/cache-stampede/README.md states each of them).
const (
	// CacheTTL is how long a value is fresh after it was fetched from the origin.
	CacheTTL = 2 * time.Second
	// MaxAge bounds stale-while-revalidate: no answer may carry a value fetched longer ago.
	MaxAge = 4 * time.Second
	// OriginTimeout is when the app gives up on the origin and answers 504.
	OriginTimeout = 2 * time.Second
	// WaitLimit is how long a request may wait for another request's fill before it answers 503.
	WaitLimit = 2500 * time.Millisecond
	// OriginLatency is how slow the harness makes the origin in the load scenarios.
	OriginLatency = 300 * time.Millisecond
	// LockExpiry bounds how long anything that locks a product may outlive a holder that died.
	LockExpiry = 5 * time.Second
)

// What the scenarios send and what they hold the app to.
const (
	stampedeRequests = 60 // concurrent requests for one product after a flush
	stampedeRounds   = 3
	latencyRounds    = 2
	latencyP95       = 800 * time.Millisecond
	distinctKeys     = 10 // cold products requested at once…
	perKey           = 3  // …by this many requests each
	distinctMax      = 2 * time.Second
	distinctSpread   = time.Second // every key's origin call starts within this of the first
	flowFor          = 5 * time.Second
	flowEvery        = 50 * time.Millisecond // two requests (one per replica) each tick
	flowMaxCalls     = 3                     // origin calls in flowFor with a 2 s TTL
	ageSlack         = 500 * time.Millisecond
	failureBound     = 3 * time.Second         // an error answer while the origin fails or hangs
	recoveryBound    = time.Second             // the first good answer after the origin recovered
	fillerLatency    = 1800 * time.Millisecond // the origin's latency while the filler that will die works: under OriginTimeout
	waitSlack        = time.Second             // on top of WaitLimit, for the sandbox under load
	expirySlack      = 1500 * time.Millisecond
)

// Scenarios returns the challenge's scenario table in the order it runs.
func Scenarios() []scenarios.Scenario {
	return []scenarios.Scenario{
		{Slug: "read_through", Title: "A product is read through the shared cache, and a flush makes the next read go to the origin", Weight: 10, Visibility: scenarios.Public, Run: readThrough},
		{Slug: "invalid_id_rejected", Title: "An invalid product id gets 400 and never reaches the origin", Weight: 5, Visibility: scenarios.Public, Run: invalidIDs},
		{Slug: "hot_key_flush_stampede", Title: "A hot product flushed under 60 concurrent requests is fetched from the origin once", Weight: 25, Visibility: scenarios.Public, Run: hotKeyFlush},
		{Slug: "stampede_latency", Title: "During a stampede, 95% of requests are answered within 800 ms", Weight: 15, Visibility: scenarios.Public, Run: stampedeLatency},
		{Slug: "distinct_keys_not_serialised", Title: "Ten cold products requested at once are fetched in parallel, once each", Weight: 15, Visibility: scenarios.Public, Run: distinctProducts},
		{Slug: "expiry_under_load", Title: "Expiry under steady load refreshes a product one origin call at a time, and never serves it too old", Weight: 15, Visibility: scenarios.Hidden, Run: expiryUnderLoad},
		{Slug: "origin_failure_recovery", Title: "A failing or hanging origin gets a quick error, nothing is cached, and the product is not left locked", Weight: 20, Visibility: scenarios.Public, Run: originFailure},
		{Slug: "crashed_filler_does_not_wedge", Title: "A replica killed in the middle of a fill makes others wait at most 2.5 s, and its lock expires", Weight: 10, Visibility: scenarios.Hidden, Disruptive: true, Timeout: 30 * time.Second, Run: crashedFiller},
	}
}

func newID(prefix string) string {
	return "hf-" + prefix + "-" + scenarios.RandomHex(5)
}

func productPath(id string) string { return "/api/products/" + id }
func originPath(id string) string  { return "/products/" + id }

// get reads one product from the given replica (0: round-robin).
func get(ctx context.Context, h *scenarios.Harness, id string, replica int, timeout time.Duration) scenarios.Response {
	return h.Do(ctx, scenarios.Request{Path: productPath(id), Replica: replica, Timeout: timeout})
}

// product is the contract's answer.
type product struct {
	ID      string `json:"id"`
	Version int64  `json:"version"`
}

// expectProduct checks a 200 with the product's id and a version, and returns the version.
func expectProduct(r scenarios.Response, id, what string) (int64, error) {
	if r.Status != http.StatusOK {
		return 0, scenarios.Failf(fmt.Sprintf("200 with product %s for %s", id, what), hintFor(r), "%s", r.Describe())
	}
	var p product
	if err := json.Unmarshal(r.Body, &p); err != nil || p.ID != id || p.Version <= 0 {
		return 0, scenarios.Failf(fmt.Sprintf(`{"id": %q, "version": <the origin's version>} for %s`, id, what),
			"Answer the id you were asked for and the origin's integer \"version\".", "%s", r.Describe())
	}
	return p.Version, nil
}

func hintFor(r scenarios.Response) string {
	switch {
	case r.Err != nil && r.TimedOut():
		return "The request hung. Look for a wait without a deadline, or a lock that is never released."
	case r.Err != nil:
		return "The app dropped the connection. Look at its log for a panic or crash."
	case r.Status == http.StatusServiceUnavailable:
		return "503 means a request waited 2.5 s for another request's fill: is the lock held too long, or never released, or one lock shared by every product?"
	case r.Status >= 500:
		return "The app answered with a server error; its log usually says why."
	}
	return "Compare your status codes with the API contract in the brief."
}

// originCalls returns the calls to one product's origin path after since. A product's id is new
// in every scenario, so the n-th of them answered version n.
func originCalls(ctx context.Context, h *scenarios.Harness, since int, id string) ([]agent.Call, error) {
	calls, err := h.Agent.Calls(ctx, since)
	if err != nil {
		return nil, fmt.Errorf("read downstream calls: %w", err)
	}
	var out []agent.Call
	for _, c := range calls {
		if c.Path == originPath(id) {
			out = append(out, c)
		}
	}
	return out, nil
}

// maxInFlight is the largest number of calls in flight at one moment. A call still in flight
// (zero End) counts as running until now.
func maxInFlight(calls []agent.Call) int {
	type edge struct {
		at    time.Time
		delta int
	}
	var edges []edge
	for _, c := range calls {
		end := c.End
		if end.IsZero() {
			end = time.Now()
		}
		edges = append(edges, edge{c.Start, +1}, edge{end, -1})
	}
	slices.SortFunc(edges, func(a, b edge) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.delta - b.delta // an end before a start at the same instant: no overlap
	})
	most, now := 0, 0
	for _, e := range edges {
		now += e.delta
		most = max(most, now)
	}
	return most
}

// flush empties the real Redis sidecar, as an operator purging the cache would.
func flush(ctx context.Context, h *scenarios.Harness) error {
	rdb, err := h.Redis()
	if err != nil {
		return err
	}
	defer rdb.Close()
	if err := rdb.FlushAll(ctx).Err(); err != nil {
		return fmt.Errorf("flush the redis sidecar: %w", err)
	}
	return nil
}

// slowOrigin makes every product's origin call take OriginLatency.
func slowOrigin(ctx context.Context, h *scenarios.Harness) error {
	return h.Agent.Downstream(ctx, agent.DownstreamBehaviour{PathPrefix: "/products/", LatencyMS: OriginLatency.Milliseconds()})
}

// percentile returns the p-th percentile (0 < p ≤ 1) of ds by the nearest-rank method.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s))*p+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func ms(d time.Duration) string { return d.Round(time.Millisecond).String() }
