// BROKEN VARIANT (every origin failure is a 502): an error, a refused connection and a timeout
// are all "the origin failed", so a read whose origin never answered gets 502 Bad Gateway after
// the 2 s deadline instead of 504 Gateway Timeout. Otherwise identical to the reference.
//
// Must fail: origin_failure_recovery (the hanging origin). Must pass the rest.
//
// Command products is the reference solution of the cache-stampede challenge.
//
// GET /api/products/{id} reads a product through a Redis cache that every replica shares. A
// miss is filled by one request across all replicas: inside a process, the requests for one id
// share a single fill (a flight); the flights of different processes race for a per-product
// lock in Redis (SET NX PX). The winner checks the cache again, calls the origin, stores the
// value with its TTL and only then releases the lock; the others poll the cache every 20 ms
// and take the lock themselves if it is released without a value, for at most 2.5 s. The lock
// expires by itself, so a holder that dies cannot wedge the product, and a failed fill
// releases it at once without caching anything.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	cacheTTL      = 2 * time.Second         // the contract: a value is fresh for 2 s
	lockTTL       = 5 * time.Second         // longer than a fill can take, so it only expires for a dead holder
	originTimeout = 2 * time.Second         // the contract: 504 after 2 s
	waitLimit     = 2500 * time.Millisecond // the contract: 503 after waiting 2.5 s for another fill
	pollInterval  = 20 * time.Millisecond
	redisTimeout  = 500 * time.Millisecond
)

var validID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// release deletes the lock only if this holder still owns it: after an expiry someone else may.
var release = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)

// result is an answer ready to send.
type result struct {
	status int
	body   any
}

// flight is one fill that every request for the same id in this process waits on.
type flight struct {
	done chan struct{}
	res  result
}

type server struct {
	rdb       *redis.Client
	originURL string
	client    *http.Client

	mu      sync.Mutex
	flights map[string]*flight
}

func main() {
	opts, err := redis.ParseURL(getenv("REDIS_URL", "redis://redis:6379/0"))
	if err != nil {
		log.Fatalf("REDIS_URL: %v", err)
	}
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = redisTimeout, redisTimeout, redisTimeout
	opts.PoolSize = 64
	opts.MaxRetries = -1 // a retry would double a timeout; the next request tries again
	s := &server{
		rdb:       redis.NewClient(opts),
		originURL: getenv("DOWNSTREAM_URL", "http://downstream:8070"),
		client:    &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
		flights:   map[string]*flight{},
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /api/products/{id}", s.getProduct)

	srv := &http.Server{Addr: ":" + getenv("PORT", "3000"), Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	log.Printf("listening on %s", srv.Addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

func (s *server) getProduct(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !validID.MatchString(id) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "id must be 1-64 letters, digits, - or _"})
		return
	}
	res := s.lookup(r.Context(), id)
	writeJSON(w, res.status, res.body)
}

// lookup answers from the cache, or joins (or starts) this process's fill for id.
func (s *server) lookup(ctx context.Context, id string) result {
	if v, err := s.cached(ctx, id); err == nil && v != nil {
		return found(id, *v)
	}
	s.mu.Lock()
	f, joined := s.flights[id]
	if !joined {
		f = &flight{done: make(chan struct{})}
		s.flights[id] = f
	}
	s.mu.Unlock()
	if !joined {
		// The fill runs on its own: it serves every request waiting on it, not only this one,
		// so this request's cancellation must not abort it. Its own deadlines bound it.
		go func() {
			f.res = s.fill(id)
			s.mu.Lock()
			delete(s.flights, id)
			s.mu.Unlock()
			close(f.done)
		}()
	}
	select {
	case <-f.done:
		return f.res
	case <-ctx.Done():
		return result{http.StatusServiceUnavailable, map[string]string{"error": "request cancelled"}}
	}
}

// fill waits for the value or takes the product's lock and fetches it, for at most waitLimit.
func (s *server) fill(id string) result {
	deadline := time.Now().Add(waitLimit)
	token := newToken()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), redisTimeout)
		v, err := s.cached(ctx, id)
		if err == nil && v != nil {
			cancel()
			return found(id, *v)
		}
		var won bool
		if err == nil {
			won, err = s.rdb.SetNX(ctx, lockKey(id), token, lockTTL).Result()
		}
		cancel()
		if err != nil {
			// Redis is unreachable: serve from the origin rather than fail. This process still
			// sends one request per product at a time.
			log.Printf("redis: %v; reading %s from the origin", err, id)
			v, res := s.fetch(id)
			if v == nil {
				return res
			}
			return found(id, *v)
		}
		if won {
			return s.fillLocked(id, token)
		}
		if time.Now().Add(pollInterval).After(deadline) {
			return result{http.StatusServiceUnavailable, map[string]string{"error": "timed out waiting for the cache to be filled"}}
		}
		time.Sleep(pollInterval)
	}
}

// fillLocked runs while this process holds the product's lock.
func (s *server) fillLocked(id, token string) result {
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), redisTimeout)
		defer cancel()
		if err := release.Run(ctx, s.rdb, []string{lockKey(id)}, token).Err(); err != nil {
			log.Printf("release lock for %s: %v (it expires in %s)", id, err, lockTTL)
		}
	}()
	// The value may have been stored between our last look and taking the lock.
	ctx, cancel := context.WithTimeout(context.Background(), redisTimeout)
	v, err := s.cached(ctx, id)
	cancel()
	if err == nil && v != nil {
		return found(id, *v)
	}
	v, res := s.fetch(id)
	if v == nil {
		return res // a failure is never cached: the next request tries again
	}
	data, _ := json.Marshal(v)
	ctx, cancel = context.WithTimeout(context.Background(), redisTimeout)
	defer cancel()
	if err := s.rdb.Set(ctx, cacheKey(id), data, cacheTTL).Err(); err != nil {
		log.Printf("store %s: %v", id, err)
	}
	return found(id, *v)
}

// product is what the cache holds: the origin's answer, reduced to what we serve.
type product struct {
	Version int64 `json:"version"`
}

func (s *server) cached(ctx context.Context, id string) (*product, error) {
	data, err := s.rdb.Get(ctx, cacheKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var p product
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, nil // unreadable: treat as a miss and overwrite it
	}
	return &p, nil
}

// fetch calls the origin once, with the contract's deadline. On failure it returns the answer
// to send instead.
func (s *server) fetch(id string) (*product, result) {
	ctx, cancel := context.WithTimeout(context.Background(), originTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.originURL+"/products/"+url.PathEscape(id), nil)
	if err != nil {
		return nil, result{http.StatusInternalServerError, map[string]string{"error": err.Error()}}
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, result{http.StatusBadGateway, map[string]string{"error": "origin failed: " + err.Error()}}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, result{http.StatusBadGateway, map[string]string{"error": "reading the origin's answer: " + err.Error()}}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, result{http.StatusBadGateway, map[string]string{"error": fmt.Sprintf("origin answered %d", resp.StatusCode)}}
	}
	var p product
	if err := json.Unmarshal(body, &p); err != nil || p.Version <= 0 {
		return nil, result{http.StatusBadGateway, map[string]string{"error": "origin answered without a version"}}
	}
	return &p, result{}
}

func found(id string, p product) result {
	return result{http.StatusOK, map[string]any{"id": id, "version": p.Version}}
}

func cacheKey(id string) string { return "product:" + id }
func lockKey(id string) string  { return "lock:product:" + id }

func newToken() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func getenv(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		log.Printf("write response: %v", err)
	}
}
