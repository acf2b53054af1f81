package flashsale

import (
	"context"
	"fmt"
	"strings"

	"github.com/holdfast-ci/holdfast/scenarios"
)

// The hints of failures whose cause is a stale copy of the stock. They name no place: where the
// copy is, only the sandbox can tell, and explainStale replaces them with what it shows.
const (
	hintStale    = "Read the stock from Postgres on every GET: a copy kept anywhere else misses the orders taken after it was made."
	hintDisagree = "The replicas disagree about the stock: at least one answers from a copy of its own. Read the stock from Postgres on every GET."
	// hintNotLinearizable and hintLostUpdate may have another cause than a copy; explainStale
	// names a copy only when it finds one.
	hintNotLinearizable = "Keep the stock in Postgres only, take units atomically, and read the committed value on every GET."
	hintLostUpdate      = "More units are left than the confirmed orders allow. Either orders were confirmed without their units leaving the stock — two buyers read the same stock and both wrote back stock − 1 (a lost update): take units with one conditional UPDATE … SET stock = stock - $qty WHERE … AND stock >= $qty, or lock the row first — or the reads come from a copy that missed orders."
)

// maxScan bounds the keys explainStale looks at in Redis; the sandbox's Redis holds only what
// the app put there.
const maxScan = 2000

// explainStale gives a failure that a stale copy of the stock may cause (hintStale,
// hintDisagree, hintNotLinearizable, hintLostUpdate) a hint that follows from what the sandbox shows, never from
// the usual cause: a key of the shared Redis that names the sku holds a copy every replica reads;
// with no such key, replicas that still answer differently once nothing is in flight keep a copy
// each in their own memory. Other errors pass through unchanged.
func explainStale(ctx context.Context, h *scenarios.Harness, sku string, err error) error {
	f, ok := scenarios.AsFailure(err)
	if !ok || (f.Hint != hintStale && f.Hint != hintDisagree && f.Hint != hintNotLinearizable && f.Hint != hintLostUpdate) {
		return err
	}
	where, found := redisCopy(ctx, h, sku)
	seen, _ := readEverywhere(ctx, h, sku) // nil when a replica does not answer a stock: unknown
	f.Hint = staleHint(f.Hint, where, found, seen)
	return err
}

// staleHint words what explainStale found for a failure with hint base: where, a Redis key (and
// field) holding a copy of the item when found; seen, what each replica answers now (nil if
// unknown).
func staleHint(base, where string, found bool, seen []int64) string {
	if found {
		return fmt.Sprintf("Redis, which both replicas share, holds a copy of this item (%s): a cached stock goes stale with the next order. Read the stock from Postgres, the stock of record, on every GET.", where)
	}
	if !agree(seen) {
		return fmt.Sprintf("Redis holds no copy of this item, and with nothing in flight the replicas still answer differently (%s): at least one answers from a copy in its own memory. Read the stock from Postgres on every GET.", describeReads(seen))
	}
	if base == hintNotLinearizable || base == hintLostUpdate {
		return base
	}
	return "Redis holds no copy of this item, so the stale answers come from the service itself: read the stock from Postgres on every GET, with no copy kept in the process."
}

// redisCopy looks in the shared Redis for a key that names the sku, or a hash with a field that
// does, and describes the first it finds.
func redisCopy(ctx context.Context, h *scenarios.Harness, sku string) (string, bool) {
	rdb, err := h.Redis()
	if err != nil {
		return "", false
	}
	defer rdb.Close()
	var cursor uint64
	for scanned := 0; scanned < maxScan; {
		keys, next, err := rdb.Scan(ctx, cursor, "*", 500).Result()
		if err != nil {
			return "", false
		}
		for _, k := range keys {
			if strings.Contains(k, sku) {
				return fmt.Sprintf("key %q", k), true
			}
			if t, err := rdb.Type(ctx, k).Result(); err == nil && t == "hash" {
				if ok, err := rdb.HExists(ctx, k, sku).Result(); err == nil && ok {
					return fmt.Sprintf("key %q, field %q", k, sku), true
				}
			}
		}
		scanned += len(keys)
		if next == 0 {
			break
		}
		cursor = next
	}
	return "", false
}
