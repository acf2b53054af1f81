// Command report is a BROKEN variant of the distributed-lock reference solution.
//
// Mistake: the lock lives in process memory. A sync.Mutex keeps two runs apart inside one
// replica, but the other replica has a mutex of its own, so both replicas run the report at
// once. The tokens still come from Redis, so the store refuses the older run part-way: too late,
// both have written.
//
// Must fail: single_run, concurrent_triggers, paused_holder_is_fenced, release_only_by_owner,
// killed_holder_lease_expires. Must pass every other scenario.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	tokenKey     = "report:fencing-token"
	steps        = 5
	stepPause    = 250 * time.Millisecond
	storeTimeout = time.Second
	redisTimeout = time.Second
)

type server struct {
	mu         sync.Mutex // one run at a time
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
	if !s.mu.TryLock() {
		writeJSON(w, http.StatusConflict, map[string]any{"ran": false})
		return
	}
	defer s.mu.Unlock()

	actx, cancel := context.WithTimeout(ctx, redisTimeout)
	token, err := s.rdb.Incr(actx, tokenKey).Result()
	cancel()
	if err != nil {
		log.Printf("take token: %v", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"ran": false, "error": "token service unavailable"})
		return
	}

	err = s.writeSteps(ctx, token)

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
