// Command checkout is the starting point of the capacity-checkout challenge: it serves
// GET /healthz and answers 501 on POST /checkout. README.md has the contract, and what to
// write in CAPACITY.yaml once the service works.
package main

import (
	"context"
	"encoding/json"
	"log"
	"net/http"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
)

type server struct {
	db          *pgxpool.Pool
	rdb         *redis.Client
	providerURL string
}

func main() {
	// pgxpool.New does not connect yet: the first query does. Mind the brief's cap on
	// connections (pool_max_conns in the URL, or Config.MaxConns).
	pool, err := pgxpool.New(context.Background(), os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatalf("DATABASE_URL: %v", err)
	}
	defer pool.Close()
	opts, err := redis.ParseURL(os.Getenv("REDIS_URL"))
	if err != nil {
		log.Fatalf("REDIS_URL: %v", err)
	}
	s := &server{db: pool, rdb: redis.NewClient(opts), providerURL: getenv("PROVIDER_URL", "http://provider:8080")}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("POST /checkout", s.checkout)

	addr := ":" + getenv("PORT", "3000")
	log.Printf("listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, mux))
}

// checkout handles POST /checkout.
func (s *server) checkout(w http.ResponseWriter, r *http.Request) {
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
