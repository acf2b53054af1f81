// Prices service: answers product prices for the shop's pages from the catalog service, with a
// cache in front. Owned by the storefront team; see README.md for the open incident.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// Catalog calls. Reads are retried (they are idempotent); writes are not.
const (
	attemptTimeout = 300 * time.Millisecond // per catalog read attempt (SLO: p99 page < 1.5 s)
	readAttempts   = 3
	writeTimeout   = 2 * time.Second
	cacheTTL       = 60 * time.Second
)

// backoff is the wait before the 2nd and the 3rd read attempt.
var backoff = []time.Duration{50 * time.Millisecond, 100 * time.Millisecond}

// currencies are the currencies a price is served in; the catalog converts.
var currencies = []string{"EUR", "USD", "GBP"}

type entry struct {
	version int64
	expires time.Time
}

// slot is a cache key: one product in one currency.
type slot struct{ id, currency string }

// flight is a catalog read in progress; readers of the same slot and generation wait on done.
type flight struct {
	done    chan struct{}
	version int64
	err     error
}

// cache holds catalog answers per product and currency.
//
// INC-2291 root cause: v2.14 invalidated by bumping one cache-wide epoch, so every price
// update made every cached product and currency unreachable. During the import (about 2
// updates/s against a 60 s TTL) the hit ratio collapsed, every page read went to the catalog,
// the catalog slowed past the 300 ms attempt budget and the retries tripled the load.
//
// Now each product has its own generation. A price update bumps only that product's
// generation and drops its entries in every currency; other products keep their entries.
// A read remembers the generation it started under and stores its answer only if the product
// has not been updated meanwhile, so a read that raced a write cannot cache the old record.
// Concurrent misses of one slot in one generation share a single catalog read.
type cache struct {
	mu      sync.Mutex
	gen     map[string]uint64
	items   map[slot]entry
	flights map[slot]map[uint64]*flight
}

func newCache() *cache {
	return &cache{gen: map[string]uint64{}, items: map[slot]entry{}, flights: map[slot]map[uint64]*flight{}}
}

// lookup answers from the cache, or joins the read in flight for this slot and generation, or
// makes the caller the leader of a new one (lead == true: the caller must call land).
func (c *cache) lookup(id, currency string) (v int64, hit bool, f *flight, lead bool, g uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := slot{id, currency}
	if e, ok := c.items[k]; ok && time.Now().Before(e.expires) {
		return e.version, true, nil, false, 0
	}
	g = c.gen[id]
	if f := c.flights[k][g]; f != nil {
		return 0, false, f, false, g
	}
	f = &flight{done: make(chan struct{})}
	if c.flights[k] == nil {
		c.flights[k] = map[uint64]*flight{}
	}
	c.flights[k][g] = f
	return 0, false, f, true, g
}

// land finishes a flight: it wakes the waiters and caches a successful answer if the product
// was not updated since the read began.
func (c *cache) land(id, currency string, g uint64, f *flight) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := slot{id, currency}
	delete(c.flights[k], g)
	if len(c.flights[k]) == 0 {
		delete(c.flights, k)
	}
	if f.err == nil && c.gen[id] == g {
		c.items[k] = entry{version: f.version, expires: time.Now().Add(cacheTTL)}
	}
	close(f.done)
}

// invalidate makes the next read of a product go to the catalog, in every currency, and only
// that product. It returns the product's new generation.
func (c *cache) invalidate(id string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen[id]++
	delete(c.items, slot{id, "EUR"}) // prices are stored in EUR; the catalog converts
	return c.gen[id]
}

// sweep drops expired entries now and then, so the map does not grow without bound.
func (c *cache) sweep(ctx context.Context) {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.mu.Lock()
			now := time.Now()
			for k, e := range c.items {
				if now.After(e.expires) {
					delete(c.items, k)
				}
			}
			c.mu.Unlock()
		}
	}
}

type server struct {
	catalog string
	http    *http.Client
	cache   *cache
	log     *slog.Logger
}

// errTimeout marks a catalog read whose every attempt ran out of time.
var errTimeout = errors.New("catalog did not answer in time")

