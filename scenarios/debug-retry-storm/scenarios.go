package debugretrystorm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/agent"
)

// Slug names the challenge in the catalog and in templates/.
const Slug = "debug-retry-storm"

// The contract's numbers (README.md).
const (
	AttemptTimeout = 300 * time.Millisecond // per catalog read attempt
	ReadAttempts   = 3                      // at most, per page read
	PageBudget     = 1500 * time.Millisecond
	MinBackoff     = 40 * time.Millisecond // the brief's 50 ms, less what the harness cannot tell apart
	HotProducts    = 20
	Updates        = 5
	SlowCatalog    = 400 * time.Millisecond // slower than AttemptTimeout: every miss times out
	CacheServe     = time.Second            // a cached answer during the import comes well within this
)

// Scenarios returns the table: regression checks first, then the incident, then the failure
// budgets.
func Scenarios() []scenarios.Scenario {
	return []scenarios.Scenario{
		{Slug: "cached_reads", Title: "A product read twice within the cache TTL is fetched from the catalog once", Weight: 10, Visibility: scenarios.Public, Run: cachedReads},
		{Slug: "fresh_after_update", Title: "After a price update, every currency of that product is read fresh from the catalog", Weight: 15, Visibility: scenarios.Public, Run: freshAfterUpdate},
		{Slug: "update_refetches_only_that_product", Title: "INC-2291: a price update sends only that product back to the catalog", Weight: 25, Visibility: scenarios.Public, Run: updateRefetchesOnly},
		{Slug: "slow_catalog_price_import", Title: "INC-2291: during a price import with a slow catalog, unchanged products are served from cache, without a retry storm", Weight: 25, Visibility: scenarios.Public, Run: slowCatalogImport},
		{Slug: "catalog_hang_budget", Title: "A hanging catalog gets at most 3 attempts and the page a 504 within 1.5 s", Weight: 15, Visibility: scenarios.Public, Run: hangBudget},
		{Slug: "catalog_errors_backoff", Title: "A failing catalog gets at most 3 attempts, spaced by backoff, and the page a 502", Weight: 10, Visibility: scenarios.Hidden, Run: errorsBackoff},
	}
}

// newID returns a product id no other scenario run uses, so that the downstream's per-path
// versions and the app's cache start fresh for it.
func newID(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

func hot(prefix string) []string {
	base := newID(prefix)
	ids := make([]string, HotProducts)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%02d", base, i)
	}
	return ids
}

func read(id, currency string) scenarios.Request {
	return scenarios.Request{Path: "/api/products/" + id + "?currency=" + currency, Timeout: 5 * time.Second}
}

type product struct {
	ID       string `json:"id"`
	Currency string `json:"currency"`
	Version  int64  `json:"version"`
}

// expectProduct checks a 200 with the product's record.
func expectProduct(r scenarios.Response, id, currency, what string) (product, error) {
	var p product
	if r.Err != nil || r.Status != http.StatusOK {
		return p, scenarios.Failf("200 for "+what, "Read the catalog at $DOWNSTREAM_URL/catalog/products/{id}?currency=… and answer its version.", "%s", r.Describe())
	}
	if err := scenarios.Decode(r, &p, "the product for "+what); err != nil {
		return p, err
	}
	if p.ID != id || p.Currency != currency || p.Version <= 0 {
		return p, scenarios.Failf(fmt.Sprintf(`{"id": %q, "currency": %q, "version": <the catalog's>} for %s`, id, currency, what),
			"Answer the id and currency asked for and the catalog record's version.", "%s", r.Describe())
	}
	return p, nil
}

func updatePrice(ctx context.Context, h *scenarios.Harness, id string, price int) error {
	r := h.Do(ctx, scenarios.Request{Method: http.MethodPut, Path: "/api/products/" + id, Body: scenarios.JSON(map[string]int{"price": price}), Timeout: 5 * time.Second})
	if r.Err != nil || r.Status != http.StatusNoContent {
		return scenarios.Failf("204 for PUT /api/products/"+id, "Write the price to the catalog (POST /catalog/products/{id}), then answer 204.", "%s", r.Describe())
	}
	return nil
}

// catalogReads returns the catalog reads since seq for products whose id starts with prefix.
func catalogReads(ctx context.Context, h *scenarios.Harness, since int, prefix string) ([]agent.Call, error) {
	calls, err := h.Agent.Calls(ctx, since)
	if err != nil {
		return nil, fmt.Errorf("read the downstream's calls: %w", err)
	}
	var out []agent.Call
	for _, c := range calls {
		if c.Method == http.MethodGet && strings.HasPrefix(c.Path, "/catalog/products/"+prefix) {
			out = append(out, c)
		}
	}
	return out, nil
}

func productOf(c agent.Call) string { return strings.TrimPrefix(c.Path, "/catalog/products/") }

