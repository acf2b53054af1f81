// Command report is the starting point of the distributed-lock challenge: it serves
// GET /healthz and answers 501 on POST /api/report/run. README.md has the contract.
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
	rdb      *redis.Client
	instance string // INSTANCE_ID: app-1, app-2…
	storeURL string // where each step of the report is written
	client   *http.Client
}

func main() {
	opts, err := redis.ParseURL(getenv("REDIS_URL", "redis://redis:6379/0"))
	if err != nil {
		log.Fatalf("REDIS_URL: %v", err)
	}
	// The client connects lazily (the first command does) and reconnects by itself.
	rdb := redis.NewClient(opts)
	defer rdb.Close()

	s := &server{
		rdb:      rdb,
		instance: getenv("INSTANCE_ID", "app"),
		storeURL: getenv("DOWNSTREAM_URL", "http://downstream:8070") + "/fenced/report",
		client:   &http.Client{Timeout: time.Second},
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("POST /api/report/run", s.run)

	addr := ":" + getenv("PORT", "3000")
	log.Printf("%s listening on %s", s.instance, addr)
	log.Fatal(http.ListenAndServe(addr, mux))
}

// run handles POST /api/report/run: take the lock and a fencing token, write the report's
// steps to the store, release the lock.
func (s *server) run(w http.ResponseWriter, r *http.Request) {
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
