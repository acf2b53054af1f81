// Command transfers: BROKEN VARIANT of the graceful-shutdown reference.
//
// The mistake: the signal context becomes the server's BaseContext, so that "everything stops
// on shutdown". But every request's context derives from it: SIGTERM cancels all the requests in
// flight at once. Their transactions fail mid-way and roll back, and they answer 500 — the drain
// waits for requests that were already told to give up. Requests in flight need a context that
// SIGTERM does not cancel (Shutdown itself never cancels them).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

const (
	drainLimit     = 5 * time.Second  // in-flight requests get this long after SIGTERM
	maxWorkMS      = 3000             // the contract's upper bound on work_ms
	maxAmount      = 1_000_000_000    // the contract's upper bound on amount
	dbTimeout      = 5 * time.Second  // database work of one request, on top of work_ms
	startupTimeout = 30 * time.Second // how long to wait for the database at start-up
	maxBodyBytes   = 64 << 10
)

// The contract fixes this schema: the grader reads both tables to check that every transfer is
// all or nothing.
const schema = `
CREATE TABLE IF NOT EXISTS transfers (
	id           text PRIMARY KEY,
	from_account text NOT NULL,
	to_account   text NOT NULL,
	amount       bigint NOT NULL CHECK (amount > 0),
	created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS ledger (
	id          bigserial PRIMARY KEY,
	transfer_id text NOT NULL REFERENCES transfers (id),
	account     text NOT NULL,
	amount      bigint NOT NULL
)`

var validName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

type server struct {
	db       *pgxpool.Pool
	started  atomic.Bool // the schema exists
	draining atomic.Bool // SIGTERM arrived
}

type transfer struct {
	ID     string `json:"id"`
	From   string `json:"from"`
	To     string `json:"to"`
	Amount int64  `json:"amount"`
}

