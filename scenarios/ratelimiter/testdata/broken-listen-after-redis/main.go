// Command ratelimiter is a BROKEN variant of the rate-limiter reference: it waits until Redis
// answers a PING before it starts listening, so a replica started while Redis is down answers
// nothing at all (connection refused) instead of /healthz 503 — the brief's P1 says it keeps
// running and answers 503 until it reaches Redis. Everything else is the reference.
package main

import (
	"context"
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
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	limit             = 10              // requests admitted per client per window
	window            = 2 * time.Second // fixed windows, aligned to Unix time
	policy            = `"default";q=10;w=2`
	redisTimeout      = 500 * time.Millisecond // one Redis round trip; 503 beyond it
	downstreamTimeout = 5 * time.Second
)

var clientIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

type server struct {
	rdb        *redis.Client
	downstream string
	client     *http.Client
}

func main() {
	opts, err := redis.ParseURL(getenv("REDIS_URL", "redis://redis:6379/0"))
	if err != nil {
		log.Fatalf("REDIS_URL: %v", err)
	}
	// Fail fast instead of retrying: a request waits for Redis at most redisTimeout, and a
	// connection that timed out is discarded (go-redis never reuses one after a timeout).
	opts.DialTimeout = redisTimeout
	opts.ReadTimeout = redisTimeout
	opts.WriteTimeout = redisTimeout
	opts.PoolTimeout = redisTimeout
	opts.MaxRetries = -1
	opts.DialerRetries = 1 // a refused connection fails at once, not after 5 dials 100 ms apart
	opts.ContextTimeoutEnabled = true
	rdb := redis.NewClient(opts)
	defer rdb.Close()

	s := &server{rdb: rdb, downstream: getenv("DOWNSTREAM_URL", "http://downstream:8070"),
		client: &http.Client{Timeout: downstreamTimeout}}
	mux := http.NewServeMux()
	// Ready once Redis answered a first PING, so that the first requests do not all pay for
	// (or time out on) the first connections; from then on /healthz stays 200 whatever Redis
	// does.
	var ready atomic.Bool
	// BROKEN: block until Redis answers, before the server listens.
	for !ready.Load() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if err := rdb.Ping(ctx).Err(); err == nil {
			ready.Store(true)
		}
		cancel()
		time.Sleep(100 * time.Millisecond)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if !ready.Load() {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "waiting for Redis"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /api/resource", s.resource)

	srv := &http.Server{Addr: ":" + getenv("PORT", "3000"), Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
		<-stop
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	log.Printf("listening on %s (%s)", srv.Addr, getenv("INSTANCE_ID", "app"))
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

// resource handles GET /api/resource: count the hit, then admit (call the downstream) or
// reject with 429.
func (s *server) resource(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get("X-Client-Id")
	if !clientIDPattern.MatchString(id) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "X-Client-Id must be 1 to 64 letters, digits, '.', '_' or '-'"})
		return
	}
	now := time.Now()
	n := now.UnixMilli() / window.Milliseconds()
	// Seconds until this window ends, rounded up: 1 or 2.
	reset := ((n+1)*window.Milliseconds() - now.UnixMilli() + 999) / 1000

	ctx, cancel := context.WithTimeout(r.Context(), redisTimeout)
	count, err := s.hit(ctx, id, n)
	cancel()
	if err != nil {
		log.Printf("rate limit check for %s: %v", id, err)
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "rate limiter unavailable"})
		return
	}

	w.Header().Set("RateLimit-Policy", policy)
	w.Header().Set("RateLimit", fmt.Sprintf(`"default";r=%d;t=%d`, max(0, limit-count), reset))
	if count > limit {
		w.Header().Set("Retry-After", fmt.Sprint(reset))
		writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": "rate limit exceeded"})
		return
	}
	if err := s.work(r.Context(), id); err != nil {
		log.Printf("downstream for %s: %v", id, err)
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": "downstream failed"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"client": id, "remaining": max(0, limit-count)})
}

// hit counts one request of client id in window n and returns the count so far. INCR and
// EXPIRE run in one MULTI/EXEC: the increment is atomic, and the key never outlives the
// window by much.
func (s *server) hit(ctx context.Context, id string, n int64) (int64, error) {
	key := fmt.Sprintf("ratelimit:%s:%d", id, n)
	var incr *redis.IntCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		incr = p.Incr(ctx, key)
		p.Expire(ctx, key, 2*window)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return incr.Val(), nil
}

// work is the admitted request's real work: one call to the downstream service.
func (s *server) work(ctx context.Context, id string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.downstream+"/work?client="+url.QueryEscape(id), nil)
	if err != nil {
		return err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
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
