// Command flashsale is the starting point of the flash-sale challenge: it serves GET /healthz
// and answers 501 on the routes to implement. README.md has the contract.
package main

import (
	"context"
	"encoding/json"
	"log"
	"net/http"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"
)

type server struct {
	db *pgxpool.Pool
}

func main() {
	// pgxpool.New does not connect yet: the first query does. Two replicas run this
	// program against the same database.
	pool, err := pgxpool.New(context.Background(), os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatalf("DATABASE_URL: %v", err)
	}
	defer pool.Close()

	s := &server{db: pool}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("PUT /api/items/{sku}", s.putItem)
	mux.HandleFunc("GET /api/items/{sku}", s.getItem)
	mux.HandleFunc("POST /api/orders", s.createOrder)
	mux.HandleFunc("GET /api/orders/{id}", s.getOrder)

	addr := ":" + getenv("PORT", "3000")
	log.Printf("listening on %s (%s)", addr, getenv("INSTANCE_ID", "app-1"))
	log.Fatal(http.ListenAndServe(addr, mux))
}

// putItem handles PUT /api/items/{sku}: start a sale of r.PathValue("sku").
func (s *server) putItem(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusNotImplemented, map[string]string{"error": "not implemented"})
}

// getItem handles GET /api/items/{sku}: the stock left.
func (s *server) getItem(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusNotImplemented, map[string]string{"error": "not implemented"})
}

// createOrder handles POST /api/orders.
func (s *server) createOrder(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusNotImplemented, map[string]string{"error": "not implemented"})
}

// getOrder handles GET /api/orders/{id}.
func (s *server) getOrder(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusNotImplemented, map[string]string{"error": "not implemented"})
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
