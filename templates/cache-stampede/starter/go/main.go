// Command products is the starting point of the cache-stampede challenge: it serves
// GET /healthz and answers 501 on the product route. README.md has the contract.
package main

import (
	"encoding/json"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/redis/go-redis/v9"
)

type server struct {
	rdb       *redis.Client
	originURL string // GET originURL + "/products/{id}" is the slow origin
	client    *http.Client
}

func main() {
	// The client connects lazily: the first command does.
	opts, err := redis.ParseURL(getenv("REDIS_URL", "redis://redis:6379/0"))
	if err != nil {
		log.Fatalf("REDIS_URL: %v", err)
	}
	s := &server{
		rdb:       redis.NewClient(opts),
		originURL: getenv("DOWNSTREAM_URL", "http://downstream:8070"),
		client:    &http.Client{Timeout: 2 * time.Second},
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /api/products/{id}", s.getProduct)

	addr := ":" + getenv("PORT", "3000")
	log.Printf("listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, mux))
}

// getProduct handles GET /api/products/{id}: r.PathValue("id") is the product's id.
func (s *server) getProduct(w http.ResponseWriter, r *http.Request) {
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