func cachedReads(ctx context.Context, h *scenarios.Harness) error {
	since, err := h.Agent.LastCall(ctx)
	if err != nil {
		return err
	}
	id := newID("cached")
	first, err := expectProduct(h.Do(ctx, read(id, "EUR")), id, "EUR", "the first read of "+id)
	if err != nil {
		return err
	}
	second, err := expectProduct(h.Do(ctx, read(id, "EUR")), id, "EUR", "the second read of "+id)
	if err != nil {
		return err
	}
	reads, err := catalogReads(ctx, h, since, id)
	if err != nil {
		return err
	}
	if len(reads) != 1 || second.Version != first.Version {
		return scenarios.Failf("exactly 1 catalog read for two page reads of one product within the 60 s TTL", "Cache the catalog's answer per product and currency for 60 s; the cache is what keeps the catalog's load flat.",
			"%d catalog read(s); versions %d then %d", len(reads), first.Version, second.Version)
	}
	return nil
}

func freshAfterUpdate(ctx context.Context, h *scenarios.Harness) error {
	since, err := h.Agent.LastCall(ctx)
	if err != nil {
		return err
	}
	id := newID("fresh")
	currencies := []string{"EUR", "USD", "GBP"}
	for _, c := range currencies {
		if _, err := expectProduct(h.Do(ctx, read(id, c)), id, c, "a read of "+id+" in "+c); err != nil {
			return err
		}
	}
	if err := updatePrice(ctx, h, id, 1299); err != nil {
		return err
	}
	calls, err := h.Agent.Calls(ctx, since)
	if err != nil {
		return fmt.Errorf("read the downstream's calls: %w", err)
	}
	// The downstream's version of a path counts its calls: the write's version is its rank.
	var written int64
	for _, c := range calls {
		if c.Path == "/catalog/products/"+id {
			written++
			if c.Method == http.MethodPost {
				break
			}
		}
	}
	for _, c := range currencies {
		p, err := expectProduct(h.Do(ctx, read(id, c)), id, c, "a read of "+id+" in "+c+" after its price update")
		if err != nil {
			return err
		}
		if p.Version <= written {
			return scenarios.Failf(fmt.Sprintf("the read of %s in %s after the update to come from the catalog (a version above %d, the write's)", id, c, written),
				"Once the catalog accepted the write, invalidate every cached currency of that product (EUR, USD and GBP), and only that product.",
				"version %d: the record cached before the update", p.Version)
		}
	}
	return nil
}

// warm reads every product once, in EUR, all at once.
func warm(ctx context.Context, h *scenarios.Harness, ids []string) error {
	rs := h.Concurrent(ctx, len(ids), func(i int) scenarios.Request { return read(ids[i], "EUR") })
	for i, r := range rs {
		if _, err := expectProduct(r, ids[i], "EUR", "the first read of "+ids[i]); err != nil {
			return err
		}
	}
	return nil
}

func updateRefetchesOnly(ctx context.Context, h *scenarios.Harness) error {
	ids := hot("hot")
	if err := warm(ctx, h, ids); err != nil {
		return err
	}
	since, err := h.Agent.LastCall(ctx)
	if err != nil {
		return err
	}
	changed := ids[6]
	for u := range Updates {
		if err := updatePrice(ctx, h, changed, 1000+u); err != nil {
			return err
		}
		rs := h.Concurrent(ctx, len(ids), func(i int) scenarios.Request { return read(ids[i], "EUR") })
		for i, r := range rs {
			if _, err := expectProduct(r, ids[i], "EUR", fmt.Sprintf("%s after price update %d of %s", ids[i], u+1, changed)); err != nil {
				return err
			}
		}
	}
	reads, err := catalogReads(ctx, h, since, strings.TrimSuffix(ids[0], "-00"))
	if err != nil {
		return err
	}
	var others int
	distinct := map[string]bool{}
	for _, c := range reads {
		if productOf(c) != changed {
			others++
			distinct[productOf(c)] = true
		}
	}
	if others > 1 || len(reads)-others > Updates*ReadAttempts {
		return scenarios.Failf(fmt.Sprintf("about %d catalog reads for %d price updates of one product (one re-read each), and none for the %d products that did not change", Updates, Updates, HotProducts-1),
			"This is INC-2291. Look at what a price update invalidates: one product's update should cost one catalog read, not one per cached product.",
			"%d catalog reads, %d of them for %d products that did not change", len(reads), others, len(distinct))
	}
	return nil
}

