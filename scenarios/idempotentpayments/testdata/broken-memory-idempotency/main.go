// Command payments is a BROKEN variant of the idempotent-payments reference solution.
//
// Mistake: payments are stored in Postgres, but the Idempotency-Key -> response map lives
// in process memory (mutex-protected; claims, 409, 422, replays and retries after 502/504
// all behave while the process lives). After a restart the map is empty: a replay of an
// old key is taken for a new payment, gets a new payment id, and is charged again.
//
// Must fail: restart_persistence. Must pass every other scenario.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
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
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

const (
	providerTimeout = 2 * time.Second  // the contract: 504 when the provider is slower
	dbTimeout       = 5 * time.Second  // one database round trip
	startupTimeout  = 30 * time.Second // how long to wait for the database at start-up
	maxKeyLen       = 255
	maxBodyBytes    = 64 << 10
)

const schema = `
CREATE TABLE IF NOT EXISTS payments (
	id            text PRIMARY KEY,
	status        text NOT NULL,
	response_body bytea NOT NULL,
	created_at    timestamptz NOT NULL DEFAULT now()
)`

type server struct {
	db          *pgxpool.Pool
	providerURL string
	client      *http.Client
	ready       atomic.Bool

	mu   sync.Mutex
	keys map[string]*entry // BUG: forgotten on restart
}

// entry is what the process knows about one Idempotency-Key. status is in_flight (a
// request holds the key until lockedUntil), succeeded or failed_retryable.
type entry struct {
	hash, id, status string
	attempt          int
	code             int
	body             []byte
	lockedUntil      time.Time
}

type paymentRequest struct {
	Amount   int64
	Currency string
}

type payment struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

// claim is the right to charge for one Idempotency-Key, held by one request at a time.
type claim struct {
	key, hash, id string
	attempt       int
}

var errProviderTimeout = errors.New("payment provider timed out")

func main() {
	dbURL := os.Getenv("DATABASE_URL")
	if dbURL == "" {
		log.Fatal("DATABASE_URL is not set")
	}
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		log.Fatalf("parse DATABASE_URL: %v", err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 3 * time.Second
	}
	// The pool connects lazily and replaces broken connections, so the service recovers
	// by itself once the database is back.
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		log.Fatalf("create pool: %v", err)
	}
	defer pool.Close()

	s := &server{
		db:          pool,
		providerURL: strings.TrimRight(getenv("PROVIDER_URL", "http://provider:8080"), "/") + "/v1/charges",
		client:      &http.Client{},
		keys:        map[string]*entry{},
	}
	srv := &http.Server{
		Addr:              ":" + getenv("PORT", "3000"),
		Handler:           s.routes(),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() {
		if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
			log.Fatal(err)
		}
	}()

	if err := migrate(context.Background(), s.db); err != nil {
		log.Fatalf("migrate: %v", err)
	}
	s.ready.Store(true)
	log.Printf("ready on %s", srv.Addr)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Printf("shutdown: %v", err)
	}
}

// migrate creates the schema, retrying while the database is not reachable yet.
func migrate(ctx context.Context, db *pgxpool.Pool) error {
	deadline := time.Now().Add(startupTimeout)
	for {
		attemptCtx, cancel := context.WithTimeout(ctx, dbTimeout)
		_, err := db.Exec(attemptCtx, schema)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		log.Printf("database not ready, retrying: %v", err)
		time.Sleep(time.Second)
	}
}

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if !s.ready.Load() {
			writeError(w, http.StatusServiceUnavailable, "starting")
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("POST /api/payments", s.whenReady(s.createPayment))
	mux.HandleFunc("GET /api/payments/{id}", s.whenReady(s.getPayment))
	return mux
}

func (s *server) whenReady(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.ready.Load() {
			writeError(w, http.StatusServiceUnavailable, "starting")
			return
		}
		h(w, r)
	}
}

func (s *server) createPayment(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Idempotency-Key")
	if key == "" || len(key) > maxKeyLen {
		writeError(w, http.StatusBadRequest, "Idempotency-Key header must be 1 to 255 characters")
		return
	}
	p, err := decodePaymentRequest(w, r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}

	// From here on, finish and record the outcome even if the client hangs up.
	ctx := context.WithoutCancel(r.Context())
	hash := requestHash(p)
	c, claimed, err := s.claim(ctx, key, hash)
	if err != nil {
		dbError(w, "claim", err)
		return
	}
	if !claimed {
		s.answerExisting(ctx, w, key, hash)
		return
	}

	if err := s.charge(ctx, c.id, p); err != nil {
		log.Printf("charge %s: %v", c.id, err)
		if err := s.release(ctx, c); err != nil {
			log.Printf("release %s: %v", c.id, err) // the claim's lease expires instead
		}
		if errors.Is(err, errProviderTimeout) {
			writeError(w, http.StatusGatewayTimeout, "payment provider timed out")
		} else {
			writeError(w, http.StatusBadGateway, "payment provider failed")
		}
		return
	}

	body, err := json.Marshal(payment{ID: c.id, Status: "succeeded", Amount: p.Amount, Currency: p.Currency})
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal error")
		return
	}
	if err := s.finish(ctx, c, http.StatusCreated, body); err != nil {
		// Charged but not recorded: the claim's lease expires, and a retry with the same
		// key gets the provider's replay of this charge and records it.
		dbError(w, "finish", err)
		return
	}
	writeRaw(w, http.StatusCreated, body)
}