var errDuplicate = errors.New("a transfer with this id exists")

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
	// Every transfer in flight holds a connection for its whole transaction, work included.
	cfg.MaxConns = 16
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		log.Fatalf("create pool: %v", err)
	}

	// As PID 1 in a container, SIGTERM is the only notice we get before SIGKILL.
	sig, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	s := &server{db: pool}
	srv := &http.Server{
		// Requests stop when the service stops.
		BaseContext:       func(net.Listener) context.Context { return sig },
		Addr:              ":" + getenv("PORT", "3000"),
		Handler:           s.routes(),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.ListenAndServe() }()

	if err := migrate(sig, pool); err != nil {
		log.Fatalf("migrate: %v", err)
	}
	s.started.Store(true)
	log.Printf("ready on %s", srv.Addr)

	select {
	case <-sig.Done():
	case err := <-serveErr:
		log.Fatalf("serve: %v", err)
	}

	// Readiness first, so nothing new is routed here; then drain. Shutdown returns once every
	// request in flight has been answered, or when the drain limit passes.
	s.draining.Store(true)
	log.Printf("SIGTERM: draining (limit %s)", drainLimit)
	ctx, cancel := context.WithTimeout(context.Background(), drainLimit)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		// Requests still running are abandoned; their transactions roll back when the process
		// exits. Closing the pool now would wait for them, so exit at once.
		log.Printf("drain limit reached: %v", err)
		os.Exit(1)
	}
	pool.Close()
	log.Print("drained, exiting")
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
		if time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		log.Printf("database not ready, retrying: %v", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	// Liveness: the process is up. It stays 200 while draining.
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if !s.started.Load() {
			writeError(w, http.StatusServiceUnavailable, "starting")
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	// Readiness: may new work be sent here? Not before start-up is done, not after SIGTERM.
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !s.started.Load() || s.draining.Load() {
			writeError(w, http.StatusServiceUnavailable, "not ready")
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.HandleFunc("POST /api/transfers", s.createTransfer)
	mux.HandleFunc("GET /api/transfers/{id}", s.getTransfer)
	return mux
}

func (s *server) createTransfer(w http.ResponseWriter, r *http.Request) {
	// Shutdown closes the listener, but a request can still arrive on a kept-alive connection.
	if s.draining.Load() || !s.started.Load() {
		w.Header().Set("Connection", "close")
		writeError(w, http.StatusServiceUnavailable, "shutting down")
		return
	}
	t, work, err := decodeTransfer(w, r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), work+dbTimeout)
	defer cancel()
	switch err := s.commitTransfer(ctx, t, work); {
	case errors.Is(err, errDuplicate):
		writeError(w, http.StatusConflict, err.Error())
	case err != nil:
		log.Printf("transfer %s: %v", t.ID, err)
		writeError(w, http.StatusInternalServerError, "transfer failed")
	default:
		writeJSON(w, http.StatusCreated, t)
	}
}

// commitTransfer writes the transfer and its two ledger lines in one transaction, with the slow
// work between the debit and the credit: either all of it is committed or none of it.
func (s *server) commitTransfer(ctx context.Context, t transfer, work time.Duration) error {
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // a no-op once committed

	_, err = tx.Exec(ctx, `INSERT INTO transfers (id, from_account, to_account, amount) VALUES ($1, $2, $3, $4)`,
		t.ID, t.From, t.To, t.Amount)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return errDuplicate
	}
	if err != nil {
		return fmt.Errorf("insert transfer: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO ledger (transfer_id, account, amount) VALUES ($1, $2, $3)`,
		t.ID, t.From, -t.Amount); err != nil {
		return fmt.Errorf("insert debit: %w", err)
	}
	select {
	case <-time.After(work):
	case <-ctx.Done():
		return ctx.Err()
	}
	if _, err := tx.Exec(ctx, `INSERT INTO ledger (transfer_id, account, amount) VALUES ($1, $2, $3)`,
		t.ID, t.To, t.Amount); err != nil {
		return fmt.Errorf("insert credit: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func (s *server) getTransfer(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), dbTimeout)
	defer cancel()
	var t transfer
	err := s.db.QueryRow(ctx, `SELECT id, from_account, to_account, amount FROM transfers WHERE id = $1`,
		r.PathValue("id")).Scan(&t.ID, &t.From, &t.To, &t.Amount)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		writeError(w, http.StatusNotFound, "transfer not found")
	case err != nil:
		log.Printf("get transfer: %v", err)
		writeError(w, http.StatusInternalServerError, "lookup failed")
	default:
		writeJSON(w, http.StatusOK, t)
	}
}

// decodeTransfer accepts {"id", "from", "to", "amount", "work_ms"} as the contract states.
func decodeTransfer(w http.ResponseWriter, r *http.Request) (transfer, time.Duration, error) {
	var raw struct {
		ID     *string         `json:"id"`
		From   *string         `json:"from"`
		To     *string         `json:"to"`
		Amount json.RawMessage `json:"amount"`
		WorkMS json.RawMessage `json:"work_ms"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err := dec.Decode(&raw); err != nil {
		return transfer{}, 0, errors.New("body must be a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return transfer{}, 0, errors.New("body must be a single JSON object")
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"id", raw.ID}, {"from", raw.From}, {"to", raw.To}} {
		if f.v == nil || !validName.MatchString(*f.v) {
			return transfer{}, 0, fmt.Errorf("%s must be 1 to 64 letters, digits, '-' or '_'", f.name)
		}
	}
	if *raw.From == *raw.To {
		return transfer{}, 0, errors.New("from and to must differ")
	}
	amount, err := strconv.ParseInt(string(raw.Amount), 10, 64)
	if err != nil || amount < 1 || amount > maxAmount {
		return transfer{}, 0, fmt.Errorf("amount must be an integer from 1 to %d", maxAmount)
	}
	var work int64
	if len(raw.WorkMS) > 0 && string(raw.WorkMS) != "null" {
		work, err = strconv.ParseInt(string(raw.WorkMS), 10, 64)
		if err != nil || work < 0 || work > maxWorkMS {
			return transfer{}, 0, fmt.Errorf("work_ms must be an integer from 0 to %d", maxWorkMS)
		}
	}
	return transfer{ID: *raw.ID, From: *raw.From, To: *raw.To, Amount: amount}, time.Duration(work) * time.Millisecond, nil
}

func getenv(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		code, body = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(body)
}