// fetchOnce reads a product's record in a currency from the catalog.
func (s *server) fetchOnce(ctx context.Context, id, currency string) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.catalog+"/catalog/products/"+id+"?currency="+currency, nil)
	if err != nil {
		return 0, err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, errTimeout
		}
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		if ctx.Err() != nil {
			return 0, errTimeout
		}
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("catalog answered %d", resp.StatusCode)
	}
	var rec struct {
		Version int64 `json:"version"`
	}
	if err := json.Unmarshal(body, &rec); err != nil {
		return 0, fmt.Errorf("catalog record: %w", err)
	}
	return rec.Version, nil
}

// fetch reads with retries: up to readAttempts attempts, with backoff between them.
func (s *server) fetch(ctx context.Context, id, currency string) (int64, error) {
	var err error
	for attempt := 1; attempt <= readAttempts; attempt++ {
		if attempt > 1 {
			s.log.Warn("catalog read failed, retrying", "product", id, "currency", currency, "attempt", attempt, "err", err)
			select {
			case <-time.After(backoff[attempt-2]):
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
		var v int64
		if v, err = s.fetchOnce(ctx, id, currency); err == nil {
			return v, nil
		}
	}
	return 0, err
}

func (s *server) getProduct(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	currency := r.URL.Query().Get("currency")
	if currency == "" {
		currency = "EUR"
	}
	if !supported(currency) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported currency"})
		return
	}
	v, hit, f, lead, gen := s.cache.lookup(id, currency)
	if hit {
		writeJSON(w, http.StatusOK, map[string]any{"id": id, "currency": currency, "version": v})
		return
	}
	start := time.Now()
	if lead {
		s.log.Info("cache miss", "product", id, "currency", currency, "gen", gen)
		// The read belongs to every request waiting on it: a leader that hangs up must not
		// cut the followers' attempts short.
		f.version, f.err = s.fetch(context.WithoutCancel(r.Context()), id, currency)
		s.cache.land(id, currency, gen, f)
	} else {
		select {
		case <-f.done:
		case <-r.Context().Done():
			return
		}
	}
	switch err := f.err; {
	case errors.Is(err, errTimeout):
		s.log.Error("catalog read gave up", "product", id, "currency", currency, "after", time.Since(start).Round(time.Millisecond), "err", err)
		writeJSON(w, http.StatusGatewayTimeout, map[string]string{"error": "catalog timeout"})
		return
	case err != nil:
		s.log.Error("catalog read gave up", "product", id, "currency", currency, "after", time.Since(start).Round(time.Millisecond), "err", err)
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": "catalog unavailable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "currency": currency, "version": f.version})
}

func (s *server) updatePrice(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	var in struct {
		Price *int64 `json:"price"`
	}
	if err != nil || json.Unmarshal(body, &in) != nil || in.Price == nil || *in.Price <= 0 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "price must be a positive integer (cents)"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), writeTimeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.catalog+"/catalog/products/"+id, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.http.Do(req)
	if err != nil {
		// No answer: the catalog may still have applied the write, so do not keep serving
		// what we had cached for this product.
		s.cache.invalidate(id)
		s.log.Error("catalog write failed", "product", id, "err", err)
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": "catalog unavailable"})
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		s.log.Error("catalog write refused", "product", id, "status", resp.StatusCode)
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": "catalog unavailable"})
		return
	}
	gen := s.cache.invalidate(id)
	s.log.Info("price updated", "product", id, "price", *in.Price, "gen", gen)
	w.WriteHeader(http.StatusNoContent)
}

func supported(currency string) bool {
	for _, c := range currencies {
		if c == currency {
			return true
		}
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func main() {
	log := slog.New(slog.NewTextHandler(os.Stdout, nil))
	catalog := strings.TrimRight(os.Getenv("DOWNSTREAM_URL"), "/")
	if catalog == "" {
		log.Error("DOWNSTREAM_URL is not set: the catalog service's base URL")
		os.Exit(1)
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "3000"
	}
	s := &server{catalog: catalog, cache: newCache(), log: log,
		http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}}}
	go s.cache.sweep(context.Background())
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	mux.HandleFunc("GET /api/products/{id}", s.getProduct)
	mux.HandleFunc("PUT /api/products/{id}", s.updatePrice)
	log.Info("prices listening", "port", port, "catalog", catalog)
	if err := http.ListenAndServe(":"+port, mux); err != nil {
		log.Error("listen", "err", err)
		os.Exit(1)
	}
}
