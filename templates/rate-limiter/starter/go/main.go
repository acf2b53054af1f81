// Command ratelimiter is the starting point of the rate-limiter challenge: it serves
// GET /healthz and answers 501 on GET /api/resource. README.md has the contract.
package main

import (
	"encoding/json"
	"log"
	"net/http"
	"os"

	"github.com/redis/go-redis/v9"
)

type server struct {
	rdb        *redis.Client
	downstream string
}

func main() {
	opts, err := redis.ParseURL(getenv("REDIS_URL", "redis://redis:6379/0"))
	if err != nil {
		log.Fatalf("REDIS_URL: %v", err)
	}
	// The client connects lazily: the first command does. Look at its timeout and retry
	// options before you rely on them.
	rdb := redis.NewClient(opts)
	defer rdb.Close()

	s := &server{rdb: rdb, downstream: getenv("DOWNSTREAM_URL", "http://downstream:8070")}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /api/resource", s.resource)

	addr := ":" + getenv("PORT", "3000")
	log.Printf("listening on %s (%s)", addr, getenv("INSTANCE_ID", "app"))
	log.Fatal(http.ListenAndServe(addr, mux))
}

// resource handles GET /api/resource: check the client's limit in Redis, then call
// GET $DOWNSTREAM_URL/work?client=<id> and answer 200, or answer 429.
func (s *server) resource(w http.ResponseWriter, r *http.Request) {
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
