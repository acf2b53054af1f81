// Command flashsale is a BROKEN variant of the flash-sale reference.
//
// The mistake: optimistic locking without a retry. The order reads the stock and its version,
// and takes the units only if the version is unchanged (UPDATE … WHERE version = $read); when
// the version check fails it answers sold_out. Never oversells, but a buyer who merely lost a
// race to another buyer is told the item is sold out while units remain (false sold-out).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

const (
	dbTimeout      = 5 * time.Second  // one request's database work
	startupTimeout = 30 * time.Second // how long to wait for the database at start-up
	maxStock       = 1_000_000
	maxQuantity    = 100
	maxOrderIDLen  = 128
	maxBodyBytes   = 64 << 10
	// poolSize lets a burst of buyers reach the database at once instead of queueing in
	// the process: the row lock is what serialises them, and it is held only briefly.
	poolSize = 16
)

// Both replicas run this at start-up at the same moment; the advisory lock keeps two
// CREATE TABLE IF NOT EXISTS from racing on the catalog.
const schema = `
SELECT pg_advisory_xact_lock(727274);
CREATE TABLE IF NOT EXISTS items (
	sku   text PRIMARY KEY,
	stock   integer NOT NULL CHECK (stock >= 0),
	version integer NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS orders (
	order_id   text PRIMARY KEY,
	sku        text NOT NULL,
	quantity   integer NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now()
);`

var skuPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

type server struct {
	db    *pgxpool.Pool
	ready atomic.Bool
}

type item struct {
	SKU   string `json:"sku"`
	Stock int64  `json:"stock"`
}

type order struct {
	OrderID  string `json:"order_id"`
	SKU      string `json:"sku"`
	Quantity int64  `json:"quantity"`
	Status   string `json:"status"`
}

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
	cfg.MaxConns = poolSize
	// The pool connects lazily and replaces broken connections, so the service recovers
	// by itself once the database is back.
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		log.Fatalf("create pool: %v", err)
	}
	defer pool.Close()

	s := &server{db: pool}
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
		err := func() error {
			ctx, cancel := context.WithTimeout(ctx, dbTimeout)
			defer cancel()
			return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
				_, err := tx.Exec(ctx, schema)
				return err
			})
		}()
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
	mux.HandleFunc("PUT /api/items/{sku}", s.whenReady(s.putItem))
	mux.HandleFunc("GET /api/items/{sku}", s.whenReady(s.getItem))
	mux.HandleFunc("POST /api/orders", s.whenReady(s.createOrder))
	mux.HandleFunc("GET /api/orders/{id}", s.whenReady(s.getOrder))
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

func (s *server) putItem(w http.ResponseWriter, r *http.Request) {
	sku := r.PathValue("sku")
	if !skuPattern.MatchString(sku) {
		writeError(w, http.StatusBadRequest, "sku must be 1 to 64 letters, digits, '-' or '_'")
		return
	}
	fields, err := decodeObject(w, r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	stock, ok := intField(fields, "stock", 0, maxStock)
	if !ok {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("stock must be an integer from 0 to %d", maxStock))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), dbTimeout)
	defer cancel()
	var inserted bool
	err = s.db.QueryRow(ctx, `
		INSERT INTO items (sku, stock) VALUES ($1, $2)
		ON CONFLICT (sku) DO UPDATE SET stock = excluded.stock
		RETURNING xmax = 0`, sku, stock).Scan(&inserted)
	if err != nil {
		dbError(w, "put item", err)
		return
	}
	code := http.StatusOK
	if inserted {
		code = http.StatusCreated
	}
	writeJSON(w, code, item{SKU: sku, Stock: stock})
}

func (s *server) getItem(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), dbTimeout)
	defer cancel()
	it := item{SKU: r.PathValue("sku")}
	err := s.db.QueryRow(ctx, `SELECT stock FROM items WHERE sku = $1`, it.SKU).Scan(&it.Stock)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		writeError(w, http.StatusNotFound, "unknown_sku")
	case err != nil:
		dbError(w, "get item", err)
	default:
		writeJSON(w, http.StatusOK, it)
	}
}

// errSoldOut and errUnknownSKU end an order's transaction without taking anything.
var (
	errSoldOut    = errors.New("sold_out")
	errUnknownSKU = errors.New("unknown_sku")
)

