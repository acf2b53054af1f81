// Command checkout: an actor-style checkout service.
//
// Eight "till" actors each own one dedicated Postgres connection (no pool). A checkout is a
// message in a small bounded mailbox; a till takes it, opens a transaction with a pipelined
// BEGIN+INSERT, charges the provider while the transaction stays open, then pipelines
// UPDATE…RETURNING+COMMIT. The HTTP handler only answers 201 after the till saw COMMIT.
// A full mailbox, or a message that aged past its deadline while waiting, is shed with 503.
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
	"math"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

const (
	tills       = 8                      // P3: one connection per till, never more
	mailboxSize = 256                    // bounded, with headroom to absorb bursts
	chargeLimit = 800 * time.Millisecond // one charge attempt
)

const schema = `CREATE TABLE IF NOT EXISTS orders (
	id         text PRIMARY KEY,
	status     text NOT NULL,
	sku        text NOT NULL,
	quantity   integer NOT NULL,
	amount     bigint NOT NULL,
	charge_id  text,
	created_at timestamptz NOT NULL DEFAULT now()
)`

// outcome is what a till sends back to the waiting handler.
type outcome struct {
	code int
	body any
}

// order is a mailbox message.
type order struct {
	ctx      context.Context
	enqueued time.Time
	id       string
	sku      string
	qty      int
	amount   int64
	reply    chan outcome // buffered(1): a till never blocks on a handler that left
}

type server struct {
	rdb         *redis.Client
	providerURL string
	httpc       *http.Client
	mailbox     chan *order
	ready       atomic.Int32 // tills connected
	budget      *retryBudget
}

