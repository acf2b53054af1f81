// Command payments is the starting point of the idempotent-payments challenge: it serves
// GET /healthz and answers 501 on the payment routes. README.md has the contract.
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
	db          *pgxpool.Pool
	providerURL string
}

func main() {
	// pgxpool.New does not connect yet: the first query does.
	pool, err := pgxpool.New(context.Background(), os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatalf("DATABASE_URL: %v", err)
	}
	defer pool.Close()

	s := &server{db: pool, providerURL: getenv("PROVIDER_URL", "http://provider:8080")}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("POST /api/payments", s.createPayment)
	mux.HandleFunc("GET /api/payments/{id}", s.getPayment)

	addr := ":" + getenv("PORT", "3000")
	log.Printf("listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, mux))
}

// createPayment handles POST /api/payments.
func (s *server) createPayment(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusNotImplemented, map[string]string{"error": "not implemented"})
}

// getPayment handles GET /api/payments/{id}.
func (s *server) getPayment(w http.ResponseWriter, r *http.Request) {
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