func (s *server) createOrder(w http.ResponseWriter, r *http.Request) {
	fields, err := decodeObject(w, r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var o order
	okID := stringField(fields, "order_id", &o.OrderID) && o.OrderID != "" && len(o.OrderID) <= maxOrderIDLen
	okSKU := stringField(fields, "sku", &o.SKU) && o.SKU != ""
	qty, okQty := intField(fields, "quantity", 1, maxQuantity)
	if !okID || !okSKU || !okQty {
		writeError(w, http.StatusBadRequest,
			fmt.Sprintf("want {\"order_id\": 1 to %d characters, \"sku\": a string, \"quantity\": an integer from 1 to %d}", maxOrderIDLen, maxQuantity))
		return
	}
	o.Quantity, o.Status = qty, "confirmed"

	// Finish the order even if the client hangs up: its answer may be lost, but a retry
	// then finds the order instead of a half-done one.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), dbTimeout)
	defer cancel()
	var existing *order
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO orders (order_id, sku, quantity) VALUES ($1, $2, $3)
			ON CONFLICT (order_id) DO NOTHING`, o.OrderID, o.SKU, o.Quantity)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			// A retry: the INSERT waited for the first attempt to commit or roll back, so
			// the order found here is final.
			var prev order
			err := tx.QueryRow(ctx, `SELECT order_id, sku, quantity FROM orders WHERE order_id = $1`, o.OrderID).
				Scan(&prev.OrderID, &prev.SKU, &prev.Quantity)
			if err != nil {
				return err
			}
			prev.Status = "confirmed"
			existing = &prev
			return nil
		}
		// Read the stock and its version; take the units only if nobody changed it since.
		var stock, version int64
		err = tx.QueryRow(ctx, `SELECT stock, version FROM items WHERE sku = $1`, o.SKU).Scan(&stock, &version)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return errUnknownSKU
		case err != nil:
			return err
		case stock < o.Quantity:
			return errSoldOut
		}
		tag, err = tx.Exec(ctx, `UPDATE items SET stock = stock - $2, version = version + 1
			WHERE sku = $1 AND version = $3 AND stock >= $2`, o.SKU, o.Quantity, version)
		if err == nil && tag.RowsAffected() == 0 {
			return errSoldOut // someone else took the units first
		}
		return err
	})
	switch {
	case errors.Is(err, errSoldOut):
		writeError(w, http.StatusConflict, "sold_out")
	case errors.Is(err, errUnknownSKU):
		writeError(w, http.StatusNotFound, "unknown_sku")
	case err != nil:
		dbError(w, "create order", err)
	case existing != nil && (existing.SKU != o.SKU || existing.Quantity != o.Quantity):
		writeError(w, http.StatusUnprocessableEntity, "order_id was already used for a different sku or quantity")
	case existing != nil:
		writeJSON(w, http.StatusOK, existing)
	default:
		writeJSON(w, http.StatusCreated, o)
	}
}

func (s *server) getOrder(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), dbTimeout)
	defer cancel()
	o := order{Status: "confirmed"}
	err := s.db.QueryRow(ctx, `SELECT order_id, sku, quantity FROM orders WHERE order_id = $1`, r.PathValue("id")).
		Scan(&o.OrderID, &o.SKU, &o.Quantity)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		writeError(w, http.StatusNotFound, "order not found")
	case err != nil:
		dbError(w, "get order", err)
	default:
		writeJSON(w, http.StatusOK, o)
	}
}

// decodeObject reads a body that must be one JSON object.
func decodeObject(w http.ResponseWriter, r *http.Request) (map[string]json.RawMessage, error) {
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err := dec.Decode(&fields); err != nil || fields == nil {
		return nil, errors.New("body must be a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("body must be a single JSON object")
	}
	return fields, nil
}

// intField accepts a JSON integer (no fraction, no string) within [lo, hi].
func intField(fields map[string]json.RawMessage, name string, lo, hi int64) (int64, bool) {
	n, err := strconv.ParseInt(string(fields[name]), 10, 64)
	return n, err == nil && n >= lo && n <= hi
}

func stringField(fields map[string]json.RawMessage, name string, dst *string) bool {
	raw, ok := fields[name]
	return ok && json.Unmarshal(raw, dst) == nil
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
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(body)
}