func slowCatalogImport(ctx context.Context, h *scenarios.Harness) error {
	ids := hot("import")
	if err := warm(ctx, h, ids); err != nil {
		return err
	}
	changed := ids[7]
	var unchanged []string
	for _, id := range ids {
		if id != changed {
			unchanged = append(unchanged, id)
		}
	}
	if err := h.Agent.Downstream(ctx, agent.DownstreamBehaviour{PathPrefix: "/catalog/", LatencyMS: SlowCatalog.Milliseconds()}); err != nil {
		return err
	}
	since, err := h.Agent.LastCall(ctx)
	if err != nil {
		return err
	}
	var rs []scenarios.Response
	for u := range 3 {
		if err := updatePrice(ctx, h, changed, 2000+u); err != nil {
			return err
		}
		rs = append(rs, h.Concurrent(ctx, len(unchanged), func(i int) scenarios.Request { return read(unchanged[i], "EUR") })...)
	}
	if err := h.Agent.Downstream(ctx, agent.DownstreamBehaviour{PathPrefix: "/catalog/"}); err != nil {
		return err
	}
	reads, err := catalogReads(ctx, h, since, strings.TrimSuffix(ids[0], "-00"))
	if err != nil {
		return err
	}
	others := 0
	for _, c := range reads {
		if productOf(c) != changed {
			others++
		}
	}
	slow, statuses := 0, map[string]int{}
	var slowest time.Duration
	for _, r := range rs {
		st := fmt.Sprint(r.Status)
		if r.Err != nil {
			st = "no answer"
		}
		statuses[st]++
		if r.Err != nil || r.Status != http.StatusOK || r.Duration > CacheServe {
			slow++
		}
		slowest = max(slowest, r.Duration)
	}
	if others > 1 || slow > 0 {
		return scenarios.Failf(fmt.Sprintf("the %d products that did not change served from cache during the import: no catalog reads for them, every page read 200 within %s", len(unchanged), CacheServe),
			"This is INC-2291's retry storm: every read that misses the cache while the catalog is slower than the 300 ms attempt timeout costs 3 catalog calls and still fails. A longer timeout or more retries moves the symptom; find why unchanged products miss the cache.",
			"%d catalog reads for them in 3 rounds; page reads answered %s, the slowest after %s", others, describeStatuses(statuses), slowest.Round(10*time.Millisecond))
	}
	return nil
}

func describeStatuses(m map[string]int) string {
	var parts []string
	for st, n := range m {
		parts = append(parts, fmt.Sprintf("%d× %s", n, st))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

func hangBudget(ctx context.Context, h *scenarios.Harness) error {
	id := newID("hang")
	since, err := h.Agent.LastCall(ctx)
	if err != nil {
		return err
	}
	if err := h.Agent.Downstream(ctx, agent.DownstreamBehaviour{PathPrefix: "/catalog/products/" + id, Hang: true}); err != nil {
		return err
	}
	r := h.Do(ctx, read(id, "EUR"))
	if err := h.Agent.Downstream(ctx, agent.DownstreamBehaviour{PathPrefix: "/catalog/products/" + id}); err != nil {
		return err
	}
	reads, err := catalogReads(ctx, h, since, id)
	if err != nil {
		return err
	}
	if r.Err != nil || r.Status != http.StatusGatewayTimeout || r.Duration > PageBudget || len(reads) > ReadAttempts {
		return scenarios.Failf(fmt.Sprintf("504 within %s, after at most %d catalog attempts of %s each", PageBudget, ReadAttempts, AttemptTimeout),
			"Keep the contract's retry budget: 3 attempts of 300 ms, 50 ms and 100 ms apart. The page's own deadline is what protects the user when the catalog hangs.",
			"%s, %d catalog attempts", describeTimed(r), len(reads))
	}
	return nil
}

// describeTimed is the response and, when it came, how long it took.
func describeTimed(r scenarios.Response) string {
	if r.Err != nil {
		return r.Describe()
	}
	return fmt.Sprintf("%s after %s", r.Describe(), r.Duration.Round(10*time.Millisecond))
}

func errorsBackoff(ctx context.Context, h *scenarios.Harness) error {
	id := newID("failing")
	since, err := h.Agent.LastCall(ctx)
	if err != nil {
		return err
	}
	if err := h.Agent.Downstream(ctx, agent.DownstreamBehaviour{PathPrefix: "/catalog/products/" + id, Status: http.StatusServiceUnavailable}); err != nil {
		return err
	}
	r := h.Do(ctx, read(id, "EUR"))
	reads, err := catalogReads(ctx, h, since, id)
	if err != nil {
		return err
	}
	minGap := time.Hour
	for i := 1; i < len(reads); i++ {
		minGap = min(minGap, reads[i].Start.Sub(reads[i-1].End))
	}
	if r.Err != nil || r.Status != http.StatusBadGateway || len(reads) < 2 || len(reads) > ReadAttempts || minGap < MinBackoff {
		gap := "no retry"
		if len(reads) > 1 {
			gap = "the shortest gap between attempts " + minGap.Round(time.Millisecond).String()
		}
		return scenarios.Failf(fmt.Sprintf("502 after 2 to %d catalog attempts, at least 50 ms apart", ReadAttempts),
			"Retry a 5xx at most twice, waiting 50 ms then 100 ms: retries without backoff are how a blip becomes a storm.",
			"%s after %d catalog attempts, %s", r.Describe(), len(reads), gap)
	}
	return nil
}