// claim takes the key for this request: a new key, a key whose last attempt failed, or a
// key whose holder's lease ran out. It reports false if someone else holds the key, the
// key is done, or it was used with a different request.
func (s *server) claim(ctx context.Context, key, hash string) (claim, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.keys[key]
	switch {
	case !ok:
		e = &entry{hash: hash, id: newPaymentID()}
		s.keys[key] = e
	case e.hash == hash && (e.status == "failed_retryable" ||
		(e.status == "in_flight" && time.Now().After(e.lockedUntil))):
	default:
		return claim{}, false, nil
	}
	e.status, e.lockedUntil = "in_flight", time.Now().Add(5*time.Second)
	e.attempt++
	return claim{key: key, hash: hash, id: e.id, attempt: e.attempt}, true, nil
}

// answerExisting answers a request whose key could not be claimed.
func (s *server) answerExisting(ctx context.Context, w http.ResponseWriter, key, hash string) {
	s.mu.Lock()
	e := *s.keys[key]
	s.mu.Unlock()
	switch {
	case e.hash != hash:
		writeError(w, http.StatusUnprocessableEntity, "Idempotency-Key was already used with a different request")
	case e.status == "succeeded":
		w.Header().Set("Idempotent-Replayed", "true")
		writeRaw(w, e.code, e.body)
	default:
		writeError(w, http.StatusConflict, "a request with this Idempotency-Key is in progress")
	}
}

func (s *server) finish(ctx context.Context, c claim, code int, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	_, err := s.db.Exec(ctx, `
		INSERT INTO payments (id, status, response_body) VALUES ($1, 'succeeded', $2)
		ON CONFLICT (id) DO NOTHING`, c.id, body)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.keys[c.key]
	e.status, e.code, e.body = "succeeded", code, body
	return nil
}

// release gives the key back after a provider failure. The entry keeps its payment id, so
// the retry sends the provider the same Idempotency-Key.
func (s *server) release(ctx context.Context, c claim) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.keys[c.key]; e.status == "in_flight" && e.attempt == c.attempt {
		e.status = "failed_retryable"
	}
	return nil
}

// charge asks the provider to charge; errProviderTimeout if it does not answer in time.
func (s *server) charge(ctx context.Context, id string, p paymentRequest) error {
	ctx, cancel := context.WithTimeout(ctx, providerTimeout)
	defer cancel()
	payload, err := json.Marshal(map[string]any{"amount": p.Amount, "currency": p.Currency, "payment_id": id})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.providerURL, bytes.NewReader(payload))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	// The payment id stays the same across retries of one key, so the provider replays a
	// charge it already made instead of making a second one.
	req.Header.Set("Idempotency-Key", id)
	resp, err := s.client.Do(req)
	if err == nil {
		// Read the whole answer within the deadline: a provider can hang after the headers.
		_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
	}
	switch {
	case err != nil && ctx.Err() != nil:
		return fmt.Errorf("%w: %v", errProviderTimeout, err)
	case err != nil:
		return err
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return fmt.Errorf("provider answered %s", resp.Status)
	}
	return nil
}

func (s *server) getPayment(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), dbTimeout)
	defer cancel()
	var body []byte
	err := s.db.QueryRow(ctx, `SELECT response_body FROM payments WHERE id = $1 AND status = 'succeeded'`,
		r.PathValue("id")).Scan(&body)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		writeError(w, http.StatusNotFound, "payment not found")
	case err != nil:
		dbError(w, "get", err)
	default:
		writeRaw(w, http.StatusOK, body)
	}
}

// decodePaymentRequest accepts {"amount": <integer > 0>, "currency": "<3 lowercase letters>"}.
func decodePaymentRequest(w http.ResponseWriter, r *http.Request) (paymentRequest, error) {
	var raw struct {
		Amount   json.RawMessage `json:"amount"`
		Currency json.RawMessage `json:"currency"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err := dec.Decode(&raw); err != nil {
		return paymentRequest{}, errors.New("body must be a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return paymentRequest{}, errors.New("body must be a single JSON object")
	}
	amount, err := strconv.ParseInt(string(raw.Amount), 10, 64)
	if err != nil || amount <= 0 {
		return paymentRequest{}, errors.New("amount must be a positive integer")
	}
	var currency string
	if err := json.Unmarshal(raw.Currency, &currency); err != nil || !validCurrency(currency) {
		return paymentRequest{}, errors.New("currency must be 3 lowercase letters")
	}
	return paymentRequest{Amount: amount, Currency: currency}, nil
}

func validCurrency(c string) bool {
	if len(c) != 3 {
		return false
	}
	for i := 0; i < len(c); i++ {
		if c[i] < 'a' || c[i] > 'z' {
			return false
		}
	}
	return true
}

func requestHash(p paymentRequest) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%d:%s", p.Amount, p.Currency)))
	return hex.EncodeToString(sum[:])
}

func newPaymentID() string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return "pay_" + hex.EncodeToString(b)
}

func getenv(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func dbError(w http.ResponseWriter, op string, err error) {
	log.Printf("database %s: %v", op, err)
	writeError(w, http.StatusServiceUnavailable, "database unavailable, retry later")
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		code, body = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	writeRaw(w, code, body)
}

func writeRaw(w http.ResponseWriter, code int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(body)
}