func main() {
	dsn := os.Getenv("DATABASE_URL")
	opts, err := redis.ParseURL(getenv("REDIS_URL", "redis://redis:6379"))
	if err != nil {
		log.Fatalf("REDIS_URL: %v", err)
	}
	opts.PoolSize = 32
	s := &server{
		rdb:         redis.NewClient(opts),
		providerURL: getenv("PROVIDER_URL", "http://provider:8080"),
		httpc: &http.Client{Transport: &http.Transport{
			MaxIdleConns: 64, MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second,
		}},
		mailbox: make(chan *order, mailboxSize),
		budget:  newRetryBudget(0.1, 5),
	}

	// Schema first, on a till's future connection, then all tills connect eagerly (the
	// brief's first steps are only 1.5 s long: no connection may be opened under load).
	var schemaOnce sync.Once
	for i := 0; i < tills; i++ {
		go s.till(i, dsn, &schemaOnce)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if n := s.ready.Load(); n < tills {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": fmt.Sprintf("%d/%d connections ready", n, tills)})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("POST /checkout", s.checkout)

	srv := &http.Server{Addr: ":" + getenv("PORT", "3000"), Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Printf("listening on %s", srv.Addr)
	log.Fatal(srv.ListenAndServe())
}

// checkout validates, prices, and posts the order into the mailbox without ever blocking.
func (s *server) checkout(w http.ResponseWriter, r *http.Request) {
	var in struct {
		SKU      string          `json:"sku"`
		Quantity json.RawMessage `json:"quantity"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&in); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be JSON: {\"sku\":…, \"quantity\":…}"})
		return
	}
	qty, err := strconv.Atoi(string(in.Quantity))
	if in.SKU == "" || err != nil || qty < 1 || qty > 1_000_000 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "sku must be a string and quantity a positive integer"})
		return
	}

	// Fail fast before touching Redis when the tills are already saturated.
	if len(s.mailbox) == cap(s.mailbox) {
		shed(w)
		return
	}

	ctx, cancel := context.WithTimeout(r.Context(), 300*time.Millisecond)
	price, err := s.rdb.Get(ctx, "price:"+in.SKU).Int64()
	cancel()
	switch {
	case errors.Is(err, redis.Nil):
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown sku"})
		return
	case err != nil:
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "price unavailable"})
		return
	}
	if price < 0 || (price > 0 && int64(qty) > math.MaxInt64/price) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "amount out of range"})
		return
	}

	o := &order{
		ctx: r.Context(), enqueued: time.Now(), id: newOrderID(),
		sku: in.SKU, qty: qty, amount: price * int64(qty), reply: make(chan outcome, 1),
	}
	select {
	case s.mailbox <- o:
	default:
		shed(w)
		return
	}
	select {
	case res := <-o.reply:
		if res.code == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "1")
		}
		writeJSON(w, res.code, res.body)
	case <-r.Context().Done():
		// The client left; the till sees o.ctx cancelled and skips or finishes the order.
	}
}

func shed(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "1")
	writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "at capacity, retry later"})
}

// till is an actor: it owns one connection and serves the mailbox forever.
func (s *server) till(n int, dsn string, schemaOnce *sync.Once) {
	var conn *pgx.Conn
	counted := false
	for {
		if conn == nil || conn.IsClosed() {
			if conn != nil {
				conn.Close(context.Background())
			}
			c, err := connect(dsn)
			if err != nil {
				log.Printf("till %d: connect: %v", n, err)
				time.Sleep(250 * time.Millisecond)
				continue
			}
			var serr error
			schemaOnce.Do(func() { _, serr = c.Exec(context.Background(), schema) })
			if serr != nil {
				log.Fatalf("till %d: schema: %v", n, serr)
			}
			conn = c
			if !counted {
				counted = true
				s.ready.Add(1)
			}
		}
		o := <-s.mailbox
		o.reply <- s.serve(conn, o)
	}
}

func connect(dsn string) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	cfg.RuntimeParams["application_name"] = "checkout-till"
	return pgx.ConnectConfig(ctx, cfg)
}

// serve runs one checkout on the till's connection.
func (s *server) serve(conn *pgx.Conn, o *order) outcome {
	if o.ctx.Err() != nil {
		return outcome{499, map[string]string{"error": "client went away"}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()

	// Round trip 1: BEGIN and INSERT in one pipeline; the explicit BEGIN keeps the
	// transaction open after the Sync.
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(`INSERT INTO orders (id, status, sku, quantity, amount) VALUES ($1, 'pending', $2, $3, $4)`,
		o.id, o.sku, o.qty, o.amount)
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		abort(conn)
		log.Printf("order %s: insert: %v", o.id, err)
		return outcome{http.StatusServiceUnavailable, map[string]string{"error": "could not record the order"}}
	}

	chargeID, status, err := s.charge(o)
	if err != nil {
		// Keep the order, with what we know, so it can be reconciled; never 'paid'.
		b := &pgx.Batch{}
		b.Queue(`UPDATE orders SET status = $2 WHERE id = $1`, o.id, status)
		b.Queue("COMMIT")
		if cerr := conn.SendBatch(ctx, b).Close(); cerr != nil {
			abort(conn)
		}
		code := http.StatusBadGateway
		if status == "declined" {
			code = http.StatusPaymentRequired
		}
		return outcome{code, map[string]string{"error": err.Error()}}
	}

	// Round trip 2: the conditional UPDATE…RETURNING and COMMIT in one pipeline.
	b = &pgx.Batch{}
	b.Queue(`UPDATE orders SET status = 'paid', charge_id = $2 WHERE id = $1 AND status = 'pending' RETURNING amount`,
		o.id, chargeID)
	b.Queue("COMMIT")
	br := conn.SendBatch(ctx, b)
	var amount int64
	uerr := br.QueryRow().Scan(&amount)
	tag, cerr := br.Exec()
	if err := br.Close(); err != nil && uerr == nil && cerr == nil {
		cerr = err
	}
	if uerr != nil || cerr != nil || tag.String() != "COMMIT" {
		abort(conn)
		log.Printf("order %s: charged %s but commit failed: update=%v commit=%v tag=%q", o.id, chargeID, uerr, cerr, tag)
		return outcome{http.StatusInternalServerError, map[string]string{"error": "charged but could not record payment; order " + o.id}}
	}
	return outcome{http.StatusCreated, map[string]any{"order_id": o.id, "amount": amount, "status": "paid"}}
}

// abort leaves the connection outside any transaction, or closes it so the till reconnects.
func abort(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := conn.Exec(ctx, "ROLLBACK"); err != nil {
		conn.Close(ctx)
	}
}

// charge posts the charge; a 5xx or transport error is retried once, and only while the
// retry budget has a token (10 % of first attempts, burst 5).
func (s *server) charge(o *order) (chargeID, failStatus string, err error) {
	s.budget.deposit()
	for attempt := 0; ; attempt++ {
		id, retryable, err := s.chargeOnce(o)
		if err == nil {
			return id, "", nil
		}
		if !retryable {
			return "", "declined", err
		}
		if attempt >= 1 || !s.budget.withdraw() {
			return "", "charge_failed", err
		}
	}
}

func (s *server) chargeOnce(o *order) (id string, retryable bool, err error) {
	body, _ := json.Marshal(map[string]any{"amount": o.amount, "currency": "usd", "payment_id": o.id})
	ctx, cancel := context.WithTimeout(context.Background(), chargeLimit)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.providerURL+"/v1/charges", bytes.NewReader(body))
	if err != nil {
		return "", false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", o.id)
	resp, err := s.httpc.Do(req)
	if err != nil {
		return "", true, fmt.Errorf("payment provider unreachable")
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	switch {
	case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusCreated:
		var out struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(raw, &out) != nil || out.ID == "" {
			return "", true, fmt.Errorf("payment provider answered without a charge id")
		}
		return out.ID, false, nil
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return "", true, fmt.Errorf("payment provider failed (%d)", resp.StatusCode)
	default:
		return "", false, fmt.Errorf("payment declined (%d)", resp.StatusCode)
	}
}

// retryBudget: each first attempt deposits ratio tokens (capped at burst); a retry costs 1.
type retryBudget struct {
	mu           sync.Mutex
	tokens       float64
	ratio, burst float64
}

func newRetryBudget(ratio, burst float64) *retryBudget {
	return &retryBudget{tokens: burst, ratio: ratio, burst: burst}
}

func (b *retryBudget) deposit() {
	b.mu.Lock()
	b.tokens = math.Min(b.burst, b.tokens+b.ratio)
	b.mu.Unlock()
}

func (b *retryBudget) withdraw() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func newOrderID() string {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return "ord_" + hex.EncodeToString(b[:])
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
