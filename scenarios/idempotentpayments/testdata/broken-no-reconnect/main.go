// Command payments is a BROKEN variant of the idempotent-payments reference solution.
//
// Mistake: one pgx.Conn, opened at start-up (with retries) and guarded by a mutex, instead
// of a pool. Everything works until the database drops its connections: from then on
// every query fails with "conn closed", because nothing ever opens a new connection.
//
// Must fail: database_connection_recovery. Must pass every other scenario.
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
	"github.com/jackc/pgx/v5/pgconn"
)

const (
	providerTimeout = 2 * time.Second  // the contract: 504 when the provider is slower
	dbTimeout       = 5 * time.Second  // one database round trip
	startupTimeout  = 30 * time.Second // how long to wait for the database at start-up
	maxKeyLen       = 255
	maxBodyBytes    = 64 << 10
)

// status is in_flight (a request holds the key until locked_until), succeeded (the
// response is stored) or failed_retryable (the provider failed; the next request with
// the same key and body retries with the same payment id).
const schema = `
CREATE TABLE IF NOT EXISTS payments (
	idempotency_key text PRIMARY KEY,
	request_hash    text NOT NULL,
	id              text NOT NULL UNIQUE,
	status          text NOT NULL,
	attempt         int NOT NULL DEFAULT 1,
	response_code   int,
	response_body   bytea,
	locked_until    timestamptz,
	created_at      timestamptz NOT NULL DEFAULT now()
)`

type server struct {
	db          *lockedConn
	providerURL string
	client      *http.Client
	ready       atomic.Bool
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
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		log.Fatalf("parse DATABASE_URL: %v", err)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 3 * time.Second
	}
	// BUG: the only connection this process will ever open.
	conn, err := connect(context.Background(), cfg)
	if err != nil {
		log.Fatalf("connect: %v", err)
	}
	defer conn.Close(context.Background())

	s := &server{
		db:          &lockedConn{conn: conn},
		providerURL: strings.TrimRight(getenv("PROVIDER_URL", "http://provider:8080"), "/") + "/v1/charges",
		client:      &http.Client{},
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

// connect opens a connection, retrying while the database is not reachable yet.
func connect(ctx context.Context, cfg *pgx.ConnConfig) (*pgx.Conn, error) {
	deadline := time.Now().Add(startupTimeout)
	for {
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err == nil {
			return conn, nil
		}
		if time.Now().After(deadline) {
			return nil, err
		}
		log.Printf("database not ready, retrying: %v", err)
		time.Sleep(time.Second)
	}
}

// lockedConn lets concurrent requests share the connection: a pgx.Conn is not safe for
// concurrent use.
type lockedConn struct {
	mu   sync.Mutex
	conn *pgx.Conn
}

func (c *lockedConn) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn.Exec(ctx, sql, args...)
}

// QueryRow holds the lock until the row is scanned.
func (c *lockedConn) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	c.mu.Lock()
	return &lockedRow{row: c.conn.QueryRow(ctx, sql, args...), mu: &c.mu}
}

type lockedRow struct {
	row pgx.Row
	mu  *sync.Mutex
}

func (r *lockedRow) Scan(dest ...any) error {
	defer r.mu.Unlock()
	return r.row.Scan(dest...)
}

// migrate creates the schema, retrying while the database is not reachable yet.
func migrate(ctx context.Context, db *lockedConn) error {
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
// key whose holder's lease ran out (it crashed). It reports false if someone else holds
// the key, the key is done, or it was used with a different request.
func (s *server) claim(ctx context.Context, key, hash string) (claim, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	c := claim{key: key, hash: hash}
	err := s.db.QueryRow(ctx, `
		INSERT INTO payments (idempotency_key, request_hash, id, status, locked_until)
		VALUES ($1, $2, $3, 'in_flight', now() + interval '5 seconds')
		ON CONFLICT (idempotency_key) DO UPDATE
		   SET status = 'in_flight', locked_until = excluded.locked_until, attempt = payments.attempt + 1
		 WHERE payments.request_hash = excluded.request_hash
		   AND (payments.status = 'failed_retryable'
		        OR (payments.status = 'in_flight' AND payments.locked_until < now()))
		RETURNING id, attempt`,
		key, hash, newPaymentID()).Scan(&c.id, &c.attempt)
	if errors.Is(err, pgx.ErrNoRows) {
		return claim{}, false, nil
	}
	return c, err == nil, err
}

// answerExisting answers a request whose key could not be claimed.
func (s *server) answerExisting(ctx context.Context, w http.ResponseWriter, key, hash string) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	var storedHash, status string
	var code int
	var body []byte
	err := s.db.QueryRow(ctx, `
		SELECT request_hash, status, coalesce(response_code, 0), response_body
		  FROM payments WHERE idempotency_key = $1`, key).Scan(&storedHash, &status, &code, &body)
	switch {
	case err != nil:
		dbError(w, "lookup", err)
	case storedHash != hash:
		writeError(w, http.StatusUnprocessableEntity, "Idempotency-Key was already used with a different request")
	case status == "succeeded":
		w.Header().Set("Idempotent-Replayed", "true")
		writeRaw(w, code, body)
	default:
		writeError(w, http.StatusConflict, "a request with this Idempotency-Key is in progress")
	}
}

func (s *server) finish(ctx context.Context, c claim, code int, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	_, err := s.db.Exec(ctx, `
		UPDATE payments
		   SET status = 'succeeded', response_code = $2, response_body = $3, locked_until = NULL
		 WHERE idempotency_key = $1`, c.key, code, body)
	return err
}

// release gives the key back after a provider failure. The row keeps its payment id, so
// the retry sends the provider the same Idempotency-Key.
func (s *server) release(ctx context.Context, c claim) error {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	_, err := s.db.Exec(ctx, `
		UPDATE payments SET status = 'failed_retryable', locked_until = NULL
		 WHERE idempotency_key = $1 AND status = 'in_flight' AND attempt = $2`, c.key, c.attempt)
	return err
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
