// A fix of INC-2291 that is right about the root cause but drops the backoff between read
// attempts (the brief's 50 ms, then 100 ms): it must fail catalog_errors_backoff, whatever the
// machine's load. Root cause: since v2.14 a price update bumped the cache epoch,
// which invalidated every product in every currency, not just the updated one. During the price
// import every page read became a catalog read; the catalog slowed past our 300 ms attempt
// timeout, and each miss turned into three timed-out attempts: the retry storm. The currencies
// a product is cached in are a fixed list, so invalidation deletes exactly that product's keys.
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

// backoff is the wait before the 2nd and the 3rd read attempt. The fix retries at once: a
// failed connection or a 503 is answered in a few milliseconds, so waiting only slows the page.
var backoff = []time.Duration{0, 0}

// currencies are the currencies a price is served in; the catalog converts.
var currencies = []string{"EUR", "USD", "GBP"}

type entry struct {
	version int64
	expires time.Time
}

// cache holds catalog answers per product and currency.
type cache struct {
	mu    sync.Mutex
	epoch int64
	items map[string]entry
}

func newCache() *cache { return &cache{items: map[string]entry{}} }

// key is the cache key of a product in a currency. Callers hold mu.
func (c *cache) key(id, currency string) string {
	return fmt.Sprintf("%d:%s:%s", c.epoch, id, currency)
}

func (c *cache) get(id, currency string) (int64, int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[c.key(id, currency)]
	if !ok || time.Now().After(e.expires) {
		return 0, c.epoch, false
	}
	return e.version, c.epoch, true
}

func (c *cache) put(id, currency string, version int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.items[c.key(id, currency)] = entry{version: version, expires: time.Now().Add(cacheTTL)}
}

// invalidate makes the next read of a product go to the catalog, in every currency it may be
// cached in, and leaves every other product cached. (The epoch no longer changes; it stays in
// the keys and the logs for the dashboards that group by it.)
func (c *cache) invalidate(id string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cur := range currencies {
		delete(c.items, c.key(id, cur))
	}
	return c.epoch
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
	v, epoch, ok := s.cache.get(id, currency)
	if ok {
		writeJSON(w, http.StatusOK, map[string]any{"id": id, "currency": currency, "version": v})
		return
	}
	s.log.Info("cache miss", "product", id, "currency", currency, "epoch", epoch)
	start := time.Now()
	v, err := s.fetch(r.Context(), id, currency)
	switch {
	case errors.Is(err, errTimeout):
		s.log.Error("catalog read gave up", "product", id, "currency", currency, "after", time.Since(start).Round(time.Millisecond), "err", err)
		writeJSON(w, http.StatusGatewayTimeout, map[string]string{"error": "catalog timeout"})
		return
	case err != nil:
		s.log.Error("catalog read gave up", "product", id, "currency", currency, "after", time.Since(start).Round(time.Millisecond), "err", err)
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": "catalog unavailable"})
		return
	}
	s.cache.put(id, currency, v)
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "currency": currency, "version": v})
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
	epoch := s.cache.invalidate(id)
	s.log.Info("price updated", "product", id, "price", *in.Price, "epoch", epoch)
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
