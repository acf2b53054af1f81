// Command checkout is a broken variant of the capacity-checkout challenge: it limits the
// provider calls in flight to 8 (a bulkhead that sheds with 503 after 300 ms), but its pool has
// no real cap (64 connections) and a checkout opens its transaction before it waits for the
// bulkhead. Its knee is the bulkhead's, as steady as the reference's; under overload, though,
// every waiting checkout holds a Postgres connection of its own: connection exhaustion.
//
// What follows is the reference's description, with the pool as the bulkhead.
// POST /checkout holds one of at most 8 Postgres connections for the whole order: it inserts
// the order, charges the provider and marks the order paid in one transaction, so an order is
// never left half-written. That makes the pool the resource that saturates first: 8
// connections ÷ the provider's 100 ms is about 80 checkouts/s (CAPACITY.yaml). A request waits
// at most 300 ms for a connection; past that it is answered 503 with Retry-After, so overload
// is shed at once instead of queued, and the service is back under its SLO as soon as the load
// drops. A provider failure is answered 502 without retrying: a retry is the caller's to make.
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
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
)

const (
	poolSize        = 64                     // "plenty": the brief's cap is 8
	bulkhead        = 8                      // provider calls in flight
	acquireWait     = 300 * time.Millisecond // how long a checkout queues for a connection
	providerTimeout = 1 * time.Second        // one charge request
	redisTimeout    = 500 * time.Millisecond
	dbTimeout       = 2 * time.Second
	startupTimeout  = 30 * time.Second
)

const schema = `
CREATE TABLE IF NOT EXISTS orders (
	id         text PRIMARY KEY,
	sku        text NOT NULL,
	quantity   int NOT NULL,
	amount     bigint NOT NULL,
	status     text NOT NULL,
	charge_id  text,
	created_at timestamptz NOT NULL DEFAULT now()
)`

type server struct {
	db          *pgxpool.Pool
	rdb         *redis.Client
	providerURL string
	client      *http.Client
	slots       chan struct{} // the bulkhead
}

func main() {
	cfg, err := pgxpool.ParseConfig(os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatalf("parse DATABASE_URL: %v", err)
	}
	cfg.MaxConns = poolSize
	cfg.MinConns = bulkhead
	cfg.ConnConfig.ConnectTimeout = 3 * time.Second
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		log.Fatalf("create pool: %v", err)
	}
	defer pool.Close()
	ropts, err := redis.ParseURL(os.Getenv("REDIS_URL"))
	if err != nil {
		log.Fatalf("parse REDIS_URL: %v", err)
	}
	s := &server{
		db:          pool,
		rdb:         redis.NewClient(ropts),
		providerURL: strings.TrimRight(os.Getenv("PROVIDER_URL"), "/") + "/v1/charges",
		client:      &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
		slots:       make(chan struct{}, bulkhead),
	}
	if err := migrate(context.Background(), pool); err != nil {
		log.Fatalf("migrate: %v", err)
	}
	srv := &http.Server{Addr: ":" + getenv("PORT", "3000"), Handler: s.routes(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
			log.Fatal(err)
		}
	}()
	log.Printf("ready on %s", srv.Addr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
}

func migrate(ctx context.Context, db *pgxpool.Pool) error {
	deadline := time.Now().Add(startupTimeout)
	for {
		actx, cancel := context.WithTimeout(ctx, dbTimeout)
		_, err := db.Exec(actx, schema)
		cancel()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("POST /checkout", s.checkout)
	return mux
}

type checkoutRequest struct {
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
}

func (s *server) checkout(w http.ResponseWriter, r *http.Request) {
	var req checkoutRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be JSON {sku, quantity}"})
		return
	}
	if req.SKU == "" || len(req.SKU) > 64 || req.Quantity < 1 || req.Quantity > 100 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "sku (1-64 characters) and quantity (1-100) are required"})
		return
	}
	price, err := s.price(r.Context(), req.SKU)
	switch {
	case errors.Is(err, redis.Nil):
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown sku"})
		return
	case err != nil:
		log.Printf("price of %s: %v", req.SKU, err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "prices unavailable"})
		return
	}
	// Queue for a connection briefly: past acquireWait the pool is saturated, and waiting
	// longer only builds a backlog that outlives the overload.
	actx, cancel := context.WithTimeout(r.Context(), acquireWait)
	conn, err := s.db.Acquire(actx)
	cancel()
	if err != nil {
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "overloaded: try again shortly"})
		return
	}
	defer conn.Release()
	ctx, cancel := context.WithTimeout(r.Context(), dbTimeout+providerTimeout)
	defer cancel()
	tx, err := conn.Begin(ctx)
	if err != nil {
		log.Printf("begin: %v", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "database unavailable"})
		return
	}
	defer tx.Rollback(context.Background())
	id := newID()
	amount := price * int64(req.Quantity)
	if _, err := tx.Exec(ctx, `INSERT INTO orders (id, sku, quantity, amount, status) VALUES ($1, $2, $3, $4, 'pending')`,
		id, req.SKU, req.Quantity, amount); err != nil {
		log.Printf("insert %s: %v", id, err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "database unavailable"})
		return
	}
	select {
	case s.slots <- struct{}{}:
	case <-time.After(acquireWait):
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "overloaded: try again shortly"})
		return
	}
	chargeID, err := s.charge(ctx, id, amount)
	<-s.slots
	if err != nil {
		log.Printf("charge %s: %v", id, err)
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": "payment provider failed"})
		return
	}
	if _, err := tx.Exec(ctx, `UPDATE orders SET status = 'paid', charge_id = $2 WHERE id = $1`, id, chargeID); err != nil {
		log.Printf("mark %s paid: %v", id, err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "database unavailable"})
		return
	}
	if err := tx.Commit(ctx); err != nil {
		log.Printf("commit %s: %v", id, err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "database unavailable"})
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"order_id": id, "amount": amount, "status": "paid"})
}

func (s *server) price(ctx context.Context, sku string) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	v, err := s.rdb.Get(ctx, "price:"+sku).Result()
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(v, 10, 64)
}

// charge asks the provider once, with the order id as its idempotency key.
func (s *server) charge(ctx context.Context, orderID string, amount int64) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, providerTimeout)
	defer cancel()
	body, _ := json.Marshal(map[string]any{"amount": amount, "currency": "usd", "payment_id": orderID})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.providerURL, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", orderID)
	resp, err := s.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return "", fmt.Errorf("provider answered %d", resp.StatusCode)
	}
	var c struct {
		ID string `json:"id"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&c); err != nil {
		return "", fmt.Errorf("provider answer: %w", err)
	}
	return c.ID, nil
}

func newID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "ord_" + hex.EncodeToString(b)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func getenv(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
