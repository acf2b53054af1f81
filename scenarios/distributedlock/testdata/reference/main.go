// Command report is the reference solution of the distributed-lock challenge.
//
// POST /api/report/run takes a lease on the report in Redis and, in the same atomic step, a
// fencing token from a counter that only goes up. It then writes the report's five steps to the
// fenced store with that token and releases the lease only if it still holds it. The lease
// expires by itself, so a holder that dies or freezes cannot block the others for longer than
// the lease; the token makes the store refuse a frozen holder that wakes up after someone else
// took over, and the holder stops at the first refusal.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	lockKey      = "report:lock"
	tokenKey     = "report:fencing-token"
	lease        = 2 * time.Second // the contract: the lock expires 2 s after it was taken
	steps        = 5
	stepPause    = 250 * time.Millisecond
	storeTimeout = time.Second
	redisTimeout = time.Second
)

// acquire takes the lock only if nobody holds it, and the next fencing token with it: one
// script, so no other client can run between the two.
var acquire = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return 0`)

// release deletes the lock only if it still holds this holder's value: after the lease ran out
// someone else may hold it.
var release = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`)

type server struct {
	rdb        *redis.Client
	instance   string
	storeURL   string
	httpClient *http.Client
}

// errFenced means the store refused a write: someone with a newer token took over.
var errFenced = errors.New("the store refused the fencing token")

func main() {
	opts, err := redis.ParseURL(getenv("REDIS_URL", "redis://redis:6379/0"))
	if err != nil {
		log.Fatalf("REDIS_URL: %v", err)
	}
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = redisTimeout, redisTimeout, redisTimeout
	s := &server{
		rdb:        redis.NewClient(opts),
		instance:   getenv("INSTANCE_ID", "app"),
		storeURL:   getenv("DOWNSTREAM_URL", "http://downstream:8070") + "/fenced/report",
		httpClient: &http.Client{Timeout: storeTimeout},
	}
	defer s.rdb.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("POST /api/report/run", s.run)

	srv := &http.Server{Addr: ":" + getenv("PORT", "3000"), Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	log.Printf("%s listening on %s", s.instance, srv.Addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

// run handles POST /api/report/run.
func (s *server) run(w http.ResponseWriter, r *http.Request) {
	// The job finishes even if the caller hangs up: stopping half-way helps nobody.
	ctx := context.WithoutCancel(r.Context())
	owner := s.instance + ":" + randomHex(8)

	actx, cancel := context.WithTimeout(ctx, redisTimeout)
	token, err := acquire.Run(actx, s.rdb, []string{lockKey, tokenKey}, owner, lease.Milliseconds()).Int64()
	cancel()
	if err != nil {
		log.Printf("acquire lock: %v", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"ran": false, "error": "lock service unavailable"})
		return
	}
	if token == 0 {
		writeJSON(w, http.StatusConflict, map[string]any{"ran": false})
		return
	}

	err = s.writeSteps(ctx, token)

	rctx, cancel := context.WithTimeout(ctx, redisTimeout)
	if rerr := release.Run(rctx, s.rdb, []string{lockKey}, owner).Err(); rerr != nil {
		log.Printf("release lock (token %d): %v", token, rerr) // it expires by itself
	}
	cancel()

	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, map[string]any{"ran": true, "token": token})
	case errors.Is(err, errFenced):
		log.Printf("token %d: fenced out, stopped", token)
		writeJSON(w, http.StatusConflict, map[string]any{"ran": false, "token": token})
	default:
		log.Printf("token %d: %v", token, err)
		writeJSON(w, http.StatusBadGateway, map[string]any{"ran": false, "token": token, "error": "the store failed"})
	}
}

// writeSteps writes the report's steps under token, and stops at the first refusal.
func (s *server) writeSteps(ctx context.Context, token int64) error {
	for step := 1; step <= steps; step++ {
		if step > 1 {
			time.Sleep(stepPause)
		}
		if err := s.write(ctx, token, step); err != nil {
			return fmt.Errorf("step %d: %w", step, err)
		}
	}
	return nil
}

func (s *server) write(ctx context.Context, token int64, step int) error {
	body, _ := json.Marshal(map[string]int{"step": step})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.storeURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Fencing-Token", strconv.FormatInt(token, 10))
	req.Header.Set("X-Instance-Id", s.instance)
	resp, err := s.httpClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch resp.StatusCode {
	case http.StatusOK:
		return nil
	case http.StatusConflict:
		return errFenced
	}
	return fmt.Errorf("store answered %s", resp.Status)
}

func randomHex(n int) string {
	b := make([]byte, n)
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
